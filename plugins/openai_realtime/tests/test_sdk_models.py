"""Every server event the simulator sends, and every client event the codec
sends, judged by the ``openai`` SDK's own GA models (no undeclared field)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from voiceadapters.commands import EndTurn, Interrupt, ReportPlayed, SendText, SendToolResult
from voiceadapters.events import AgentAudio, AgentAudioDone, SessionEnded, ToolCall
from voiceadapters.testing import CodecPair

CHUNK = 960  # 20 ms at 24 kHz


def _judge(kit: Any, pair: CodecPair) -> set[str]:
    kinds: set[str] = set()
    for frame in pair.server_frames:
        if isinstance(frame, str):
            kinds.add(kit.sdk_server_event(frame).type)
    for frame in pair.client_frames:
        if isinstance(frame, str):
            kit.sdk_client_event(frame)
    return kinds


def _turn(kit: Any, pair: CodecPair, pcm: bytes | None = None) -> None:
    pair.stream_audio(pcm or kit.make_speech(), CHUNK)
    pair.run_until(lambda ev: any(isinstance(e, AgentAudioDone) for e in ev), timeout=30)
    pair.advance(0.5)


LIFECYCLE = {
    "session.created",
    "session.updated",
    "input_audio_buffer.speech_started",
    "input_audio_buffer.speech_stopped",
    "input_audio_buffer.committed",
    "conversation.item.added",
    "conversation.item.done",
    "conversation.item.input_audio_transcription.delta",
    "conversation.item.input_audio_transcription.completed",
    "response.created",
    "response.output_item.added",
    "response.content_part.added",
    "response.output_audio_transcript.delta",
    "response.output_audio.delta",
    "response.output_audio.done",
    "response.output_audio_transcript.done",
    "response.content_part.done",
    "response.output_item.done",
    "response.done",
}


@pytest.mark.parametrize("scenario", ["echo", "errors", "slow", "bursty", "server_shutdown"])
def test_a_whole_turn_is_the_ga_lifecycle_and_every_event_parses(kit: Any, scenario: str) -> None:
    pair = kit.make_pair(scenario)
    _turn(kit, pair)
    kinds = _judge(kit, pair)
    assert kinds >= LIFECYCLE
    if scenario == "errors":
        assert "error" in kinds


@pytest.mark.parametrize("provider", ["azure-openai", "openai-compatible"])
def test_the_other_providers_speak_the_same_events(kit: Any, provider: str) -> None:
    pair = kit.make_pair(provider=provider)
    _turn(kit, pair)
    assert _judge(kit, pair) >= LIFECYCLE


def test_tool_round_trip_events_parse(kit: Any) -> None:
    pair = kit.make_pair("tool_call")
    pair.stream_audio(kit.make_speech(), CHUNK)
    pair.run_until(lambda ev: any(isinstance(e, ToolCall) for e in ev), timeout=30)
    call = next(e for e in pair.events if isinstance(e, ToolCall))
    assert call.name == "lookup_utterance" and "seconds" in call.arguments
    pair.send(SendToolResult.from_value(call.call_id, {"ok": True}))
    pair.run_until(lambda ev: any(isinstance(e, AgentAudioDone) for e in ev), timeout=30)
    kinds = _judge(kit, pair)
    assert {
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
    } <= kinds
    # Exactly one tool_call although both arguments.done and output_item.done name it.
    assert sum(isinstance(e, ToolCall) for e in pair.events) == 1


def test_barge_in_cancel_and_truncate_events_parse(kit: Any) -> None:
    pair = kit.make_pair("barge_in")
    pcm = kit.make_speech()
    pair.stream_audio(pcm, CHUNK)
    pair.run_until(lambda ev: any(isinstance(e, AgentAudio) for e in ev), timeout=30)
    pair.advance(0.5)
    pair.send(ReportPlayed(turn_id=None, seconds=0.3))
    pair.stream_audio(pcm, CHUNK)
    pair.advance(3)
    kinds = _judge(kit, pair)
    assert {"conversation.item.truncated", "response.done"} <= kinds
    dones = [
        json.loads(f) for f in pair.server_frames if isinstance(f, str) and "response.done" in f
    ]
    assert any(d["response"]["status"] == "cancelled" for d in dones)


def test_client_interrupt_text_and_manual_turns_parse(kit: Any) -> None:
    pair = kit.make_pair("echo", turn_detection="none", modalities="text")
    pair.send(SendText(text="hello there"))
    pair.advance(1)
    pair.stream_audio(kit.make_speech(), CHUNK)
    pair.send(EndTurn())
    pair.advance(3)
    pair.send(Interrupt())
    pair.send(EndTurn())  # an empty buffer: the GA error
    pair.advance(1)
    kinds = _judge(kit, pair)
    assert {"response.output_text.delta", "response.output_text.done", "error"} <= kinds


@pytest.mark.parametrize("audio_format", ["pcmu", "pcma"])
def test_g711_sessions_parse(kit: Any, audio_format: str) -> None:
    pair = kit.make_pair("echo", audio_format=audio_format)
    from voiceadapters.audio import StreamConverter
    from voiceadapters.format import AudioFormat

    conv = StreamConverter(AudioFormat(24000), AudioFormat(8000))
    pcm = conv.convert(kit.make_speech()) + conv.flush()
    _turn(kit, pair, pcm)
    assert _judge(kit, pair) >= LIFECYCLE
    updated = next(
        json.loads(f) for f in pair.server_frames if isinstance(f, str) and "session.updated" in f
    )
    assert updated["session"]["audio"]["output"]["format"] == {"type": f"audio/{audio_format}"}


def test_the_session_cap_is_the_ga_error_then_the_end(kit: Any) -> None:
    pair = kit.make_pair("session_cap")
    pair.run_until(lambda ev: any(isinstance(e, SessionEnded) for e in ev), timeout=10)
    kinds = _judge(kit, pair)
    assert "error" in kinds
    end = pair.ended_event()
    assert end is not None and end.reason == "timeout" and end.provider_reason == "session_expired"
    assert pair.codec.resumable


def test_errors_for_bad_client_events_have_the_ga_shape(kit: Any) -> None:
    pair = kit.make_pair()
    for frame in (
        "not json",
        json.dumps({"no": "type"}),
        json.dumps({"type": "nope.nope"}),
        json.dumps({"type": "input_audio_buffer.append", "audio": "***"}),
        json.dumps(
            {
                "type": "conversation.item.truncate",
                "item_id": "x",
                "content_index": 0,
                "audio_end_ms": 5,
            }
        ),
        json.dumps({"type": "response.cancel"}),
    ):
        pair.server.receive_frame(frame, pair.now)
        pair.pump()
    errors: list[dict[str, Any]] = [
        json.loads(f) for f in pair.server_frames if isinstance(f, str) and '"type":"error"' in f
    ]
    assert len(errors) == 6
    for error in errors:
        kit.sdk_server_event(error)
        assert set(error) == {"type", "event_id", "error"}
        assert set(error["error"]) == {"type", "code", "message", "param", "event_id"}
