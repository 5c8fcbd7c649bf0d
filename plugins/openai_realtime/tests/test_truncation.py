"""Truncation from what was played (``Session.report_played``).

On barge-in the codec truncates the assistant item to what the application
reported it played: 300 ms of a 2 s reply → ``audio_end_ms=300``; nothing
reported → no truncate; 5 s reported of a 2 s reply → clamped to 2000. The
codec's part is tested by feeding it GA server events; the simulator checks
the same truncate the way the server does (and would answer an offset past
the audio with an error); the session's part runs over loopback.
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest

import voiceadapters
from voiceadapters.commands import Interrupt, ReportPlayed, SendAudio
from voiceadapters.events import AgentAudio, AgentAudioDone, Interruption, UserSpeechStarted
from voiceadapters.testing import serve_simulator

RESPONSE = "resp_1"
ITEM = "item_a1"


def _event(kind: str, **fields: Any) -> str:
    return json.dumps({"type": kind, "event_id": f"event_{kind}", **fields})


def _reply_frames(seconds: float, *, done: bool) -> list[str]:
    """A response whose item carries ``seconds`` of PCM16 24 kHz audio."""
    refs = {"response_id": RESPONSE, "item_id": ITEM, "output_index": 0, "content_index": 0}
    frames = [
        _event(
            "response.created",
            response={
                "id": RESPONSE,
                "object": "realtime.response",
                "status": "in_progress",
                "output": [],
            },
        ),
        _event(
            "response.output_item.added",
            response_id=RESPONSE,
            output_index=0,
            item={
                "id": ITEM,
                "object": "realtime.item",
                "type": "message",
                "role": "assistant",
                "status": "in_progress",
                "content": [],
            },
        ),
    ]
    chunk = bytes(960)  # 20 ms
    for _ in range(round(seconds / 0.02)):
        frames.append(
            _event("response.output_audio.delta", **refs, delta=base64.b64encode(chunk).decode())
        )
    if done:
        frames.append(
            _event(
                "response.done",
                response={
                    "id": RESPONSE,
                    "object": "realtime.response",
                    "status": "completed",
                    "output": [],
                },
            )
        )
    return frames


def _speech_started() -> str:
    return _event("input_audio_buffer.speech_started", audio_start_ms=5000, item_id="item_u2")


def _codec(kit: Any) -> Any:
    from voiceadapters_openai import RealtimeCodec

    codec = RealtimeCodec(kit.config(), provider=kit.PROVIDERS["openai"])
    codec.handshake_step()
    codec.connection_opened()
    codec.receive_frame(_event("session.created", session={"id": "sess_1", "type": "realtime"}))
    codec.frames_to_send()
    codec.events_received()
    return codec


def _truncates(kit: Any, frames: list[Any]) -> list[dict[str, Any]]:
    sent = [json.loads(f) for f in frames if isinstance(f, str)]
    for message in sent:
        kit.sdk_client_event(message)
    return [m for m in sent if m["type"] == "conversation.item.truncate"]


@pytest.mark.parametrize("done", [False, True], ids=["audio-arriving", "audio-all-received"])
@pytest.mark.parametrize(
    ("played", "expected"), [(0.3, 300), (5.0, 2000), (None, None), (0.0, None), (1.9996, 1999)]
)
def test_barge_in_truncates_to_what_was_played_clamped_to_the_audio_received(
    kit: Any, done: bool, played: float | None, expected: int | None
) -> None:
    codec = _codec(kit)
    for frame in _reply_frames(2.0, done=done):
        codec.receive_frame(frame)
    events = codec.events_received()
    assert sum(len(e.pcm) for e in events if isinstance(e, AgentAudio)) == 96000  # 2 s
    if played is not None:
        codec.handle_command(ReportPlayed(turn_id=RESPONSE, seconds=played))
    codec.receive_frame(_speech_started())
    truncates = _truncates(kit, codec.frames_to_send())
    events = codec.events_received()
    heard_all = done and played is not None and played >= 2.0
    if heard_all:
        # The reply is over and fully played: nothing to stop or truncate.
        expected = None
    if expected is None:
        assert truncates == []
    else:
        assert truncates == [
            {
                "type": "conversation.item.truncate",
                "item_id": ITEM,
                "content_index": 0,
                "audio_end_ms": expected,
            }
        ]
    interrupted = [e for e in events if isinstance(e, Interruption)]
    if done and (played is None or heard_all):
        # All of it received and (as far as we know) played: nothing to stop.
        assert interrupted == []
    else:
        assert interrupted == [Interruption(turn_id=RESPONSE)]
    assert isinstance(events[-1], UserSpeechStarted)


def test_the_late_audio_of_an_interrupted_turn_is_dropped_and_not_counted(kit: Any) -> None:
    codec = _codec(kit)
    for frame in _reply_frames(1.0, done=False):
        codec.receive_frame(frame)
    codec.handle_command(ReportPlayed(turn_id=None, seconds=0.5))  # None: the latest turn
    codec.receive_frame(_speech_started())
    assert _truncates(kit, codec.frames_to_send())[0]["audio_end_ms"] == 500
    codec.events_received()
    for frame in _reply_frames(1.0, done=True)[2:]:
        codec.receive_frame(frame)
    late = codec.events_received()
    assert not [e for e in late if isinstance(e, AgentAudio | AgentAudioDone)]
    # A second barge-in on the same item does not truncate again.
    codec.receive_frame(_speech_started())
    assert _truncates(kit, codec.frames_to_send()) == []


def test_interrupt_cancels_and_truncates(kit: Any) -> None:
    codec = _codec(kit)
    for frame in _reply_frames(2.0, done=False):
        codec.receive_frame(frame)
    codec.events_received()
    codec.handle_command(ReportPlayed(turn_id=RESPONSE, seconds=0.3))
    codec.handle_command(Interrupt())
    sent = [json.loads(f) for f in codec.frames_to_send()]
    for message in sent:
        kit.sdk_client_event(message)
    assert sent == [
        {"type": "response.cancel", "response_id": RESPONSE},
        {
            "type": "conversation.item.truncate",
            "item_id": ITEM,
            "content_index": 0,
            "audio_end_ms": 300,
        },
    ]
    assert codec.events_received() == [Interruption(turn_id=RESPONSE)]


def test_reports_are_ignored_by_a_codec_that_cannot_use_them() -> None:
    from voiceadapters.registry import registry

    provider = registry.get("example")
    from voiceadapters.config import parse_config, resolve_config

    codec = provider.make_codec(
        resolve_config(
            parse_config("example://127.0.0.1:1?tls=false"), provider, api_key="k", environ={}
        )
    )
    codec.handle_command(ReportPlayed(turn_id="t", seconds=1.0))  # no error, nothing sent
    assert codec.frames_to_send() == []


def test_the_simulator_accepts_the_truncate_and_answers_truncated(kit: Any) -> None:
    pair = kit.make_pair("barge_in")
    pcm = kit.make_speech()
    pair.stream_audio(pcm, 960)
    pair.run_until(lambda ev: sum(isinstance(e, AgentAudio) for e in ev) > 20, timeout=30)
    turn = next(e.turn_id for e in pair.events if isinstance(e, AgentAudio))
    pair.send(ReportPlayed(turn_id=turn, seconds=0.3))
    pair.stream_audio(pcm, 960)  # barge in
    pair.advance(2)
    assert [t["audio_end_ms"] for t in pair.server.truncations] == [300]
    assert not pair.server.invalid
    assert any(
        '"conversation.item.truncated"' in f for f in pair.server_frames if isinstance(f, str)
    )


def test_the_simulator_refuses_a_truncate_past_the_audio_sent(kit: Any) -> None:
    pair = kit.make_pair("echo")
    pair.stream_audio(kit.make_speech(), 960)
    pair.run_until(lambda ev: any(isinstance(e, AgentAudioDone) for e in ev), timeout=30)
    item = next(
        json.loads(f)["item_id"]
        for f in pair.server_frames
        if isinstance(f, str) and "output_audio.delta" in f
    )
    pair.server.receive_frame(
        json.dumps(
            {
                "type": "conversation.item.truncate",
                "item_id": item,
                "content_index": 0,
                "audio_end_ms": 10**6,
            }
        ),
        pair.now,
    )
    assert "is already shorter than" in pair.server.invalid[-1]
    assert not pair.server.truncations


@pytest.mark.network
async def test_session_report_played_truncates_over_loopback(kit: Any) -> None:
    pcm16 = kit.make_speech()
    async with serve_simulator("openai", api_key=kit.API_KEY, scenario="barge_in", pace=1.0) as (
        _,
        config,
        sim,
    ):
        fmt = voiceadapters.AudioFormat(24000)
        async with voiceadapters.connect(
            config, api_key=kit.API_KEY, input_format=fmt, output_format=fmt
        ) as session:
            for i in range(0, len(pcm16), 4800):
                await session.send_audio(pcm16[i : i + 4800])

            async def first_audio() -> AgentAudio:
                received = 0.0
                async for event in session:
                    if isinstance(event, AgentAudio):
                        received += event.duration
                        if received >= 0.5:  # more than will be reported
                            return event
                raise AssertionError("no agent audio")

            audio = await asyncio.wait_for(first_audio(), 20)
            await session.report_played(audio.turn_id, 0.3)
            for i in range(0, len(pcm16), 4800):
                await session.send_audio(pcm16[i : i + 4800])

            async def interruption() -> Interruption:
                async for event in session:
                    if isinstance(event, Interruption):
                        return event
                raise AssertionError("no interruption")

            stop = await asyncio.wait_for(interruption(), 20)
            assert stop.turn_id == audio.turn_id
            await asyncio.sleep(0.2)
        with pytest.raises(voiceadapters.SessionClosedError):
            await session.report_played(audio.turn_id, 0.5)
    assert [t["audio_end_ms"] for t in sim.connections[-1].truncations] == [300]


def test_report_played_refuses_bad_seconds() -> None:
    import pydantic

    for bad in (-0.1, float("nan"), float("inf")):
        with pytest.raises(pydantic.ValidationError):
            ReportPlayed(turn_id="t", seconds=bad)
    assert SendAudio  # the command module's other values stay importable
