"""Reconnect: a lost connection is replaced, and the application is told.

Over real loopback, on the example plugin (the third-party path) served by
its simulator: the simulator's host cuts connections (``SimulatorServer.drop``),
restarts with another key, or goes away, and the tests check what the
application sees (:mod:`voiceadapters.reconnect`).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from voiceadapters import connect, get_provider
from voiceadapters.events import (
    AgentAudioDone,
    Event,
    ProviderError,
    SessionEnded,
    SessionResumed,
    SessionStarted,
    UserTranscript,
)
from voiceadapters.format import AudioFormat
from voiceadapters.reconnect import ReconnectPolicy
from voiceadapters.session import Session
from voiceadapters.simulator.base import Simulator
from voiceadapters.simulator.server import SimulatorServer
from voiceadapters.testing import speech_sample

pytestmark = pytest.mark.network

KEY = "reconnect-test-key"
FAST = ReconnectPolicy(initial_delay=0.05, max_delay=0.2, min_uptime=0.5, max_attempts=3)


@contextlib.asynccontextmanager
async def served(key: str = KEY, port: int = 0) -> AsyncIterator[tuple[SimulatorServer, str]]:
    provider = get_provider("example")
    simulator = provider.make_simulator(api_key=key, pace=0)
    async with SimulatorServer(simulator, "127.0.0.1", port) as server:
        yield server, provider.simulator_config("127.0.0.1", server.port, simulator)


async def collect_until(session: Session, kind: type[Event], timeout: float = 5.0) -> list[Event]:
    """Events up to and including the first ``kind`` (``TimeoutError`` otherwise)."""
    events: list[Event] = []

    async def collect() -> None:
        async for event in session:
            events.append(event)
            if isinstance(event, kind):
                return

    await asyncio.wait_for(collect(), timeout)
    return events


async def speak(session: Session) -> None:
    """The speech sample, then a second of silence, as fast as the session takes it."""
    pcm, fmt = speech_sample()
    data = pcm + bytes(fmt.bytes_for(1.0))
    frame = fmt.bytes_for(0.02)
    for i in range(0, len(data), frame):
        await session.send_audio(data[i : i + frame])


def live_connection(simulator: Simulator) -> object:
    return [c for c in simulator.connections if not c.closed][-1]


async def test_a_connection_dropped_mid_turn_resumes_and_the_next_turn_is_answered() -> None:
    async with served() as (server, config):
        async with connect(config, api_key=KEY, reconnect=FAST) as session:
            await collect_until(session, SessionStarted)
            await speak(session)
            await collect_until(session, UserTranscript)  # the agent is about to reply
            await server.drop(live_connection(server.simulator))  # type: ignore[arg-type]
            events = await collect_until(session, SessionResumed, timeout=2.0)
            resumed = events[-1]
            assert isinstance(resumed, SessionResumed)
            assert resumed.cause == "connection_lost" and resumed.close_code is None
            assert resumed.attempts == 1 and resumed.downtime < 2.0
            assert resumed.state_restored is False  # Parrot has no native resume
            assert not any(isinstance(e, SessionEnded) for e in events)
            # The new connection carries the next turn.
            await speak(session)
            later = await collect_until(session, AgentAudioDone)
            assert any(isinstance(e, UserTranscript) and e.final for e in later)
            assert session.stats.reconnects == 1
        assert len(server.simulator.connections) == 2


async def test_with_reconnect_off_a_dropped_connection_ends_the_session() -> None:
    async with served() as (server, config):
        async with connect(config + "&reconnect=false", api_key=KEY) as session:
            await collect_until(session, SessionStarted)
            await server.drop(live_connection(server.simulator))  # type: ignore[arg-type]
            ended = (await collect_until(session, SessionEnded))[-1]
            assert isinstance(ended, SessionEnded)
            assert (ended.reason, ended.close_code) == ("connection_lost", None)
        assert len(server.simulator.connections) == 1


async def test_a_provider_that_refuses_the_new_connection_ends_it_without_retrying() -> None:
    async with served() as (server, config):
        port = server.port
        session = await connect(config, api_key=KEY, reconnect=FAST)
        await collect_until(session, SessionStarted)
        await server.stop(close_code=1012)  # service restart ...
        async with served(key="another-key", port=port):  # ... back with another key
            events = await collect_until(session, SessionEnded)
        error, ended = events[-2:]
        assert isinstance(error, ProviderError) and error.code == "reconnect_failed"
        assert error.fatal and "401" in error.message
        assert "another-key" not in error.message and KEY not in error.message
        assert isinstance(ended, SessionEnded) and ended.close_code == 1012
        await session.close()


async def test_a_server_that_stays_away_ends_the_session_after_the_last_attempt() -> None:
    async with served() as (_server, config):
        session = await connect(config, api_key=KEY, reconnect=FAST)
        await collect_until(session, SessionStarted)
    # The server is gone: every attempt is refused at TCP level.
    events = await collect_until(session, SessionEnded, timeout=10.0)
    error, ended = events[-2:]
    assert isinstance(error, ProviderError) and error.code == "reconnect_failed"
    assert "3 connection attempts failed" in error.message
    assert isinstance(ended, SessionEnded) and ended.reason == "server_shutdown"
    assert ended.close_code == 1001
    await session.close()


async def test_connections_that_die_straight_after_opening_fail_fast() -> None:
    async with served() as (server, config):
        policy = ReconnectPolicy(initial_delay=0.01, max_delay=0.02, min_uptime=60, max_attempts=3)
        async with connect(config, api_key=KEY, reconnect=policy) as session:
            resumed = 0

            async def drop_each_new_connection() -> None:
                nonlocal resumed
                async for event in session:
                    if isinstance(event, SessionStarted | SessionResumed):
                        resumed += isinstance(event, SessionResumed)
                        await server.drop(live_connection(server.simulator))  # type: ignore[arg-type]

            await asyncio.wait_for(drop_each_new_connection(), 10)
            # Each new connection died within min_uptime: three of them, then no more.
            assert resumed == 2
            assert session.ended is not None and session.ended.reason == "connection_lost"
        assert len(server.simulator.connections) == 3


async def test_audio_sent_while_reconnecting_is_held_then_sent_and_the_excess_counted() -> None:
    fmt = AudioFormat(16000)  # Parrot's wire format too: the bytes count the same
    policy = ReconnectPolicy(initial_delay=0.05, max_delay=0.1, hold_audio=0.1, max_attempts=50)
    async with served() as (server, config):
        port = server.port
        session = await connect(config, api_key=KEY, reconnect=policy)
        await collect_until(session, SessionStarted)
        await server.stop(close_code=1012)  # a restart: nothing listens for a while
    await asyncio.sleep(0.05)
    chunk = bytes(fmt.bytes_for(0.02))
    for _ in range(10):  # 200 ms of audio while no connection is up
        await session.send_audio(chunk)
    async with served(port=port) as (restarted, _):
        await collect_until(session, SessionResumed)
        stats = session.stats
        # Nothing is lost without being counted: held and then sent, or dropped.
        assert stats.held_audio_bytes == fmt.bytes_for(0.1)
        assert stats.held_audio_bytes + stats.dropped_input_bytes == 10 * len(chunk)
        await asyncio.sleep(0.2)
        received = live_connection(restarted.simulator).received_audio  # type: ignore[attr-defined]
        assert len(received) >= stats.held_audio_bytes
        await session.close()


async def test_closing_while_reconnecting_ends_at_once_as_client_closed() -> None:
    policy = ReconnectPolicy(initial_delay=0.05, max_delay=0.1, max_attempts=1000)
    async with served() as (server, config):
        session = await connect(config, api_key=KEY, reconnect=policy)
        await collect_until(session, SessionStarted)
        await server.stop(close_code=1012)  # nothing listens: it keeps trying
    await asyncio.sleep(0.2)
    ended = await asyncio.wait_for(session.close(), 2)
    assert ended.reason == "client_closed"
    assert session.stats.reconnects == 0


async def test_a_session_rolls_over_before_the_session_cap() -> None:
    policy = ReconnectPolicy(rollover_margin=0.5)
    async with served() as (server, config):
        async with connect(config + "&max_session=2", api_key=KEY, reconnect=policy) as session:
            events = await collect_until(session, SessionResumed, timeout=4.0)
            resumed = events[-1]
            assert isinstance(resumed, SessionResumed)
            assert resumed.cause == "rollover" and resumed.downtime == 0.0
            assert [type(e) for e in events].count(SessionStarted) == 1
            await speak(session)
            later = await collect_until(session, AgentAudioDone)
            assert any(isinstance(e, UserTranscript) and e.final for e in later)
        first, second = server.simulator.connections[:2]
        assert first.closed and first.close_code == 1000  # closed by us, after the switch
        assert len(second.received_audio) > 0
