"""The OpenAI Realtime front as a pure state machine: no socket, no loop, no
clock. Every event it emits is judged by the openai SDK's GA models."""

from __future__ import annotations

import base64
import json
from typing import Any

from voiceadapters.capabilities import Capabilities
from voiceadapters.commands import EndTurn, Interrupt, ReportPlayed, SendAudio, SendToolResult
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentText,
    Interruption,
    ProviderError,
    SessionEnded,
    ToolCall,
    Usage,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)
from voiceadapters.format import AudioFormat
from voiceadapters.frames import CloseFrame
from voiceadapters_bridge.front import FrontFacts, OpenSession, SetTimer
from voiceadapters_bridge.realtime import (
    OPEN_AFTER_UPDATE,
    QUIET_GAP,
    USAGE_WAIT,
    OpenAIRealtimeFront,
)

from .conftest import judge

PCM24 = AudioFormat(24000)
FULL = {
    "user_transcripts": True,
    "agent_text": True,
    "speech_events": True,
    "interruption_events": True,
    "agent_audio_done": True,
    "tool_calls": True,
}


def front(options: frozenset[str] = frozenset(), **caps: bool) -> OpenAIRealtimeFront:
    f = OpenAIRealtimeFront(
        FrontFacts(
            provider="test",
            capabilities=Capabilities(**caps),
            query={"model": "gpt-realtime"},
            options=options,
        )
    )
    f.connection_opened()
    return f


def out(f: OpenAIRealtimeFront) -> list[dict[str, Any]]:
    events = []
    for frame in f.frames_to_send():
        if isinstance(frame, CloseFrame):
            continue
        assert isinstance(frame, str)
        data = json.loads(frame)
        judge(data)
        events.append(data)
    return events


def kinds(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]


def send(f: OpenAIRealtimeFront, **event: Any) -> None:
    f.receive_frame(json.dumps(event))


def audio(turn: str | None, ms: int = 20) -> AgentAudio:
    return AgentAudio(pcm=bytes(PCM24.bytes_for(ms / 1000)), format=PCM24, turn_id=turn)


def test_session_created_then_the_session_opens_at_once_without_client_options() -> None:
    f = front(**FULL)
    (created,) = out(f)
    assert created["type"] == "session.created"
    assert created["session"]["model"] == "gpt-realtime"
    assert f.actions() == [OpenSession(options={})]


def test_the_first_session_update_shapes_the_session_when_clients_may_choose() -> None:
    f = front(options=frozenset({"prompt", "voice"}), **FULL)
    out(f)
    assert f.actions() == []  # waits for session.update
    send(
        f,
        type="session.update",
        session={
            "type": "realtime",
            "instructions": "Be brief.",
            "audio": {"output": {"voice": "marin", "format": {"type": "audio/pcmu"}}},
        },
    )
    (updated,) = out(f)
    assert updated["session"]["instructions"] == "Be brief."
    assert updated["session"]["audio"]["output"] == {
        "format": {"type": "audio/pcmu"},
        "voice": "marin",
        "speed": 1.0,
    }
    # More updates may follow: the session opens after a short quiet...
    assert f.actions() == [SetTimer(OPEN_AFTER_UPDATE)]
    send(f, type="session.update", session={"audio": {"output": {"voice": "cedar"}}})
    out(f)
    assert f.actions() == [SetTimer(OPEN_AFTER_UPDATE)], "a later update restarts the wait"
    f.timer_fired()
    assert f.actions() == [OpenSession(options={"prompt": "Be brief.", "voice": "cedar"})]
    # Output μ-law, input still 24 kHz PCM: the session stays at 24 kHz.
    assert f.audio_format == PCM24


def test_the_first_event_that_is_not_an_update_opens_the_session_at_once() -> None:
    f = front(options=frozenset({"instructions"}), **FULL)
    out(f)
    send(f, type="session.update", session={"instructions": "Be brief."})
    out(f)
    assert f.actions() == [SetTimer(OPEN_AFTER_UPDATE)]
    send(f, type="input_audio_buffer.append", audio=base64.b64encode(b"\x00\x00" * 480).decode())
    actions = f.actions()
    assert actions[:2] == [SetTimer(None), OpenSession(options={"instructions": "Be brief."})]
    assert isinstance(actions[2], SendAudio)
    # Too late now: an error naming the field, and the session keeps its instructions.
    send(f, type="session.update", session={"instructions": "Be verbose."})
    errors = [e for e in out(f) if e["type"] == "error"]
    assert [e["error"]["param"] for e in errors] == ["session.instructions"]
    assert "before the provider session opens" in errors[0]["error"]["message"]


def test_g711_both_ways_opens_the_session_at_8_khz() -> None:
    f = front(options=frozenset({"voice"}), **FULL)
    out(f)
    fmt = {"type": "audio/pcma"}
    send(
        f,
        type="session.update",
        session={"audio": {"input": {"format": fmt}, "output": {"format": fmt}}},
    )
    out(f)
    send(f, type="input_audio_buffer.append", audio=base64.b64encode(b"\xd5" * 160).decode())
    assert f.audio_format == AudioFormat(8000)  # the session opened at the append
    (command,) = [a for a in f.actions() if isinstance(a, SendAudio)]
    assert len(command.pcm) == 320


def test_a_turn_is_the_ga_lifecycle_with_usage() -> None:
    f = front(**FULL)
    out(f)
    f.actions()
    send(f, type="input_audio_buffer.append", audio=base64.b64encode(bytes(4800)).decode())
    f.handle_event(UserSpeechStarted())
    f.handle_event(UserTranscript(text="hel", final=False))
    f.handle_event(UserTranscript(text="hello", final=False))
    f.handle_event(UserTranscript(text="hello there", final=True))
    f.handle_event(UserSpeechStopped())
    f.handle_event(AgentText(text="hi", delta="hi", final=False, turn_id="t1"))
    f.handle_event(audio("t1"))
    f.handle_event(AgentAudioDone(turn_id="t1"))
    assert SetTimer(USAGE_WAIT) in f.actions()
    f.handle_event(Usage(turn_id="t1", input_tokens=3, output_tokens=4, total_tokens=7))
    events = out(f)
    assert kinds(events) == [
        "input_audio_buffer.speech_started",
        "conversation.item.input_audio_transcription.delta",
        "conversation.item.input_audio_transcription.delta",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.output_item.added",
        "conversation.item.added",
        "response.content_part.added",
        "response.output_audio_transcript.delta",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "conversation.item.done",
        "response.done",
    ]
    assert [e["delta"] for e in events[1:3]] == ["hel", "lo"]
    assert events[2 + 4]["transcript"] == "hello there"
    assert events[0]["audio_start_ms"] == 100  # 100 ms of audio appended before
    done = events[-1]["response"]
    assert done["status"] == "completed" and done["usage"] == {
        "total_tokens": 7,
        "input_tokens": 3,
        "output_tokens": 4,
    }
    assert done["output"][0]["content"] == [{"type": "output_audio", "transcript": "hi"}]


def test_without_usage_response_done_follows_after_a_moment() -> None:
    f = front(**FULL)
    out(f)
    f.handle_event(audio("t1"))
    f.handle_event(AgentAudioDone(turn_id="t1"))
    assert "response.done" not in kinds(out(f))
    f.timer_fired()
    assert kinds(out(f)) == ["response.done"]


def test_a_provider_without_audio_done_ends_responses_after_a_quiet_gap() -> None:
    f = front()  # binary-pcm-like: no capability at all
    out(f)
    f.actions()
    f.handle_event(audio(None))
    assert f.actions() == [SetTimer(QUIET_GAP)]
    f.handle_event(audio(None))
    f.timer_fired()
    events = out(f)
    assert kinds(events)[-1] == "response.done"
    assert len([e for e in events if e["type"] == "response.output_audio.delta"]) == 2
    # The next audio is a new response.
    f.handle_event(audio(None))
    assert kinds(out(f))[0] == "response.created"


def test_transcripts_without_speech_events_get_emulated_speech_events() -> None:
    f = front(user_transcripts=True, agent_audio_done=True)
    out(f)
    f.handle_event(UserTranscript(text="hello", final=True, turn_id="u1"))
    assert kinds(out(f)) == [
        "input_audio_buffer.speech_started",
        "input_audio_buffer.speech_stopped",
        "input_audio_buffer.committed",
        "conversation.item.added",
        "conversation.item.input_audio_transcription.completed",
    ]


def test_barge_in_cancels_the_response_and_drops_its_late_audio() -> None:
    f = front(**FULL)
    out(f)
    f.handle_event(audio("t1"))
    f.handle_event(Interruption(turn_id="t1"))
    f.handle_event(UserSpeechStarted())  # the provider's own, after: not repeated
    f.handle_event(audio("t1"))
    events = out(f)
    assert kinds(events).count("input_audio_buffer.speech_started") == 1
    done = next(e for e in events if e["type"] == "response.done")["response"]
    assert done["status"] == "cancelled" and done["status_details"]["reason"] == "turn_detected"
    assert kinds(events)[-1] == "response.done"  # nothing after it


def test_truncate_reports_the_played_position_where_the_provider_uses_it() -> None:
    f = OpenAIRealtimeFront(
        FrontFacts(provider="test", capabilities=Capabilities(**FULL), played_reports=True)
    )
    f.connection_opened()
    f.handle_event(audio("t1", ms=200))
    item = next(e for e in out(f) if e["type"] == "response.output_item.added")["item"]["id"]
    f.actions()
    send(f, type="conversation.item.truncate", item_id=item, content_index=0, audio_end_ms=150)
    assert f.actions() == [ReportPlayed(turn_id="t1", seconds=0.15)]
    assert kinds(out(f)) == ["conversation.item.truncated"]
    send(f, type="conversation.item.truncate", item_id=item, content_index=0, audio_end_ms=250)
    (error,) = out(f)
    assert error["error"]["param"] == "audio_end_ms"


def test_tool_calls_are_function_call_items_and_results_go_back() -> None:
    f = front(**FULL)
    out(f)
    f.actions()
    f.handle_event(ToolCall(call_id="c1", name="lookup", arguments={"q": 1}))
    events = out(f)
    done = next(e for e in events if e["type"] == "response.function_call_arguments.done")
    assert (done["call_id"], done["name"], json.loads(done["arguments"])) == (
        "c1",
        "lookup",
        {"q": 1},
    )
    assert events[-1]["response"]["output"][0]["type"] == "function_call"
    send(
        f,
        type="conversation.item.create",
        item={"type": "function_call_output", "call_id": "c1", "output": "42"},
    )
    send(f, type="response.create")
    assert f.actions() == [SendToolResult(call_id="c1", output="42")]
    assert kinds(out(f)) == ["conversation.item.added", "conversation.item.done"]


def test_manual_turns_commit_and_cancel_where_the_provider_takes_them() -> None:
    f = front(**FULL, manual_turns=True, client_interrupt=True)
    out(f)
    f.actions()
    send(f, type="session.update", session={"audio": {"input": {"turn_detection": None}}})
    assert out(f)[0]["session"]["audio"]["input"]["turn_detection"] is None
    send(f, type="input_audio_buffer.append", audio=base64.b64encode(bytes(9600)).decode())
    send(f, type="input_audio_buffer.commit")
    assert f.actions()[-1] == EndTurn()
    assert kinds(out(f)) == ["input_audio_buffer.committed", "conversation.item.added"]
    send(f, type="input_audio_buffer.commit")  # nothing new since: the GA error
    assert [e["error"]["code"] for e in out(f)] == ["input_audio_buffer_commit_empty"]
    f.handle_event(audio("t1"))
    send(f, type="response.cancel")
    assert f.actions()[-1] == Interrupt()
    done = next(e for e in out(f) if e["type"] == "response.done")["response"]
    assert done["status_details"]["reason"] == "client_cancelled"


def test_provider_errors_and_the_end() -> None:
    f = front(**FULL)
    out(f)
    f.handle_event(ProviderError(code="rate_limited", message="slow down"))
    f.handle_event(SessionEnded(reason="error", provider_reason="boom"))
    events = out(f)
    assert [e["error"]["code"] for e in events] == ["rate_limited", "boom", "session_closed"]
    assert events[0]["error"]["type"] == "server_error"
    assert f.closed
