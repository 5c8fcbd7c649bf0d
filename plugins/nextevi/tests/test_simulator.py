"""The NextEVI simulator as a server, sans I/O and without the codec: the
upgrade and its refusals, the superset dialect it speaks, and what it accepts
from clients of either dialect."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from voiceadapters.audio import is_wav, parse_wav_bytes
from voiceadapters.format import AudioFormat
from voiceadapters.handshake import CloseFrame, HttpResponse
from voiceadapters.simulator.base import SimRequest
from voiceadapters.testing import speech_sample
from voiceadapters_nextevi import (
    DEFAULT_CONFIG_ID,
    EMOTION_SCORES,
    NextEVIConnection,
    NextEVISimulator,
    messages,
)

KEY = "oak_simulator_key_1"
CID = "voice_1700000000000_abc123xyz"


def upgrade(
    simulator: NextEVISimulator,
    *,
    connection_id: str = CID,
    query: dict[str, str] | None = None,
    now: float = 0.0,
) -> NextEVIConnection | HttpResponse:
    params = {"api_key": KEY, "config_id": "cfg-1"} if query is None else query
    return simulator.open_websocket(SimRequest("GET", f"/ws/voice/{connection_id}", params), now)


def connect(simulator: NextEVISimulator, **kwargs: Any) -> NextEVIConnection:
    connection = upgrade(simulator, **kwargs)
    assert isinstance(connection, NextEVIConnection)
    connection.opened(0.0)
    return connection


def sent(connection: NextEVIConnection) -> list[Any]:
    """Drain what the connection sends: JSON messages decoded, close frames as they are."""
    return [json.loads(f) if isinstance(f, str) else f for f in connection.frames_to_send()]


def speech24() -> bytes:
    from voiceadapters.audio import StreamConverter

    pcm, fmt = speech_sample()
    conv = StreamConverter(fmt, AudioFormat(24000))
    return conv.convert(pcm) + conv.flush() + bytes(48000)


def run_echo(
    connection: NextEVIConnection, pcm: bytes, *, binary: bool = True, settle: float = 10.0
) -> list[Any]:
    """Stream ``pcm`` (in 20 ms frames, real-time stamps), then let ``settle``
    seconds pass in 50 ms timer steps; everything the connection sent."""
    out: list[Any] = []
    for at in range(0, len(pcm), 960):
        chunk = pcm[at : at + 960]
        frame: str | bytes = (
            chunk
            if binary
            else messages.encode(messages.audio_input(chunk, chunk_id=f"c{at}", message_id="m"))
        )
        connection.receive_frame(frame, at / 48000)
        out += sent(connection)
    for step in range(int(settle / 0.05)):
        connection.handle_timer(len(pcm) / 48000 + step * 0.05)
        out += sent(connection)
    return out


# -- upgrade and refusals ----------------------------------------------------------------


def test_the_connection_starts_with_connection_metadata_in_the_superset_dialect():
    connection = connect(NextEVISimulator(KEY), query={"api_key": KEY, "config_id": "cfg-1",
                                                       "project_id": "p-1"})  # fmt: skip
    (metadata,) = sent(connection)
    fields = {
        "connection_id": CID,
        "status": "connected",
        "config": {
            "audio_format": "pcm_24khz_16bit_mono",
            "encoding": "linear16",
            "sample_rate": 24000,
            "channels": 1,
        },
        "project_id": "p-1",
        "config_id": "cfg-1",
    }
    assert metadata == {
        "type": "connection_metadata",
        "timestamp": 1700000000.0,
        "message_id": "srv-1",
        **fields,
        "data": fields,
    }
    assert connection.project_id == "p-1"


@pytest.mark.parametrize("path", ["/ws/voice/", "/ws/voice/a/b", "/ws/other/x", "/ws/voice"])
def test_paths_other_than_one_connection_id_are_404(path):
    result = NextEVISimulator(KEY).open_websocket(SimRequest("GET", path, {"api_key": KEY}), 0)
    assert isinstance(result, HttpResponse) and result.status == 404


def test_plain_http_is_404_and_the_websocket_prefix_is_ws_voice():
    simulator = NextEVISimulator(KEY)
    assert simulator.handle_http(SimRequest("GET", "/"), 0).status == 404
    assert simulator.websocket_paths() == ("/ws/voice/",)


@pytest.mark.parametrize(
    ("query", "code", "close"),
    [
        ({"config_id": "cfg-1"}, "AUTHENTICATION_FAILED", 4001),
        ({"api_key": "oak_wrong", "config_id": "cfg-1"}, "AUTHENTICATION_FAILED", 4001),
        ({"api_key": KEY}, "CONFIG_NOT_FOUND", 4004),
        ({"api_key": KEY, "config_id": ""}, "CONFIG_NOT_FOUND", 4004),
    ],
)
def test_refusals_accept_then_send_an_error_in_every_shape_and_close(query, code, close):
    connection = connect(NextEVISimulator(KEY), query=query)
    error, closing = sent(connection)
    assert error["type"] == "error"
    assert error["error_code"] == error["data"]["code"] == error["data"]["error_code"] == code
    text = error["error_message"]
    assert text and error["error"] == text == error["data"]["message"]
    assert isinstance(closing, CloseFrame) and closing.code == close
    assert connection.closed and connection.close_code == close


def test_config_ids_limit_the_configurations_that_exist():
    simulator = NextEVISimulator(KEY, config_ids=["cfg-a", "cfg-b"])
    assert simulator.config_id == "cfg-a"
    error, closing = sent(connect(simulator, query={"api_key": KEY, "config_id": "cfg-c"}))
    assert error["error_code"] == "CONFIG_NOT_FOUND" and "cfg-c" in error["error_message"]
    assert closing.code == 4004
    (metadata,) = sent(connect(simulator, connection_id="voice_2_b",
                               query={"api_key": KEY, "config_id": "cfg-b"}))  # fmt: skip
    assert metadata["type"] == "connection_metadata"
    assert NextEVISimulator(KEY).config_id == DEFAULT_CONFIG_ID


def test_a_second_open_socket_on_the_same_connection_id_is_refused():
    simulator = NextEVISimulator(KEY)
    first = connect(simulator)
    error, closing = sent(connect(simulator))
    assert error["error_code"] == "CONNECTION_ID_IN_USE" and closing.code == 4009
    assert sent(connect(simulator, connection_id="voice_2_b"))[0]["type"] == "connection_metadata"
    first.receive_closed(1000, 1.0)
    assert sent(connect(simulator))[0]["type"] == "connection_metadata", "free again once closed"


def test_unknown_scenarios_and_final_text_conventions_are_refused():
    with pytest.raises(ValueError, match="idle_warning"):
        NextEVISimulator(KEY, scenario="tool_call")
    with pytest.raises(ValueError, match="final_text"):
        NextEVISimulator(KEY, final_text="both")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="API key"):
        NextEVISimulator("")


# -- the superset dialect -----------------------------------------------------------------


def test_every_server_message_is_flat_with_a_data_mirror_timestamp_and_message_id():
    connection = connect(NextEVISimulator(KEY, pace=0))
    out = [m for m in run_echo(connection, speech24()) if isinstance(m, dict)]
    kinds = {m["type"] for m in out}
    assert {"connection_metadata", "transcription", "emotion_update", "turn_complete",
            "llm_response_chunk", "tts_chunk"} <= kinds  # fmt: skip
    for message in out:
        assert isinstance(message["timestamp"], float)
        assert message["message_id"].startswith("srv-")
        fields = {
            k: v for k, v in message.items() if k not in ("type", "timestamp", "message_id", "data")
        }
        assert message["data"] == fields, message["type"]
    ids = [m["message_id"] for m in out]
    assert len(set(ids)) == len(ids)


def test_emotion_update_items_carry_every_key_any_client_reads():
    connection = connect(NextEVISimulator(KEY, pace=0))
    out = run_echo(connection, speech24())
    (update,) = [m for m in out if isinstance(m, dict) and m["type"] == "emotion_update"]
    items = update["top_emotions"]
    assert [i["name"] for i in items] == list(EMOTION_SCORES)
    for item in items:
        assert set(item) == {"name", "emotion", "score", "confidence", "percentage"}
        assert item["name"] == item["emotion"]
        assert item["score"] == item["confidence"] == EMOTION_SCORES[item["name"]]
        assert item["percentage"] == pytest.approx(item["score"] * 100)
    assert update["emotions"] == items, "the LiveKit plugin reads 'emotions'"
    (final,) = [m for m in out if m["type"] == "transcription" and m["is_final"]]
    assert final["emotions"] == items and final["metadata"] == {"event_type": "utterance_end"}


def test_wav_mode_sends_a_complete_wav_file_per_chunk():
    connection = connect(NextEVISimulator(KEY, pace=0, wav_chunks=True, wav_rate=16000))
    chunks = [m for m in run_echo(connection, speech24()) if m["type"] == "tts_chunk"]
    assert chunks and chunks[-1]["is_last"] and not any(c["is_last"] for c in chunks[:-1])
    for chunk in chunks:
        raw = base64.b64decode(chunk["content"])
        assert is_wav(raw)
        pcm, fmt = parse_wav_bytes(raw)
        assert fmt == AudioFormat(16000) and pcm
    assert NextEVISimulator(KEY, scenario="wav_chunks").wav_chunks


def test_the_final_text_chunk_carries_the_full_text_or_the_last_delta():
    def chunks(final_text: str) -> list[dict[str, Any]]:
        simulator = NextEVISimulator(KEY, pace=0, final_text=final_text)  # type: ignore[arg-type]
        out = run_echo(connect(simulator), speech24())
        return [m for m in out if m["type"] == "llm_response_chunk"]

    full, delta = chunks("full"), chunks("delta")
    assert [c["is_final"] for c in full] == [False, True]
    assert full[1]["content"] == full[0]["content"] + delta[1]["content"]
    assert {c["generation_id"] for c in full} == {"gen-1"}
    assert [c["chunk_index"] for c in full] == [0, 1]


# -- what the simulator accepts -------------------------------------------------------------


def test_binary_and_audio_input_audio_are_both_recorded_in_order():
    connection = connect(NextEVISimulator(KEY))
    first, second, third = b"\x01\x00" * 10, b"\x02\x00" * 10, b"\x03\x00\x04"
    connection.receive_frame(first, 0.0)
    connection.receive_frame(
        messages.encode(messages.audio_input(second, chunk_id="chunk-1", message_id="a-1")), 0.1
    )
    connection.receive_frame(
        json.dumps({"type": "audio_input", "audio": base64.b64encode(third).decode()}), 0.2
    )
    assert bytes(connection.received_audio) == first + second + third
    assert connection.chunk_ids == ["chunk-1", None]
    assert connection.binary_frame_sizes == [20]


def test_a_whole_file_in_one_message_is_accepted():
    connection = connect(NextEVISimulator(KEY, pace=0))
    pcm = speech24()
    connection.receive_frame(
        messages.encode(messages.audio_input(pcm, chunk_id="all", message_id="a")), 0.0
    )
    out = [m for m in sent(connection) if isinstance(m, dict)]
    assert any(m["type"] == "transcription" and m["is_final"] for m in out)


@pytest.mark.parametrize(
    "settings",
    [
        {"type": "session_settings", "sample_rate": 24000, "channels": 1, "encoding": "linear16"},
        {"type": "session_settings", "timestamp": 1.0, "message_id": "s-1", "data": {
            "emotion_detection": {"enabled": True}, "turn_detection": {"enabled": True},
            "audio": {"sample_rate": 24000, "channels": 1, "encoding": "linear16"}}},
        messages.session_settings(message_id="s-1"),
    ],
)  # fmt: skip
def test_session_settings_in_either_dialect_is_accepted(settings):
    connection = connect(NextEVISimulator(KEY))
    sent(connection)
    connection.receive_frame(json.dumps(settings), 0.0)
    assert connection.settings == [settings]
    assert connection.invalid == [] and sent(connection) == []


def test_settings_for_another_rate_are_noted_and_24_khz_assumed():
    connection = connect(NextEVISimulator(KEY))
    connection.receive_frame(json.dumps({"type": "session_settings", "sample_rate": 16000}), 0)
    assert len(connection.invalid) == 1 and "16000" in connection.invalid[0]
    assert not connection.closed


def test_emotion_detection_disabled_in_the_settings_turns_emotions_off():
    connection = connect(NextEVISimulator(KEY, pace=0))
    settings = messages.session_settings(message_id="s", emotion_detection=False)
    connection.receive_frame(messages.encode(settings), 0.0)
    out = run_echo(connection, speech24())
    assert not [m for m in out if m["type"] == "emotion_update"]
    assert not any("emotions" in m for m in out if m["type"] == "transcription")


def test_keep_alive_is_counted_and_not_answered():
    connection = connect(NextEVISimulator(KEY))
    sent(connection)
    connection.receive_frame(messages.encode(messages.keep_alive(message_id="k-1")), 30.0)
    assert connection.keep_alives == 1 and sent(connection) == []


def test_text_input_in_either_dialect_goes_to_the_agent():
    connection = connect(NextEVISimulator(KEY))
    sent(connection)
    connection.receive_frame(json.dumps({"type": "text_input", "text": "flat"}), 0)
    connection.receive_frame(json.dumps({"type": "text_input", "data": {"text": "nested"}}), 0)
    assert connection.texts == ["flat", "nested"]
    replies = [m["content"] for m in sent(connection) if m["type"] == "llm_response_chunk"]
    assert replies == ["You wrote: flat", "You wrote: nested"]


def test_interrupt_stops_a_speaking_agent_with_tts_interruption_and_is_quiet_otherwise():
    connection = connect(NextEVISimulator(KEY, pace=1.0))
    sent(connection)
    connection.receive_frame(messages.encode(messages.interrupt(message_id="i-1")), 0.0)
    assert sent(connection) == [] and connection.interrupts == 1
    pcm = speech24()
    out = run_echo(connection, pcm, settle=0.5)
    assert any(m["type"] == "tts_chunk" for m in out) and connection.agent.speaking
    connection.receive_frame(messages.encode(messages.interrupt(message_id="i-2")), 5.0)
    (interruption,) = sent(connection)
    assert interruption["type"] == "tts_interruption" and interruption["content"] == ""
    connection.handle_timer(60.0)
    assert sent(connection) == [], "no audio of the interrupted reply follows"


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1]",
        '{"type": "commit"}',
        '{"type": "text_input", "text": 5}',
        "[" * 200_000 + "]" * 200_000,  # a RecursionError before issue 11
    ],
)
def test_invalid_client_input_is_noted_and_ignored(frame):
    connection = connect(NextEVISimulator(KEY))
    sent(connection)
    connection.receive_frame(frame, 0.0)
    assert len(connection.invalid) == 1 and sent(connection) == [] and not connection.closed


def test_client_text_echoed_back_that_utf8_cannot_carry_is_replaced():
    """The connection id, config id and project id return in connection_metadata;
    a lone surrogate in them (found by the fuzz harness) made an unsendable frame."""
    connection = connect(
        NextEVISimulator(KEY),
        connection_id="voice_1\ud800",
        query={"api_key": KEY, "config_id": "cfg\udfff", "project_id": "p\ud800"},
    )
    (metadata,) = sent(connection)
    assert metadata["connection_id"] == "voice_1\ufffd"
    assert metadata["config_id"] == "cfg\ufffd" and metadata["project_id"] == "p\ufffd"


def test_an_api_key_utf8_cannot_carry_is_refused_not_an_exception():
    connection = connect(NextEVISimulator(KEY), query={"api_key": "\ud800", "config_id": "c"})
    error, close = sent(connection)
    assert error["error_code"] == "AUTHENTICATION_FAILED" and close.code == 4001
