"""Whole sessions through ``voiceadapters.connect`` against the simulator
served on 127.0.0.1: echo fidelity, the usage event, manual turns, G.711,
the session cap, a wrong key."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

import voiceadapters
from voiceadapters import AudioFormat
from voiceadapters.audio import StreamConverter, best_alignment, pcm_to_array
from voiceadapters.errors import WebSocketRejected
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentText,
    SessionResumed,
    SessionStarted,
    Usage,
    UserTranscript,
)
from voiceadapters.runner import stream_recording
from voiceadapters.testing import serve_simulator, speech_sample

pytestmark = pytest.mark.network

TIMEOUT = 30.0


def _compatible(port: int, **options: str) -> str:
    query = "".join(f"&{k}={v}" for k, v in options.items())
    return f"openai-compatible://127.0.0.1:{port}?tls=false&model=gpt-realtime{query}"


@pytest.mark.parametrize("audio_format", ["pcm", "pcmu"])
async def test_echo_through_openai_compatible_has_high_fidelity(
    kit: Any, audio_format: str
) -> None:
    pcm, fmt = speech_sample()  # 16 kHz speech
    async with serve_simulator("openai-compatible", api_key=kit.API_KEY) as (server, _, _sim):
        session = await voiceadapters.connect(
            _compatible(server.port, audio_format=audio_format),
            api_key=kit.API_KEY,
            input_format=fmt,
        )
        result = await asyncio.wait_for(
            stream_recording(session, pcm, realtime=False, idle_timeout=1.0), TIMEOUT
        )
    events = [e for _, e in result.events]
    kinds = [e.type for e in events]
    assert kinds[0] == "session_started" and kinds[-1] == "session_ended"
    for expected in (
        "user_speech_started",
        "user_transcript",
        "agent_text",
        "agent_audio_done",
        "usage",
    ):
        assert expected in kinds, expected
    if audio_format == "pcm":
        # Through 24 kHz and back: the same sound.
        _, ncc = best_alignment(pcm_to_array(pcm), pcm_to_array(bytes(result.agent_audio)))
        assert ncc >= 0.9
    else:
        # G.711 at 8 kHz: compare with the reference band-limited the same way.
        down = StreamConverter(fmt, AudioFormat(8000))
        up = StreamConverter(AudioFormat(8000), fmt)
        narrow = up.convert(down.convert(pcm) + down.flush()) + up.flush()
        _, ncc = best_alignment(pcm_to_array(narrow), pcm_to_array(bytes(result.agent_audio)))
        assert ncc >= 0.9
    usage = next(e for e in events if isinstance(e, Usage))
    audio_turn = next(e.turn_id for e in events if isinstance(e, AgentAudio))
    assert usage.turn_id == audio_turn and usage.total_tokens
    assert "input_token_details" in usage.details


async def test_manual_turns_answer_only_after_end_turn(kit: Any) -> None:
    pcm = kit.make_speech(tail=0.1)
    fmt = AudioFormat(24000)
    async with serve_simulator("openai", api_key=kit.API_KEY) as (_, config, sim):
        async with voiceadapters.connect(
            config, api_key=kit.API_KEY, input_format=fmt, turn_detection="none"
        ) as session:
            await session.send_audio(pcm)
            events: list[Any] = []

            async def collect(until: type, seconds: float) -> bool:
                loop = asyncio.get_running_loop()
                deadline = loop.time() + seconds
                while loop.time() < deadline:
                    try:
                        event = await session.next_event(timeout=deadline - loop.time())
                    except asyncio.TimeoutError:
                        return False
                    events.append(event)
                    if isinstance(event, until):
                        return True
                return False

            assert not await collect(AgentAudio, 1.5)  # no VAD: no answer yet
            await session.end_turn()
            assert await collect(AgentAudioDone, TIMEOUT)
    kinds = [e.type for e in events]
    assert "user_speech_started" not in kinds
    assert any(isinstance(e, UserTranscript) and e.final for e in events)
    assert "input_audio_buffer.commit" in sim.connections[-1].client_events
    update = sim.connections[-1].received_messages[0]
    assert update["session"]["audio"]["input"]["turn_detection"] is None


async def test_send_text_gets_a_text_reply(kit: Any) -> None:
    async with serve_simulator("openai", api_key=kit.API_KEY) as (_, config, _sim):
        async with voiceadapters.connect(config, api_key=kit.API_KEY) as session:
            first = await session.next_event(timeout=TIMEOUT)
            assert isinstance(first, SessionStarted) and first.session_id
            await session.send_text("hello")
            while True:
                event = await session.next_event(timeout=TIMEOUT)
                if isinstance(event, AgentText) and event.final:
                    break
    assert event.text == "You wrote: hello"


async def test_the_session_cap_is_crossed_by_a_new_connection(kit: Any) -> None:
    async with serve_simulator("openai", api_key=kit.API_KEY, scenario="session_cap") as (
        _,
        config,
        sim,
    ):
        async with voiceadapters.connect(config, api_key=kit.API_KEY) as session:
            kinds = []
            while True:
                event = await session.next_event(timeout=TIMEOUT)
                kinds.append(event.type)
                if isinstance(event, SessionResumed):
                    break
    assert event.state_restored is False
    assert "provider_error" in kinds  # the session_expired error, fatal
    assert len(sim.connections) == 2


async def test_a_wrong_key_is_refused_with_401(kit: Any) -> None:
    async with serve_simulator("openai", api_key=kit.API_KEY) as (_, config, _sim):
        with pytest.raises(WebSocketRejected) as caught:
            await voiceadapters.connect(config, api_key="sk-wrong")
    assert caught.value.status == 401
    assert "sk-wrong" not in str(caught.value)


async def test_azure_sessions_use_the_api_key_header(kit: Any) -> None:
    async with serve_simulator("azure-openai", api_key=kit.API_KEY) as (_, config, _sim):
        assert "deployment=" in config
        async with voiceadapters.connect(config, api_key=kit.API_KEY) as session:
            first = await session.next_event(timeout=TIMEOUT)
            assert isinstance(first, SessionStarted)
