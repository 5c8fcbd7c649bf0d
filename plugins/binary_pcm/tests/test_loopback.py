"""The binary-PCM adapter end to end over real HTTP and WebSocket on 127.0.0.1.

Every test runs the session API (:func:`voiceadapters.connect`) against the
binary-PCM simulator on loopback. Audio is streamed faster than real time and
the simulator sends its audio unpaced; its voice-activity detection runs on
the audio's own timeline, so the result is the same as in real time. Clients
that misbehave on purpose (a wrong first message, a replayed token) are the
real network transport with one message changed (see ``conftest.py``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
import pytest

import voiceadapters
from voiceadapters import AudioFormat
from voiceadapters.audio import StreamConverter, best_alignment, pcm_to_array
from voiceadapters.errors import (
    AuthenticationError,
    BufferOverflowError,
    TokenRequestError,
    UnsupportedCommandError,
)
from voiceadapters.events import (
    AgentAudio,
    AgentReady,
    Event,
    ProviderError,
    SessionEnded,
    SessionStarted,
    UnknownMessage,
)
from voiceadapters.runner import RunResult, stream_recording
from voiceadapters.testing import speech_sample
from voiceadapters_binary_pcm import messages

pytestmark = pytest.mark.network

TIMEOUT = 20
API_KEY = "sk-bpcm-test-DO-NOT-LEAK-91c3e7"  # the simulator's key (conftest.API_KEY)
PCM16 = AudioFormat(16000)


def convert(pcm: bytes, src: AudioFormat, dst: AudioFormat) -> bytes:
    conv = StreamConverter(src, dst)
    return conv.convert(pcm) + conv.flush()


async def echo_run(session: voiceadapters.Session, pcm: bytes) -> RunResult:
    return await asyncio.wait_for(
        stream_recording(session, pcm, realtime=False, idle_timeout=0.5), TIMEOUT
    )


async def all_events(session: voiceadapters.Session) -> list[Event]:
    async def collect() -> list[Event]:
        return [event async for event in session]

    return await asyncio.wait_for(collect(), TIMEOUT)


def failure(code: str, reason: str, close_code: int) -> list[Event]:
    """The events a user sees when the server refuses the session with ``code``."""
    return [
        ProviderError(code=code, message=messages.DEFAULT_ERROR_MESSAGES[code], fatal=True),
        SessionEnded(reason=reason, provider_reason=code, close_code=close_code),
    ]


# -- echo ----------------------------------------------------------------------------


@pytest.mark.parametrize("app_rate", [16000, 24000, 48000])
async def test_echo_session_round_trips_speech_with_high_fidelity(serve_sim, app_rate: int) -> None:
    pcm16, fmt16 = speech_sample()
    fmt = AudioFormat(app_rate)
    pcm = convert(pcm16, fmt16, fmt)
    async with serve_sim() as (_, config, sim):
        session = await voiceadapters.connect(
            config, api_key=API_KEY, input_format=fmt, output_format=fmt
        )
        result = await echo_run(session, pcm)
    events = [e for _, e in result.events]
    assert isinstance(events[0], SessionStarted) and isinstance(events[1], AgentReady)
    assert events[-1] == SessionEnded(reason="client_closed", close_code=1000)
    assert {e.type for e in events} == {
        "session_started",
        "agent_ready",
        "agent_audio",
        "session_ended",
    }
    audio = [e for e in events if isinstance(e, AgentAudio)]
    assert all(e.format == fmt for e in audio)
    _, ncc = best_alignment(pcm_to_array(pcm), pcm_to_array(bytes(result.agent_audio)))
    assert ncc >= 0.9
    server = sim.connections[0]
    assert set(server.binary_frame_sizes) == {640}, "every frame on the wire is 640 bytes"
    sent = convert(pcm + bytes(fmt.bytes_for(1.0)), fmt, PCM16)  # + the runner's silence
    received = bytes(server.received_audio)
    assert received[: len(sent)] == sent[: len(received)]
    assert len(received) == -(-len(sent) // 640) * 640, "only the last frame was padded"


@pytest.mark.parametrize("app_rate", [16000, 48000])
async def test_audio_sent_before_connected_arrives_at_the_simulator_in_order(
    serve_sim, app_rate: int
) -> None:
    pcm16, fmt16 = speech_sample()
    fmt = AudioFormat(app_rate)
    early = convert(pcm16, fmt16, fmt)[: fmt.bytes_for(0.3)]
    async with serve_sim(connected_delay=0.8) as (_, config, sim):
        session = await voiceadapters.connect(config, api_key=API_KEY, input_format=fmt)
        started = time.monotonic()
        chunk = fmt.frame_width * 997  # an awkward size on purpose
        for i in range(0, len(early), chunk):
            await session.send_audio(early[i : i + chunk])
        assert time.monotonic() - started < 0.8, "all of it was sent before connected"
        assert isinstance(await asyncio.wait_for(session.next_event(), TIMEOUT), SessionStarted)
        await session.close()
        server = sim.connections[0]
    assert server.invalid == [], "no audio reached the server before connected"
    expected = convert(early, fmt, PCM16)
    received = bytes(server.received_audio)
    assert received[: len(expected)] == expected
    assert received[len(expected) :] == bytes(len(received) - len(expected)) and (
        len(received) - len(expected) < 640
    )
    assert set(server.binary_frame_sizes) == {640}


async def test_audio_overflowing_the_preconnect_buffer_raises_and_the_session_goes_on(
    serve_sim,
) -> None:
    async with serve_sim(connected_delay=0.5) as (_, config, sim):
        session = await voiceadapters.connect(
            config, api_key=API_KEY, preconnect_buffer_seconds=0.1
        )
        await session.send_audio(bytes(3200))
        with pytest.raises(BufferOverflowError, match="binary-pcm") as info:
            await session.send_audio(bytes(640))
        assert (info.value.limit_bytes, info.value.pending_bytes) == (3200, 3200)
        assert isinstance(await asyncio.wait_for(session.next_event(), TIMEOUT), SessionStarted)
        await session.send_audio(bytes(640))
        await session.close()
    assert len(sim.connections[0].received_audio) == 3200 + 640


async def test_a_refused_chunk_at_48_khz_can_be_resent_without_duplicating_audio(
    serve_sim,
) -> None:
    # The session refuses before converting, so the resampler never saw the
    # refused chunk: resending it yields exactly the conversion of what was accepted.
    from voiceadapters.audio import StreamConverter

    app = AudioFormat(48000)
    chunk = speech_sample_at(app)[: app.bytes_for(0.02)]
    accepted: list[bytes] = []
    async with serve_sim(connected_delay=0.5) as (_, config, sim):
        session = await voiceadapters.connect(
            config,
            api_key=API_KEY,
            preconnect_buffer_seconds=0.1,
            input_format=app,
            output_format=app,
        )
        refused = 0
        for _ in range(20):
            try:
                await session.send_audio(chunk)
                accepted.append(chunk)
            except BufferOverflowError:
                refused += 1
                break
        assert refused == 1 and accepted
        assert isinstance(await asyncio.wait_for(session.next_event(), TIMEOUT), SessionStarted)
        await session.send_audio(chunk)  # the refused chunk, again
        accepted.append(chunk)
        await session.close()
    conv = StreamConverter(app, PCM16)
    expected = conv.convert(b"".join(accepted)) + conv.flush()
    received = bytes(sim.connections[0].received_audio)
    assert received[: len(expected)] == expected
    assert not any(received[len(expected) :]), "only zero padding of the last frame follows"


async def test_burst_agent_audio_is_all_received_by_the_client(serve_sim) -> None:
    pcm, _ = speech_sample()
    async with serve_sim(scenario="burst", pace=1.0) as (_, config, sim):
        session = await voiceadapters.connect(config, api_key=API_KEY)
        result = await echo_run(session, pcm)
    sent = bytes(sim.connections[0].sent_audio)
    assert len(sent) > PCM16.bytes_for(1.0)
    assert bytes(result.agent_audio) == sent, "every byte, in order, none dropped"
    assert session.stats.dropped_audio_events == 0


# -- error codes and close codes --------------------------------------------------------------


@pytest.mark.parametrize(
    ("first", "code", "reason", "close_code"),
    [
        (None, "AUTH_TIMEOUT", "timeout", 4001),  # no first message at all
        ("hello, server", "INVALID_AUTH", "auth_failed", 4002),  # not JSON
        ('{"tok":"x"}', "INVALID_AUTH", "auth_failed", 4002),  # JSON without a token
        (bytes(640), "INVALID_AUTH", "auth_failed", 4002),  # audio before authentication
        ('{"token":"forged"}', "AUTH_FAILED", "auth_failed", 4003),  # never issued
    ],
)
async def test_bad_first_messages_end_with_the_error_and_close_code(
    serve_sim, first_frame_transport, first: Any, code: str, reason: str, close_code: int
) -> None:
    transport = first_frame_transport(first)
    try:
        async with serve_sim(token_deadline=0.3) as (_, config, sim):
            session = await voiceadapters.connect(config, api_key=API_KEY, transport=transport)
            events = await all_events(session)
            await session.close()
    finally:
        await transport.aclose()
    assert events == failure(code, reason, close_code)
    assert session.ended == events[-1]
    assert sim.connections[0].errors_sent == [code]


async def test_a_token_that_comes_too_late_is_auth_timeout(serve_sim) -> None:
    async with serve_sim(token_deadline=0.0) as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key=API_KEY)
        events = await all_events(session)
    assert events == failure("AUTH_TIMEOUT", "timeout", 4001)


async def test_a_reused_token_is_auth_failed(serve_sim, replay_token_transport) -> None:
    transport = replay_token_transport()
    try:
        async with serve_sim() as (_, config, sim):
            first = await voiceadapters.connect(config, api_key=API_KEY, transport=transport)
            assert isinstance(await asyncio.wait_for(first.next_event(), TIMEOUT), SessionStarted)
            await first.close()
            second = await voiceadapters.connect(config, api_key=API_KEY, transport=transport)
            events = await all_events(second)
    finally:
        await transport.aclose()
    assert len(sim.grants) == 1, "one token, presented twice"
    assert events == failure("AUTH_FAILED", "auth_failed", 4003)


async def test_an_expired_token_is_auth_failed(serve_sim) -> None:
    async with serve_sim(token_ttl=0.0) as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key=API_KEY)
        events = await all_events(session)
    assert events == failure("AUTH_FAILED", "auth_failed", 4003)


async def test_session_setup_failed_ends_with_error_and_4500(serve_sim) -> None:
    async with serve_sim(scenario="setup_failed") as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key=API_KEY)
        events = await all_events(session)
    assert events == failure("SESSION_SETUP_FAILED", "error", 4500)


async def test_connected_that_never_comes_ends_with_timeout(serve_sim) -> None:
    async with serve_sim(connected_delay=30.0) as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key=API_KEY, timeout=0.3)
        events = await all_events(session)
    assert events == [SessionEnded(reason="timeout", provider_reason="no 'connected' within 0.3 s")]


@pytest.mark.parametrize(
    ("scenario", "reason", "raw"),
    [
        ("end_room_closed", "completed", "room_closed"),
        ("end_session_closed", "completed", "session_closed"),
        ("end_agent_disconnected", "completed", "agent_disconnected"),
        ("server_shutdown", "server_shutdown", "server_shutdown"),
    ],
)
async def test_provider_session_ended_reasons(
    serve_sim, scenario: str, reason: str, raw: str
) -> None:
    pcm, _ = speech_sample()
    async with serve_sim(scenario=scenario) as (_, config, _sim):
        result = await echo_run(await voiceadapters.connect(config, api_key=API_KEY), pcm)
    assert result.ended == SessionEnded(reason=reason, provider_reason=raw)
    assert result.agent_audio, "the reply came first"


async def test_server_going_away_ends_with_server_shutdown_1001(serve_sim) -> None:
    async with serve_sim() as (server, config, _sim):
        session = await voiceadapters.connect(config, api_key=API_KEY, reconnect=False)
        assert isinstance(await asyncio.wait_for(session.next_event(), TIMEOUT), SessionStarted)
        await server.stop()
        events = await all_events(session)
    assert events[-1] == SessionEnded(
        reason="server_shutdown", provider_reason="server shutdown", close_code=1001
    )


async def test_dropped_connection_ends_with_connection_lost(serve_sim) -> None:
    pcm, _ = speech_sample()
    async with serve_sim(scenario="drop") as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key=API_KEY, reconnect=False)
        result = await echo_run(session, pcm)
    assert result.ended == SessionEnded(reason="connection_lost")


async def test_malformed_server_frames_become_events_and_the_session_goes_on(serve_sim) -> None:
    async with serve_sim(scenario="malformed") as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key=API_KEY)
        events = []
        while not any(isinstance(e, AgentReady) for e in events):
            events.append(await asyncio.wait_for(session.next_event(), TIMEOUT))
        await session.send_audio(bytes(640))
        ended = await session.close()
    errors = [e for e in events if isinstance(e, ProviderError)]
    assert [e.code for e in errors] == ["malformed_json", "odd_length_audio"]
    assert not any(e.fatal for e in errors)
    assert any(isinstance(e, UnknownMessage) for e in events)
    assert ended.reason == "client_closed"


# -- token endpoint ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "key", "error", "status", "message"),
    [
        ("echo", "sk-wrong-key-123", AuthenticationError, 401, "invalid or missing API key"),
        ("disabled", API_KEY, AuthenticationError, 403, "kiosk is inactive or disabled"),
        ("token_500", API_KEY, TokenRequestError, 500, "internal server error (simulated)"),
    ],
)
async def test_token_endpoint_refusals_are_typed_errors_naming_status_and_message(
    serve_sim, scenario: str, key: str, error: type[Exception], status: int, message: str
) -> None:
    async with serve_sim(scenario=scenario) as (_, config, sim):
        with pytest.raises(error) as info:
            await voiceadapters.connect(config, api_key=key)
    assert type(info.value) is error
    assert (info.value.status, info.value.provider_message) == (status, message)  # type: ignore[attr-defined]
    assert f"HTTP {status}" in str(info.value) and message in str(info.value)
    assert key not in str(info.value) and sim.connections == []


async def test_heartbeat_and_cors_over_http(serve_sim) -> None:
    async with serve_sim() as (server, _, _sim):
        base = f"http://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as http:
            async with http.options(
                base + messages.TOKEN_PATH,
                headers={
                    "Origin": "http://page.example",
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "authorization",
                },
            ) as preflight:
                assert preflight.status == 204
                assert preflight.headers["Access-Control-Allow-Origin"] == "*"
                assert preflight.headers["Access-Control-Allow-Methods"] == "POST"
                assert "Authorization" in preflight.headers["Access-Control-Allow-Headers"]
            auth = {"Authorization": f"Bearer {API_KEY}", "Origin": "http://page.example"}
            async with http.post(base + messages.TOKEN_PATH, headers=auth) as token:
                assert token.status == 200
                assert token.headers["Access-Control-Allow-Origin"] == "*"
                body = await token.json()
                assert body["ws_url"] == f"ws://127.0.0.1:{server.port}/api/v1/sdk/ws"
            async with http.post(base + messages.HEARTBEAT_PATH, headers=auth) as beat:
                assert (beat.status, await beat.json()) == (200, {"status": "ok"})


# -- commands and secrets ----------------------------------------------------------------------


async def test_commands_the_protocol_lacks_raise_naming_provider_and_capability(serve_sim) -> None:
    async with serve_sim() as (_, config, _sim):
        async with voiceadapters.connect(config, api_key=API_KEY) as session:
            with pytest.raises(UnsupportedCommandError, match=r"binary-pcm.*text_input"):
                await session.send_text("hello")
            with pytest.raises(UnsupportedCommandError, match=r"binary-pcm.*client_interrupt"):
                await session.interrupt()
            with pytest.raises(UnsupportedCommandError, match=r"binary-pcm.*tool_calls"):
                await session.send_tool_result("call-1", {"ok": True})
            await session.send_audio(bytes(640))  # still usable


async def test_workbuddy_alias_connects_to_the_same_simulator(serve_sim) -> None:
    async with serve_sim() as (server, _, _sim):
        config = f"workbuddy://127.0.0.1:{server.port}?tls=false"
        async with voiceadapters.connect(config, api_key=API_KEY) as session:
            assert session.provider.name == "binary-pcm"
            assert isinstance(await asyncio.wait_for(session.next_event(), TIMEOUT), SessionStarted)


async def test_key_and_token_never_reach_logs_reprs_events_or_errors(serve_sim, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    pcm, _ = speech_sample()
    texts: list[str] = []
    async with serve_sim() as (_, config, sim):
        session = await voiceadapters.connect(config, api_key=API_KEY)
        result = await echo_run(session, pcm)
        texts += [repr(session), str(session.config), repr(session.config)]
        texts += [repr(e) for _, e in result.events] + [str(e) for _, e in result.events]
        texts += [repr(sim)] + [repr(c) for c in sim.connections]
        with pytest.raises(AuthenticationError) as info:
            await voiceadapters.connect(config, api_key=API_KEY + "-wrong")
        texts += [str(info.value), repr(info.value)]
    tokens = list(sim.grants)
    assert tokens, "a token was issued"
    everything = "\n".join(texts) + caplog.text
    assert API_KEY not in everything
    for token in tokens:
        assert token not in everything


def speech_sample_at(fmt: AudioFormat) -> bytes:
    from voiceadapters.audio import StreamConverter

    pcm, src = speech_sample()
    conv = StreamConverter(src, fmt)
    return conv.convert(pcm) + conv.flush()
