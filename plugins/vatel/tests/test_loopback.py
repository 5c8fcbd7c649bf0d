"""The Vatel adapter end to end over real HTTP and WebSocket on 127.0.0.1.

Every test runs the session API against the Vatel simulator (or, for faults
the simulator cannot produce, a tiny aiohttp server) on loopback. Audio is
streamed faster than real time; the simulator's VAD runs on the audio's own
timeline, so the result is the same.
"""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

import voiceadapters
from voiceadapters import AudioFormat
from voiceadapters.audio import best_alignment, pcm_to_array
from voiceadapters.errors import (
    AuthenticationError,
    HandshakeTimeout,
    SessionClosedError,
    TokenRequestError,
    UnsupportedCommandError,
    WebSocketRejected,
)
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    Interruption,
    ProviderError,
    SessionEnded,
    SessionStarted,
    ToolCall,
    UnknownMessage,
)
from voiceadapters.runner import stream_recording
from voiceadapters.testing import speech_sample

pytestmark = pytest.mark.network

TIMEOUT = 30
#: The loopback simulator's key (conftest.LOOPBACK_KEY); it must never show up in any output.
SECRET_KEY = "sk-test-DO-NOT-LEAK-7f3a9c1e5b"


def types(events: list) -> list[str]:  # type: ignore[type-arg]
    return [e.type for e in events]


async def run_turn(session: voiceadapters.Session, **kwargs):  # type: ignore[no-untyped-def]
    pcm, _ = speech_sample()
    return await asyncio.wait_for(
        stream_recording(session, pcm, realtime=False, idle_timeout=1.0, **kwargs), TIMEOUT
    )


@pytest.mark.parametrize("app_rate", [16000, 24000, 48000])
async def test_echo_session_round_trips_speech_with_high_fidelity(serve_sim, app_rate: int) -> None:
    pcm16, fmt16 = speech_sample()
    fmt = AudioFormat(app_rate)
    from voiceadapters.audio import StreamConverter

    conv = StreamConverter(fmt16, fmt)
    pcm = conv.convert(pcm16) + conv.flush()
    async with serve_sim() as (_, config, _sim):
        session = await voiceadapters.connect(
            config, api_key=SECRET_KEY, input_format=fmt, output_format=fmt
        )
        result = await asyncio.wait_for(
            stream_recording(session, pcm, realtime=False, idle_timeout=1.0), TIMEOUT
        )
    kinds = types([e for _, e in result.events])
    assert kinds[0] == "session_started"
    assert kinds[-1] == "session_ended"
    for expected in (
        "user_speech_started",
        "user_transcript",
        "user_speech_stopped",
        "agent_text",
        "agent_audio",
        "agent_audio_done",
    ):
        assert expected in kinds
    assert result.ended is not None and result.ended.reason == "client_closed"
    audio = [e for _, e in result.events if isinstance(e, AgentAudio)]
    assert all(e.format == fmt for e in audio)
    assert all(len(e.pcm) == fmt.bytes_for(0.02) for e in audio[:-1])
    _, ncc = best_alignment(pcm_to_array(pcm), pcm_to_array(bytes(result.agent_audio)))
    assert ncc >= 0.9


async def test_agent_text_accumulates_and_the_last_is_final(serve_sim) -> None:
    async with serve_sim() as (_, config, _sim):
        result = await run_turn(await voiceadapters.connect(config, api_key=SECRET_KEY))
    texts = [e for _, e in result.events if e.type == "agent_text"]
    assert texts and texts[-1].final
    assert texts[-1].text.startswith(texts[0].text)
    assert "".join(t.delta for t in texts) == texts[-1].text


async def test_tool_call_round_trip(serve_sim) -> None:
    async with serve_sim(scenario="tool_call") as (_, config, sim):
        session = await voiceadapters.connect(config, api_key=SECRET_KEY)
        result = await run_turn(session, tool_output={"table": "booked"})
    events = [e for _, e in result.events]
    calls = [e for e in events if isinstance(e, ToolCall)]
    assert len(calls) == 1
    assert isinstance(calls[0].arguments, dict) and calls[0].arguments
    outputs = [
        m
        for m in sim.connections[0].received_messages
        if isinstance(m, dict) and m.get("type") == "tool_call_output"
    ]
    assert outputs == [
        {
            "type": "tool_call_output",
            "data": {"toolCallId": calls[0].call_id, "output": '{"table":"booked"}'},
        }
    ]
    final_text = [e for e in events if e.type == "agent_text" and e.final]
    assert final_text and "booked" in final_text[-1].text
    assert any(isinstance(e, AgentAudioDone) for e in events)


async def test_barge_in_interrupts_and_no_audio_of_the_interrupted_turn_follows(serve_sim) -> None:
    pcm, fmt = speech_sample()
    async with serve_sim(scenario="barge_in", pace=1.0) as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key=SECRET_KEY)
        events = []
        # First utterance, then silence until the agent starts speaking.
        for i in range(0, len(pcm), 640):
            await session.send_audio(pcm[i : i + 640])
        await session.send_audio(bytes(fmt.bytes_for(0.8)))
        while True:
            event = await asyncio.wait_for(session.next_event(), TIMEOUT)
            events.append(event)
            if isinstance(event, AgentAudio):
                break
        # Barge in: the user speaks again over the agent (three echoes long).
        for i in range(0, len(pcm), 640):
            await session.send_audio(pcm[i : i + 640])
        while not any(isinstance(e, Interruption) for e in events):
            events.append(await asyncio.wait_for(session.next_event(), TIMEOUT))
        interrupted = next(e for e in events if isinstance(e, Interruption)).turn_id
        assert interrupted is not None
        await session.send_audio(bytes(fmt.bytes_for(1.0)))
        await asyncio.sleep(0.5)
        await session.close()
        events += [e async for e in session]
    after = events[events.index(next(e for e in events if isinstance(e, Interruption))) :]
    assert not [e for e in after if isinstance(e, AgentAudio) and e.turn_id == interrupted]
    assert not [e for e in after if isinstance(e, AgentAudioDone) and e.turn_id == interrupted]


async def test_malformed_and_unknown_server_messages_become_events_and_the_session_goes_on(
    serve_sim,
) -> None:
    async with serve_sim(scenario="malformed") as (_, config, _sim):
        result = await run_turn(await voiceadapters.connect(config, api_key=SECRET_KEY))
    events = [e for _, e in result.events]
    codes = {e.code for e in events if isinstance(e, ProviderError)}
    assert {"malformed_json", "malformed_audio", "odd_length_audio"} <= codes
    assert any(isinstance(e, UnknownMessage) for e in events)
    assert not any(isinstance(e, ProviderError) and e.fatal for e in events)
    # ... and the turn still completed.
    assert any(isinstance(e, AgentAudioDone) for e in events)
    assert result.ended is not None and result.ended.reason == "client_closed"


async def test_with_reconnect_off_a_dropped_connection_ends_with_connection_lost(
    serve_sim,
) -> None:
    async with serve_sim(scenario="drop") as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key=SECRET_KEY, reconnect=False)
        result = await run_turn(session)
    assert result.ended is not None
    assert result.ended.reason == "connection_lost"
    assert result.ended.close_code is None


async def test_with_reconnect_off_server_shutdown_ends_the_session(serve_sim) -> None:
    async with serve_sim() as (server, config, _sim):
        session = await voiceadapters.connect(config, api_key=SECRET_KEY, reconnect=False)
        assert isinstance(await asyncio.wait_for(session.next_event(), TIMEOUT), SessionStarted)
        await server.stop()
        events = [e async for e in session]
    assert isinstance(events[-1], SessionEnded)
    assert events[-1].reason == "server_shutdown"
    assert events[-1].close_code == 1001


async def test_provider_session_ended_message_ends_with_completed(serve_sim) -> None:
    async with serve_sim(scenario="server_shutdown") as (_, config, _sim):
        result = await run_turn(await voiceadapters.connect(config, api_key=SECRET_KEY))
    assert result.ended is not None and result.ended.reason == "completed"


async def test_commands_the_provider_lacks_raise_naming_provider_and_capability(serve_sim) -> None:
    async with serve_sim() as (_, config, _sim):
        async with voiceadapters.connect(config, api_key=SECRET_KEY) as session:
            with pytest.raises(UnsupportedCommandError, match=r"vatel.*text_input"):
                await session.send_text("hello")
            with pytest.raises(UnsupportedCommandError, match=r"vatel.*client_interrupt"):
                await session.interrupt()
            # The session is still usable.
            await session.send_audio(bytes(640))


async def test_odd_byte_count_from_the_application_raises_and_consumes_nothing(serve_sim) -> None:
    async with serve_sim() as (_, config, _sim):
        async with voiceadapters.connect(config, api_key=SECRET_KEY) as session:
            with pytest.raises(voiceadapters.AudioFormatError, match="641 bytes"):
                await session.send_audio(bytes(641))
            assert session.stats.audio_bytes_sent == 0
            await session.send_audio(bytes(640))
            assert session.stats.audio_bytes_sent == 640


async def test_commands_after_the_end_raise_session_closed(serve_sim) -> None:
    async with serve_sim() as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key=SECRET_KEY)
        ended = await session.close()
        assert ended.reason == "client_closed"
        with pytest.raises(SessionClosedError):
            await session.send_audio(bytes(640))
        assert (await session.close()).reason == "client_closed"  # idempotent


# -- token endpoint failures ------------------------------------------------------


async def test_wrong_api_key_is_an_authentication_error_with_status_and_message(serve_sim) -> None:
    async with serve_sim() as (_, config, _sim):
        with pytest.raises(AuthenticationError) as info:
            await voiceadapters.connect(config, api_key="sk-wrong-key-123")
    assert info.value.status == 401
    assert "401" in str(info.value) and info.value.provider_message
    assert "sk-wrong-key-123" not in str(info.value)


async def test_unknown_agent_is_a_404_token_error(serve_sim) -> None:
    async with serve_sim() as (server, _, _sim):
        config = f"vatel://127.0.0.1:{server.port}?tls=false&agent_id=00000000-0000-4000-8000-00000000dead"
        with pytest.raises(TokenRequestError) as info:
            await voiceadapters.connect(config, api_key=SECRET_KEY)
    assert info.value.status == 404 and "404" in str(info.value)
    assert not isinstance(info.value, AuthenticationError)


async def test_token_endpoint_500_is_a_token_error_with_the_provider_message(serve_sim) -> None:
    async with serve_sim(scenario="token_500") as (_, config, _sim):
        with pytest.raises(TokenRequestError) as info:
            await voiceadapters.connect(config, api_key=SECRET_KEY)
    assert info.value.status == 500 and info.value.provider_message


async def _fake_token_server(handler) -> tuple[web.AppRunner, int]:  # type: ignore[no-untyped-def]
    app = web.Application()
    app.router.add_post("/v1/session-token", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    return runner, port


@pytest.mark.parametrize(
    "status, body, error, fragment",
    [
        (
            403,
            {"error": "agent belongs to another organization"},
            AuthenticationError,
            "agent belongs to another organization",
        ),
        (200, "<html>oops</html>", TokenRequestError, "JSON"),
        (200, {"no_token": True}, TokenRequestError, "token"),
        (502, "", TokenRequestError, "502"),
    ],
)
async def test_token_endpoint_answers_become_typed_errors(status, body, error, fragment) -> None:  # type: ignore[no-untyped-def]
    async def handler(request: web.Request) -> web.Response:
        if isinstance(body, dict):
            return web.json_response(body, status=status)
        return web.Response(text=body, status=status, content_type="text/html")

    runner, port = await _fake_token_server(handler)
    try:
        with pytest.raises(error) as info:
            await voiceadapters.connect(
                f"vatel://127.0.0.1:{port}?tls=false&agent_id=a", api_key=SECRET_KEY
            )
    finally:
        await runner.cleanup()
    assert fragment in str(info.value)
    assert info.value.status == status
    assert SECRET_KEY not in str(info.value)


async def test_token_endpoint_timeout_is_a_handshake_timeout() -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.Response:
        await release.wait()
        return web.json_response({"token": "late"})

    runner, port = await _fake_token_server(handler)
    try:
        with pytest.raises(HandshakeTimeout, match=r"0\.3 s"):
            await voiceadapters.connect(
                f"vatel://127.0.0.1:{port}?tls=false&agent_id=a&timeout=0.3", api_key=SECRET_KEY
            )
    finally:
        release.set()
        await runner.cleanup()


async def test_websocket_rejected_when_the_token_is_refused(serve_sim) -> None:
    # A token endpoint that issues a token the WebSocket endpoint does not know.
    async with serve_sim() as (server, _, _sim):

        async def handler(request: web.Request) -> web.Response:
            return web.json_response({"token": "forged-token"})

        runner, port = await _fake_token_server(handler)
        try:
            # Point HTTP at the forger and the WebSocket at the simulator: the
            # simulator refuses the forged token with HTTP 401 on upgrade.
            from voiceadapters.transports.network import NetworkTransport

            class Split(NetworkTransport):
                async def http(self, request, *, provider):  # type: ignore[no-untyped-def]
                    from dataclasses import replace

                    url = request.url.replace(f":{server.port}", f":{port}")
                    return await super().http(replace(request, url=url), provider=provider)

            with pytest.raises(WebSocketRejected) as info:
                await voiceadapters.connect(
                    f"vatel://127.0.0.1:{server.port}?tls=false&agent_id=a",
                    api_key=SECRET_KEY,
                    transport=Split(),
                )
        finally:
            await runner.cleanup()
    assert info.value.status in (400, 401)
    assert "forged-token" not in str(info.value)


async def test_connection_refused_is_a_connect_error(serve_sim) -> None:
    async with serve_sim() as (_server, config, _sim):
        pass  # stopped: the port is closed now
    with pytest.raises(voiceadapters.ConnectError):
        await voiceadapters.connect(config, api_key=SECRET_KEY)


# -- secrets --------------------------------------------------------------------


async def test_key_and_token_never_reach_logs_reprs_or_events(serve_sim, caplog) -> None:  # type: ignore[no-untyped-def]
    caplog.set_level(logging.DEBUG)
    async with serve_sim() as (_, config, sim):
        session = await voiceadapters.connect(config, api_key=SECRET_KEY)
        result = await run_turn(session)
        texts = [repr(session), str(session.config), repr(session.config)]
        texts += [repr(e) for _, e in result.events]
        texts += [repr(r) for r in sim.connections]
    tokens = list(sim.grants)
    assert tokens, "the simulator issued a token"
    everything = "\n".join(texts) + caplog.text
    assert SECRET_KEY not in everything
    for token in tokens:
        assert token not in everything


@pytest.mark.parametrize("network", [False, True], ids=["memory", "loopback"])
async def test_a_plugin_bug_ends_the_session_with_error_not_connection_lost(network: bool) -> None:
    # Memory connections are read by the driver's task; network ones push
    # each message from the event loop: both paths must end the same way.
    from voiceadapters.provider import Provider
    from voiceadapters.registry import Registry
    from voiceadapters.testing import serve_simulator
    from voiceadapters.transports.memory import MemoryTransport
    from voiceadapters_vatel import VatelCodec, VatelProvider

    class Buggy(VatelCodec):
        def receive_frame(self, frame):  # type: ignore[no-untyped-def]
            raise KeyError("secret-looking frame content")

    class BuggyProvider(VatelProvider):
        name = "buggy-vatel"

        def make_codec(self, config):  # type: ignore[no-untyped-def]
            return Buggy(config)

    class Plugin:
        from voiceadapters.hookspecs import hookimpl

        @hookimpl
        def voiceadapters_providers(self) -> list[Provider]:
            return [BuggyProvider()]

    registry = Registry(group="voiceadapters.tests.none")
    registry.register_plugin(Plugin())
    provider = registry.get("buggy-vatel")
    if network:
        async with serve_simulator(provider, api_key=SECRET_KEY) as (_, config, _sim):
            session = await voiceadapters.connect(config, api_key=SECRET_KEY, registry=registry)
            events = [e async for e in session]
            await asyncio.wait_for(session.close(), TIMEOUT)
    else:
        simulator = provider.make_simulator(api_key=SECRET_KEY, pace=0)
        config = provider.simulator_config("127.0.0.1", 1, simulator)  # buggy-vatel://…
        session = await voiceadapters.connect(
            config, api_key=SECRET_KEY, transport=MemoryTransport(simulator), registry=registry
        )
        events = [e async for e in session]
        await session.close()
    assert [e.type for e in events].count("session_ended") == 1
    error = next(e for e in events if isinstance(e, ProviderError))
    assert error.fatal and error.code == "codec_error" and "KeyError" in error.message
    assert "secret-looking" not in error.message
    assert isinstance(events[-1], SessionEnded) and events[-1].reason == "error"
