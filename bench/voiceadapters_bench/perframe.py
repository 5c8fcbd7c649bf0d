"""Per-frame CPU of the send and receive paths, with the sockets taken out.

The socket-level figures (:mod:`voiceadapters_bench.worker`) include the
kernel, ``websockets`` and the event loop, which floor and framework share,
and they move with whatever else the machine is doing. This measures only
what differs: the same :class:`~voiceadapters_bench.floor.FloorSession` and
:class:`~voiceadapters_bench.floor.FrameworkSession` code, with the
connection replaced by an in-process queue (receive) and a no-op (send), in
one process, best of three runs of a few thousand frames:

``path_send``
    µs of CPU per 20 ms application frame from ``send`` to the (no-op)
    WebSocket send: conversion, encoding and, for the framework, session,
    pipeline, command, codec and driver.
``path_recv``
    µs of CPU per wire message from the connection to the application's
    frames: decoding, conversion, re-framing and, for the framework, codec,
    pipeline, event queue and the wake-up of the application's task. The
    floor's message comes from a queue its reading task awaits, as
    ``websockets``' asyncio client delivers it; the framework's is pushed,
    as its Sans-I/O connection does. The cost of the loop turns themselves
    is measured and subtracted, so both paths count the same loop overhead.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any

from voiceadapters import AgentAudio, get_provider
from voiceadapters import connect as va_connect
from voiceadapters.handshake import Frame, HttpRequest, HttpResponse, WebSocketRequest
from voiceadapters.transports.base import Connection, Receiver, Transport

from .floor import FloorSession
from .profile import API_KEY, TOKEN, BenchProfile, tone_frame

__all__ = ["measure_paths"]


class _PushConnection(Connection):
    """Sends go nowhere (without waiting, as
    :class:`~voiceadapters.transports.websocket.SansIOWebSocket`'s do while
    the socket keeps up); what the harness puts in is pushed to the driver at
    once, as that connection pushes from ``data_received``."""

    def __init__(self) -> None:
        self._receiver: Receiver | None = None
        self._backlog: list[Frame] = []

    def put_nowait(self, frame: Frame) -> None:
        if self._receiver is None:
            self._backlog.append(frame)
        else:
            self._receiver.frame_received(frame)

    def set_receiver(self, receiver: Receiver) -> bool:
        self._receiver = receiver
        for frame in self._backlog:
            receiver.frame_received(frame)
        self._backlog.clear()
        return True

    async def send(self, frame: Frame) -> None:
        return None

    def send_nowait(self, frame: Frame) -> bool:
        return True  # as SansIOWebSocket's, while the socket keeps up

    async def recv(self) -> Frame:
        raise RuntimeError("this connection pushes")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        return None

    async def abort(self) -> None:
        return None


class _QueueTransport(Transport):
    """Answers every token request and opens ``conn``."""

    def __init__(self, conn: _PushConnection) -> None:
        self.conn = conn

    async def http(self, request: HttpRequest, *, provider: str) -> HttpResponse:
        body = {"token": TOKEN, "ws_url": "ws://127.0.0.1:9/ws"}
        return HttpResponse(200, json.dumps(body).encode())

    async def websocket(self, request: WebSocketRequest, *, provider: str) -> Connection:
        return self.conn


class _QueueWebSocket:
    """What :class:`FloorSession` needs of a ``websockets`` connection."""

    def __init__(self, inbox: asyncio.Queue[Frame]) -> None:
        self.inbox = inbox

    async def send(self, message: Frame) -> None:
        return None

    def __aiter__(self) -> _QueueWebSocket:
        return self

    async def __anext__(self) -> Frame:
        return await self.inbox.get()


async def _one(name: str, profile: BenchProfile, impl: str, frames: int) -> tuple[float, float]:
    inbox: asyncio.Queue[Frame] | _PushConnection = (
        _PushConnection() if impl == "framework" else asyncio.Queue()
    )
    for m in (*profile.open_messages, *profile.first_messages):
        inbox.put_nowait(m)
    message: Frame = profile.agent_audio(tone_frame(profile.wire_out))
    mic = tone_frame(16000)

    def deliver(pcm: bytes) -> None:
        return None

    if impl == "framework":
        provider = get_provider(name)
        config = provider.simulator_config("127.0.0.1", 9, provider.make_simulator(api_key=API_KEY))
        assert isinstance(inbox, _PushConnection)
        session = await va_connect(config, api_key=API_KEY, transport=_QueueTransport(inbox))

        async def consume() -> None:
            async for event in session:
                if isinstance(event, AgentAudio):
                    deliver(event.pcm)

        send: Callable[[bytes], Awaitable[None]] = session.send_audio
    else:
        assert isinstance(inbox, asyncio.Queue)
        floor = FloorSession(profile, "127.0.0.1", 9, 16000)
        floor.ws = _QueueWebSocket(inbox)  # type: ignore[assignment]

        async def consume() -> None:
            await floor.receive(deliver)

        send = floor.send
    reader = asyncio.get_running_loop().create_task(consume())

    async def turns(n: int, feed: bool) -> float:
        t0 = time.process_time()
        for _ in range(n):
            if feed:
                inbox.put_nowait(message)
            for _ in range(4):  # enough turns for every task the message wakes
                await asyncio.sleep(0)
        return time.process_time() - t0

    for _ in range(100):
        await send(mic)
    await turns(100, True)
    t0 = time.process_time()
    for _ in range(frames):
        await send(mic)
    send_us = 1e6 * (time.process_time() - t0) / frames
    idle = await turns(frames, False)
    recv_us = 1e6 * (await turns(frames, True) - idle) / frames
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader
    if impl == "framework":
        await session.close(timeout=0.1)
    return send_us, recv_us


def measure_paths(
    profiles: dict[str, BenchProfile], quick: bool = False
) -> dict[str, dict[str, Any]]:
    """``{provider: {"floor": {...}, "framework": {...}}}`` for each provider
    of ``profiles`` (µs per frame, best of three)."""
    frames = 300 if quick else 3000
    out: dict[str, dict[str, Any]] = {}
    for name, profile in profiles.items():
        out[name] = {}
        for impl in ("floor", "framework"):
            best = (math.inf, math.inf)
            for _ in range(1 if quick else 3):
                s, r = asyncio.run(_one(name, profile, impl, frames))
                best = (min(best[0], s), min(best[1], r))
            out[name][impl] = {"send_us": best[0], "recv_us": best[1]}
    return out
