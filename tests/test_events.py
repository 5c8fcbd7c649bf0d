"""The normalized event model: frozen, validated, discriminated by type."""

from __future__ import annotations

import json

import pydantic
import pytest

from voiceadapters.events import (
    END_REASONS,
    SCHEMA_VERSION,
    AgentAudio,
    AgentReady,
    EventAdapter,
    Received,
    SessionEnded,
    ToolCall,
    UnknownMessage,
    UserTranscript,
    event_to_log,
    receiving,
)
from voiceadapters.format import AudioFormat

DESIGN_TYPES = {
    "session_started",
    "agent_ready",
    "session_ended",
    "user_speech_started",
    "user_speech_stopped",
    "user_transcript",
    "agent_text",
    "agent_audio",
    "agent_audio_done",
    "interruption",
    "tool_call",
    "emotion",
    "provider_error",
    "unknown_message",
}
#: Types the project added to the design's list, each documented in
#: docs/concepts/events.md: ``session_resumed`` (reconnect, docs/reliability.md),
#: ``usage`` (schema 1.2).
ADDED_TYPES = {"session_resumed", "usage"}
EVENT_TYPES = DESIGN_TYPES | ADDED_TYPES


def test_union_covers_exactly_the_design_event_types_and_the_documented_additions() -> None:
    schema = EventAdapter.json_schema()
    types = {
        d["properties"]["type"]["const"]
        for d in schema["$defs"].values()
        if "type" in d.get("properties", {})
    }
    assert types == EVENT_TYPES


def test_events_are_frozen() -> None:
    event = UserTranscript(text="hi", final=True)
    with pytest.raises(pydantic.ValidationError):
        event.text = "changed"  # type: ignore[misc]


def test_discriminated_union_builds_the_right_class() -> None:
    event = EventAdapter.validate_python({"type": "tool_call", "call_id": "c", "name": "n"})
    assert isinstance(event, ToolCall) and event.arguments == {}


def test_invalid_values_are_rejected_on_construction() -> None:
    with pytest.raises(pydantic.ValidationError):
        SessionEnded(reason="because")  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        UserTranscript(text="x", final=True, confidence=1.5)
    with pytest.raises(pydantic.ValidationError):
        UserTranscript(text="x", final=True, surprise=1)  # type: ignore[call-arg]


def test_end_reasons_are_the_documented_set() -> None:
    assert set(END_REASONS) == {
        "completed",
        "client_closed",
        "server_shutdown",
        "connection_lost",
        "auth_failed",
        "timeout",
        "error",
    }


def test_agent_audio_log_line_has_byte_count_and_duration_not_bytes() -> None:
    with receiving(Received(12.5, 1_700_000_000.25)):
        event = AgentAudio(pcm=b"\x01\x00" * 320, format=AudioFormat(16000), turn_id="t1")
    line = event_to_log(event)
    assert line == {
        "type": "agent_audio",
        "bytes": 640,
        "duration_ms": 20.0,
        "sample_rate": 16000,
        "channels": 1,
        "turn_id": "t1",
        "received": {"monotonic": 12.5, "wall": 1_700_000_000.25},
    }
    json.dumps(line)
    assert "pcm" not in line


def test_agent_audio_repr_is_short() -> None:
    event = AgentAudio(pcm=bytes(48000), format=AudioFormat(24000))
    assert "48000 bytes" in repr(event) and len(repr(event)) < 150


def test_a_huge_unknown_message_has_a_short_repr_and_keeps_all_of_raw() -> None:
    raw = {"type": "x", "blob": "y" * (1 << 20)}
    event = UnknownMessage(raw=raw)
    assert len(repr(event)) < 600 and len(str(event)) < 600
    assert repr(event).startswith("UnknownMessage(raw={'type': 'x', 'blob': 'yyy")
    assert repr(event).endswith(f"… ({len(repr(raw))} characters))")
    assert event.raw == raw  # the application still gets every byte
    assert repr(UnknownMessage(raw={"type": "y"})) == "UnknownMessage(raw={'type': 'y'})"


def test_http_error_message_prefers_the_json_error_field() -> None:
    from voiceadapters.handshake import HttpResponse

    assert HttpResponse(401, b'{"error": "bad key"}').error_message() == "bad key"
    assert HttpResponse(500, b'{"message": "down"}').error_message() == "down"
    assert HttpResponse(502, b"<html>gateway</html>").error_message() == "<html>gateway</html>"
    assert HttpResponse(500, b"").error_message() == "(empty body)"
    assert HttpResponse(500, b"x" * 500).error_message(limit=10) == "x" * 10 + "…"


def test_token_error_is_authentication_error_for_401_and_403() -> None:
    from voiceadapters.errors import AuthenticationError, TokenRequestError, token_error

    assert type(token_error("p", 401, "m")) is AuthenticationError
    assert type(token_error("p", 403, "m")) is AuthenticationError
    assert type(token_error("p", 404, "m")) is TokenRequestError


def test_printing_audio_events_and_commands_never_dumps_the_pcm() -> None:
    from voiceadapters.commands import SendAudio

    event = AgentAudio(pcm=b"\x7f" * 960, format=AudioFormat(24000))
    command = SendAudio(pcm=b"\x7f" * 960)
    for text in (str(event), repr(event), f"{event}", str(command), repr(command)):
        assert "\\x7f" not in text and "960 bytes" in text


def test_usage_counts_are_optional_non_negative_and_details_free_form() -> None:
    from voiceadapters.events import Usage

    usage = EventAdapter.validate_python(
        {"type": "usage", "turn_id": "r1", "input_tokens": 3, "details": {"cached": 1}}
    )
    assert isinstance(usage, Usage) and usage.output_tokens is None
    with pytest.raises(pydantic.ValidationError):
        Usage(input_tokens=-1)


# -- received: when an event was received (schema 1.2) -------------------------


def test_every_event_is_stamped_when_built_outside_a_driver_input() -> None:
    before = Received.now()
    event = UserTranscript(text="hi", final=True)
    after = Received.now()
    assert before.monotonic <= event.received.monotonic <= after.monotonic
    assert before.wall <= event.received.wall <= after.wall


def test_events_built_inside_an_input_take_its_stamp() -> None:
    stamp = Received(3.0, 1_700_000_003.0)
    with receiving(stamp):
        first, second = AgentReady(), UserTranscript(text="a", final=False)
    assert first.received is stamp and second.received is stamp
    assert AgentReady().received is not stamp  # restored after the block


def test_the_stamp_is_not_part_of_an_events_identity() -> None:
    with receiving(Received(1.0, 1.0)):
        a = UserTranscript(text="hi", final=True)
    with receiving(Received(2.0, 2.0)):
        b = UserTranscript(text="hi", final=True)
    assert a == b and hash(a) == hash(b)
    assert a != UserTranscript(text="other", final=True)
    assert "received" not in repr(a)


def test_the_json_form_carries_the_stamp_and_reads_it_back() -> None:
    with receiving(Received(4.25, 1_700_000_004.5)):
        event = SessionEnded(reason="completed")
    data = json.loads(event.model_dump_json())
    assert data["received"] == {"monotonic": 4.25, "wall": 1_700_000_004.5}
    again = EventAdapter.validate_json(event.model_dump_json())
    assert again.received == Received(4.25, 1_700_000_004.5)
    assert event_to_log(event)["received"] == {"monotonic": 4.25, "wall": 1_700_000_004.5}
    assert list(event_to_log(event))[-1] == "received"


def test_schema_version_is_1_2() -> None:
    assert SCHEMA_VERSION == "1.2"


# -- AgentAudio.new: the fast constructor -------------------------------------


def test_agent_audio_new_is_the_validated_event_in_every_observable_way() -> None:
    import pickle

    fmt = AudioFormat(24000)
    stamp = Received(5.0, 1700000000.0)
    with receiving(stamp):
        fast = AgentAudio.new(b"\x01\x00" * 480, fmt, "t1")
        slow = AgentAudio(pcm=b"\x01\x00" * 480, format=fmt, turn_id="t1")
    assert type(fast) is AgentAudio
    assert fast == slow and hash(fast) == hash(slow)
    assert fast.received == slow.received == stamp
    assert fast.model_dump() == slow.model_dump()
    assert fast.model_dump_json() == slow.model_dump_json()
    assert fast.model_fields_set == slow.model_fields_set
    assert repr(fast) == repr(slow)
    assert pickle.loads(pickle.dumps(fast)) == fast
    assert fast.model_copy(update={"turn_id": "t2"}).turn_id == "t2"
    assert EventAdapter.validate_json(fast.model_dump_json()) == fast
    with pytest.raises(pydantic.ValidationError):
        fast.pcm = b""  # type: ignore[misc]  # frozen, like every event
    assert AgentAudio.new(b"\x00\x00", fmt).turn_id is None


def test_agent_audio_new_validates_what_is_not_already_the_field_type() -> None:
    fmt = AudioFormat(16000)
    converted = AgentAudio.new(bytearray(b"\x01\x00"), fmt)  # type: ignore[arg-type]
    assert type(converted.pcm) is bytes and converted.pcm == b"\x01\x00"
    with pytest.raises(pydantic.ValidationError):
        AgentAudio.new(12345, fmt)  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        AgentAudio.new(b"\x00\x00", {"sample_rate": -1})  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError):
        AgentAudio.new(b"\x00\x00", fmt, 7)  # type: ignore[arg-type]


def test_agent_audio_new_on_a_subclass_builds_the_subclass_validated() -> None:
    class Tagged(AgentAudio):
        tag: str = "x"

    event = Tagged.new(b"\x00\x00", AudioFormat(16000))
    assert type(event) is Tagged and event.tag == "x"
