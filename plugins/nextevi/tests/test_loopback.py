"""The NextEVI adapter end to end over real WebSocket on 127.0.0.1:
``voiceadapters.connect`` against the NextEVI simulator served by
:func:`voiceadapters.testing.serve_simulator` (or, for failures the simulator
cannot produce, a tiny local server). Audio is streamed faster than real
time; the simulator's voice detection runs on the audio's own timeline."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiohttp import web

import voiceadapters
from voiceadapters import AudioFormat
from voiceadapters.audio import StreamConverter, best_alignment, pcm_to_array
from voiceadapters.errors import ConnectError, HandshakeTimeout, WebSocketRejected
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentText,
    Event,
    Interruption,
    ProviderError,
    SessionEnded,
    SessionStarted,
    UnknownMessage,
)
from voiceadapters.runner import RunResult, stream_recording
from voiceadapters.simulator.server import SimulatorServer
from voiceadapters.testing import serve_simulator, speech_sample
from voiceadapters_nextevi import NextEVIProvider, NextEVISimulator

pytestmark = pytest.mark.network

KEY = "oak_loopback_DO-NOT-LEAK_91c2"
TIMEOUT = 30


def events_of(result: RunResult) -> list[Event]:
    return [event for _, event in result.events]


async def run_turn(session: voiceadapters.Session, **kwargs: Any) -> RunResult:
    pcm, _ = speech_sample()
    return await asyncio.wait_for(
        stream_recording(session, pcm, realtime=False, idle_timeout=0.5, **kwargs), TIMEOUT
    )


def echo_ncc(result: RunResult) -> float:
    pcm, _ = speech_sample()
    return best_alignment(pcm_to_array(pcm), pcm_to_array(bytes(result.agent_audio)))[1]


@asynccontextmanager
async def serve(simulator: NextEVISimulator) -> AsyncIterator[tuple[SimulatorServer, str]]:
    """A hand-configured simulator on 127.0.0.1 and the config string for it."""
    async with SimulatorServer(simulator, "127.0.0.1", 0) as server:
        yield server, NextEVIProvider().simulator_config("127.0.0.1", server.port, simulator)


# -- echo fidelity ---------------------------------------------------------------------


@pytest.mark.parametrize("scenario", ["echo", "wav_chunks"])
async def test_echo_round_trips_speech_with_high_fidelity(scenario: str) -> None:
    async with serve_simulator("nextevi", api_key=KEY, scenario=scenario) as (_, config, _sim):
        result = await run_turn(await voiceadapters.connect(config, api_key=KEY))
    kinds = [e.type for e in events_of(result)]
    assert kinds[0] == "session_started" and kinds[-1] == "session_ended"
    for expected in ("user_speech_started", "user_transcript", "user_speech_stopped",
                     "emotion", "agent_text", "agent_audio", "agent_audio_done"):  # fmt: skip
        assert expected in kinds
    assert result.ended is not None and result.ended.reason == "client_closed"
    assert not [e for e in events_of(result) if isinstance(e, ProviderError)]
    assert echo_ncc(result) >= 0.9


async def test_wav_chunks_at_16_khz_are_converted_to_the_app_format() -> None:
    simulator = NextEVISimulator(KEY, pace=0, wav_chunks=True, wav_rate=16000)
    fmt = AudioFormat(48000)
    pcm16, fmt16 = speech_sample()
    conv = StreamConverter(fmt16, fmt)
    pcm = conv.convert(pcm16) + conv.flush()
    async with serve(simulator) as (_, config):
        session = await voiceadapters.connect(
            config, api_key=KEY, input_format=fmt, output_format=fmt
        )
        result = await asyncio.wait_for(
            stream_recording(session, pcm, realtime=False, idle_timeout=0.5), TIMEOUT
        )
    audio = [e for e in events_of(result) if isinstance(e, AgentAudio)]
    assert audio and all(e.format == fmt for e in audio)
    _, ncc = best_alignment(pcm_to_array(pcm), pcm_to_array(bytes(result.agent_audio)))
    assert ncc >= 0.9


async def test_base64_audio_input_round_trips_too() -> None:
    async with serve_simulator("nextevi", api_key=KEY) as (_, config, sim):
        session = await voiceadapters.connect(config, api_key=KEY, audio_input="base64")
        result = await run_turn(session)
    assert sim.connections[0].binary_frame_sizes == []
    assert sim.connections[0].chunk_ids[0] == "chunk-1"
    assert echo_ncc(result) >= 0.9


# -- commands ----------------------------------------------------------------------------


async def test_send_text_gets_a_text_reply() -> None:
    async with serve_simulator("nextevi", api_key=KEY) as (_, config, sim):
        async with voiceadapters.connect(config, api_key=KEY) as session:
            await session.send_text("what's the weather")
            reply = None
            while reply is None:
                event = await asyncio.wait_for(session.next_event(), TIMEOUT)
                if isinstance(event, AgentText) and event.final:
                    reply = event
        assert sim.connections[0].texts == ["what's the weather"]
    assert reply.text == "You wrote: what's the weather"


async def test_client_interrupt_fences_the_turn_being_spoken() -> None:
    pcm, fmt = speech_sample()
    async with serve_simulator("nextevi", api_key=KEY, pace=1.0) as (_, config, sim):
        session = await voiceadapters.connect(config, api_key=KEY)
        await session.send_audio(pcm + bytes(fmt.bytes_for(1.0)))
        events: list[Event] = []
        while not any(isinstance(e, AgentAudio) for e in events):
            events.append(await asyncio.wait_for(session.next_event(), TIMEOUT))
        await session.interrupt()
        while not any(isinstance(e, Interruption) for e in events):
            events.append(await asyncio.wait_for(session.next_event(), TIMEOUT))
        await asyncio.sleep(0.3)
        await session.close()
        events += [e async for e in session]
        assert sim.connections[0].interrupts == 1
    interruption = next(e for e in events if isinstance(e, Interruption))
    assert interruption.turn_id == "gen-1"
    after = events[events.index(interruption) + 1 :]
    assert not [e for e in after if isinstance(e, AgentAudio | AgentAudioDone)]
    spoken = sum(len(e.pcm) for e in events if isinstance(e, AgentAudio))
    assert spoken < len(pcm), "the reply was cut short"


async def test_barge_in_interrupts_and_no_audio_of_the_interrupted_turn_follows() -> None:
    pcm, fmt = speech_sample()
    async with serve_simulator("nextevi", api_key=KEY, scenario="barge_in", pace=1.0) as (
        _,
        config,
        _sim,
    ):
        session = await voiceadapters.connect(config, api_key=KEY)
        await session.send_audio(pcm + bytes(fmt.bytes_for(0.8)))
        events: list[Event] = []
        while not any(isinstance(e, AgentAudio) for e in events):
            events.append(await asyncio.wait_for(session.next_event(), TIMEOUT))
        await session.send_audio(pcm)  # the user talks over the agent
        while not any(isinstance(e, Interruption) for e in events):
            events.append(await asyncio.wait_for(session.next_event(), TIMEOUT))
        await asyncio.sleep(0.3)
        await session.close()
        events += [e async for e in session]
    interruption = next(e for e in events if isinstance(e, Interruption))
    assert interruption.turn_id == "gen-1"
    after = events[events.index(interruption) + 1 :]
    assert not [
        e for e in after if isinstance(e, AgentAudio | AgentAudioDone) and e.turn_id == "gen-1"
    ]


# -- faults and ends ------------------------------------------------------------------------


async def test_wrong_key_gets_an_error_and_ends_with_auth_failed() -> None:
    async with serve_simulator("nextevi", api_key=KEY) as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key="oak_wrong_key_1234")
        events = [e async for e in session]
    assert [e.type for e in events] == ["provider_error", "session_ended"]
    assert isinstance(events[0], ProviderError) and events[0].code == "AUTHENTICATION_FAILED"
    assert events[1] == SessionEnded(
        reason="auth_failed", provider_reason="authentication failed", close_code=4001
    )


async def test_dropped_connection_ends_with_connection_lost() -> None:
    async with serve_simulator("nextevi", api_key=KEY, scenario="drop") as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key=KEY, reconnect=False)
        result = await run_turn(session)
    assert result.ended == SessionEnded(reason="connection_lost")


async def test_server_stopping_ends_with_server_shutdown() -> None:
    async with serve_simulator("nextevi", api_key=KEY) as (server, config, _sim):
        session = await voiceadapters.connect(config, api_key=KEY, reconnect=False)
        assert isinstance(await asyncio.wait_for(session.next_event(), TIMEOUT), SessionStarted)
        await server.stop()
        events = [e async for e in session]
    assert events[-1].type == "session_ended"
    assert (events[-1].reason, events[-1].close_code) == ("server_shutdown", 1001)


async def test_idle_hang_up_ends_with_timeout_after_the_warnings() -> None:
    async with serve_simulator("nextevi", api_key=KEY, scenario="idle_warning") as (
        _,
        config,
        _sim,
    ):
        result = await run_turn(await voiceadapters.connect(config, api_key=KEY))
    unknown = [e.raw["type"] for e in events_of(result) if isinstance(e, UnknownMessage)]
    assert unknown[-3:] == ["idle_warning", "idle_warning", "system_message"]
    assert result.ended is not None
    assert (result.ended.reason, result.ended.close_code) == ("timeout", 1000)


async def test_bad_wav_and_error_scenarios_report_and_the_session_goes_on() -> None:
    for scenario, codes in (
        ("bad_wav", ["malformed_wav"] * 2),
        ("error", ["TURN_DETECTION_FAILED"]),
    ):
        async with serve_simulator("nextevi", api_key=KEY, scenario=scenario) as (_, config, _s):
            result = await run_turn(await voiceadapters.connect(config, api_key=KEY))
        errors = [e for e in events_of(result) if isinstance(e, ProviderError)]
        assert [e.code for e in errors] == codes and not any(e.fatal for e in errors)
        assert result.ended is not None and result.ended.reason == "client_closed"
        assert echo_ncc(result) >= 0.9


# -- the key in the URL never leaks ---------------------------------------------------------------


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_the_key_reaches_no_log_line_event_repr_or_error(caplog: Any) -> None:
    caplog.set_level(logging.DEBUG)
    texts: list[str] = []
    async with serve_simulator("nextevi", api_key=KEY) as (_, config, sim):
        session = await voiceadapters.connect(config, api_key=KEY)
        result = await run_turn(session)
        texts += [repr(session), str(session.config), repr(session.config)]
        texts += [repr(e) for e in events_of(result)] + [repr(c) for c in sim.connections]
        bad = await voiceadapters.connect(config, api_key=KEY + "x")
        texts += [repr(e) for e in [e async for e in bad]]
    # A refused connection: nothing listens on the port any more.
    with pytest.raises(ConnectError) as refused:
        await voiceadapters.connect(
            f"nextevi://127.0.0.1:{closed_port()}?tls=false&config_id=c", api_key=KEY
        )
    message = str(refused.value)
    assert "api_key=***" in message and "ws://127.0.0.1:" in message
    texts += [message, repr(refused.value)]
    assert "GET /ws/voice/" in caplog.text, "the DEBUG request line was logged ..."
    everything = "\n".join(texts) + caplog.text
    assert KEY not in everything, "... with the key masked"


async def test_the_key_is_masked_in_a_handshake_timeout() -> None:
    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(5)
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(HandshakeTimeout) as info:
            await voiceadapters.connect(
                f"nextevi://127.0.0.1:{port}?tls=false&config_id=c&connect_timeout=0.3",
                api_key=KEY,
            )
    finally:
        server.close()
    assert KEY not in str(info.value) and "api_key=***" in str(info.value)


async def test_the_key_is_scrubbed_from_an_upgrade_refusal_that_echoes_the_url() -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=403, text=f"forbidden: {request.path_qs}")

    app = web.Application()
    app.router.add_get("/ws/voice/{tail}", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        with pytest.raises(WebSocketRejected) as info:
            await voiceadapters.connect(
                f"nextevi://127.0.0.1:{port}?tls=false&config_id=c", api_key=KEY
            )
    finally:
        await runner.cleanup()
    assert info.value.status == 403
    assert "forbidden: /ws/voice/voice_" in str(info.value)
    assert KEY not in str(info.value) and KEY not in info.value.provider_message
