"""``voiceadapters.connect("deepgram://127.0.0.1:PORT…")`` against the simulator
over real HTTP and WebSocket on 127.0.0.1: the normalized events, echo
fidelity after resampling, the tool round trip, both auth flows, and bad
input. Audio is streamed faster than real time; the simulator's voice
detection runs on the audio's own timeline."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

import voiceadapters
from voiceadapters import AudioFormat
from voiceadapters.audio import StreamConverter, best_alignment, pcm_to_array
from voiceadapters.errors import AuthenticationError, WebSocketRejected
from voiceadapters.events import (
    AgentAudio,
    AgentText,
    Event,
    Interruption,
    ProviderError,
    ToolCall,
    UnknownMessage,
)
from voiceadapters.runner import RunResult, stream_recording
from voiceadapters.testing import serve_simulator, speech_sample
from voiceadapters_deepgram import DeepgramConnection

pytestmark = pytest.mark.network

KEY = "dg_loopback_DO-NOT-LEAK_5150"
TIMEOUT = 30


def events_of(result: RunResult) -> list[Event]:
    return [event for _, event in result.events]


async def run_turn(session: voiceadapters.Session, pcm: bytes, **kwargs: Any) -> RunResult:
    return await asyncio.wait_for(
        stream_recording(session, pcm, realtime=False, idle_timeout=0.5, **kwargs), TIMEOUT
    )


def speech_at(rate: int) -> bytes:
    pcm, fmt = speech_sample()
    conv = StreamConverter(fmt, AudioFormat(rate))
    return conv.convert(pcm) + conv.flush()


@pytest.mark.parametrize("rate", [16000, 24000, 48000])
async def test_a_turn_gives_the_normalized_events_and_a_faithful_echo(rate: int) -> None:
    pcm = speech_at(rate)
    fmt = AudioFormat(rate)
    async with serve_simulator("deepgram", api_key=KEY) as (_, config, sim):
        session = await voiceadapters.connect(config, api_key=KEY, input_format=fmt)
        result = await run_turn(session, pcm)
    kinds = [e.type for e in events_of(result)]
    assert kinds[:2] == ["session_started", "agent_ready"] and kinds[-1] == "session_ended"
    for expected in ("user_speech_started", "user_transcript", "user_speech_stopped",
                     "agent_text", "agent_audio", "agent_audio_done"):  # fmt: skip
        assert expected in kinds
    assert kinds.index("user_speech_started") < kinds.index("user_speech_stopped")
    assert kinds.index("agent_audio") < kinds.index("agent_audio_done")
    final = [e for e in events_of(result) if isinstance(e, AgentText) and e.final]
    assert final and final[0].text == sim.connections[-1].agent.replies[0]
    assert result.ended is not None and result.ended.reason == "client_closed"
    assert not [e for e in events_of(result) if isinstance(e, ProviderError)]
    audio = [e for e in events_of(result) if isinstance(e, AgentAudio)]
    assert {e.format.sample_rate for e in audio} == {rate}
    _, ncc = best_alignment(pcm_to_array(pcm), pcm_to_array(bytes(result.agent_audio)))
    assert ncc >= 0.9


async def test_a_tool_round_trip() -> None:
    functions = [{"name": "lookup_utterance", "parameters": {"type": "object"}}]
    async with serve_simulator("deepgram", api_key=KEY, scenario="tool_call") as (_, config, sim):
        session = await voiceadapters.connect(config, api_key=KEY, functions=functions)
        result = await run_turn(session, speech_at(16000), tool_output={"answer": 42})
        connection = sim.connections[-1]
    assert isinstance(connection, DeepgramConnection)
    (call,) = [e for e in events_of(result) if isinstance(e, ToolCall)]
    assert call.name == "lookup_utterance" and call.arguments["turn"] == 1
    ((call_id, name, content),) = connection.function_responses
    assert (call_id, name, json.loads(content)) == (
        call.call_id,
        "lookup_utterance",
        {"answer": 42},
    )
    think = connection.settings["agent"]["think"] if connection.settings else {}
    assert think["functions"] == [
        {"name": "lookup_utterance", "description": "", "parameters": {"type": "object"}}
    ]
    texts = [e for e in events_of(result) if isinstance(e, AgentText) and e.final]
    assert texts and '{"answer":42}' in texts[0].text
    assert [e for e in events_of(result) if isinstance(e, AgentAudio)]


async def test_barge_in_interrupts_the_reply() -> None:
    pcm = speech_at(16000)
    async with serve_simulator("deepgram", api_key=KEY, scenario="barge_in", pace=1.0) as (
        _, config, _sim,
    ):  # fmt: skip
        session = await voiceadapters.connect(config, api_key=KEY)
        result = await asyncio.wait_for(
            stream_recording(session, pcm + bytes(32000) + pcm, realtime=True, idle_timeout=1.0),
            TIMEOUT,
        )
    events = events_of(result)
    (interruption,) = [e for e in events if isinstance(e, Interruption)]
    at = events.index(interruption)
    late = [
        e for e in events[at:] if isinstance(e, AgentAudio) and e.turn_id == interruption.turn_id
    ]
    assert interruption.turn_id == "turn-1" and late == []


async def test_text_input() -> None:
    async with serve_simulator("deepgram", api_key=KEY) as (_, config, sim):
        async with await voiceadapters.connect(config, api_key=KEY) as session:
            await session.send_text("typed hello")
            got: list[Event] = []
            async for event in session:
                got.append(event)
                if isinstance(event, AgentText) and event.final:
                    break
    assert any(e.type == "user_transcript" and e.text == "typed hello" for e in got)  # type: ignore[union-attr]
    assert "typed hello" in json.dumps(list(sim.connections[-1].received_messages))


async def test_the_grant_flow_keeps_the_key_off_the_agent_endpoint() -> None:
    async with serve_simulator("deepgram", api_key=KEY) as (_, config, sim):
        session = await voiceadapters.connect(config + "&auth=grant", api_key=KEY)
        result = await run_turn(session, speech_at(16000))
    assert sim.grants == 1
    assert "agent_audio_done" in [e.type for e in events_of(result)]


async def test_a_wrong_key_is_refused_at_the_upgrade() -> None:
    async with serve_simulator("deepgram", api_key=KEY) as (_, config, _sim):
        with pytest.raises(WebSocketRejected) as caught:
            await voiceadapters.connect(config, api_key="wrong-key", reconnect=False)
        assert caught.value.status == 401
        assert "wrong-key" not in str(caught.value)
        with pytest.raises(AuthenticationError) as grant:
            await voiceadapters.connect(config + "&auth=grant", api_key="wrong-key")
        assert grant.value.status == 401 and "wrong-key" not in str(grant.value)


async def test_malformed_frames_are_reported_and_the_session_goes_on() -> None:
    async with serve_simulator("deepgram", api_key=KEY, scenario="malformed") as (_, config, _s):
        session = await voiceadapters.connect(config, api_key=KEY)
        result = await run_turn(session, speech_at(16000))
    events = events_of(result)
    codes = {e.code for e in events if isinstance(e, ProviderError)}
    assert {"malformed_json", "malformed_message", "odd_length_audio"} <= codes
    assert not any(e.fatal for e in events if isinstance(e, ProviderError))
    assert any(
        isinstance(e, UnknownMessage) and e.raw.get("type") == "SimulatorFault" for e in events
    )
    assert "agent_audio_done" in [e.type for e in events]
    assert result.ended is not None and result.ended.reason == "client_closed"


async def test_provider_errors_and_warnings_are_not_fatal() -> None:
    async with serve_simulator("deepgram", api_key=KEY, scenario="errors") as (_, config, _s):
        session = await voiceadapters.connect(config, api_key=KEY)
        result = await run_turn(session, speech_at(16000))
    errors = [e for e in events_of(result) if isinstance(e, ProviderError)]
    assert [(e.code, e.fatal) for e in errors] == [
        ("SIMULATED_WARNING", False), ("SIMULATED_ERROR", False)
    ]  # fmt: skip
    assert "agent_audio_done" in [e.type for e in events_of(result)]


async def test_server_shutdown_ends_the_session() -> None:
    async with serve_simulator("deepgram", api_key=KEY, scenario="server_shutdown") as (
        _, config, _s,
    ):  # fmt: skip
        session = await voiceadapters.connect(config, api_key=KEY)
        result = await run_turn(session, speech_at(16000))
    assert result.ended is not None
    assert (result.ended.reason, result.ended.close_code) == ("completed", 1000)
    assert result.ended.provider_reason == "session ended"
