"""An in-memory transport: a session talks to a simulator with no sockets.

The simulator is sans-I/O, so this transport is a few queues: messages the
session sends are fed to the simulator's connection at once; what the
simulator queues is put on the session's receive queue; a small task fires
the simulator's timers on the event loop's clock. It runs the whole stack
(session, driver, codec, simulator) without a network — handy in tests and
examples — while the network tests use the real thing.
"""

from __future__ import annotations

import asyncio

from ..errors import WebSocketRejected
from ..frames import CloseFrame, Frame
from ..handshake import HttpRequest, HttpResponse, WebSocketRequest
from ..simulator.base import DropConnection, SimRequest, Simulator, SimulatorConnection
from .base import Connection, Transport, TransportClosed

__all__ = ["MemoryConnection", "MemoryTransport"]

_Item = Frame | TransportClosed


class MemoryConnection(Connection):
    """The client end of an in-memory WebSocket to a simulator connection."""

    def __init__(self, server: SimulatorConnection) -> None:
        self.server = server
        self._loop = asyncio.get_running_loop()
        self._inbox: asyncio.Queue[_Item] = asyncio.Queue()
        self._closed: TransportClosed | None = None
        self._timer: asyncio.TimerHandle | None = None
        server.opened(self._loop.time())
        self._flush()

    def _flush(self) -> None:
        for out in self.server.frames_to_send():
            if self._closed is not None:
                break
            if isinstance(out, CloseFrame):
                self._finish(TransportClosed(out.code, out.reason))
            elif isinstance(out, DropConnection):
                self._finish(TransportClosed(None))
            else:
                self._inbox.put_nowait(out)
        self._schedule()

    def _finish(self, closed: TransportClosed) -> None:
        self._closed = closed
        self._inbox.put_nowait(closed)
        if self._timer is not None:
            self._timer.cancel()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._closed is not None or self.server.closed:
            return
        deadline = self.server.get_timer()
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._fire)

    def _fire(self) -> None:
        self._timer = None
        self.server.handle_timer(self._loop.time())
        self._flush()

    async def send(self, frame: Frame) -> None:
        if self._closed is not None:
            raise self._closed
        self.server.receive_frame(frame, self._loop.time())
        self._flush()
        await asyncio.sleep(0)

    async def recv(self) -> Frame:
        item = await self._inbox.get()
        if isinstance(item, TransportClosed):
            self._inbox.put_nowait(item)  # every later recv sees the close too
            raise item
        return item

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._closed is None:
            self.server.receive_closed(code, self._loop.time())
            # A server echoes the close code; it does not repeat our reason.
            self._finish(TransportClosed(code, ""))

    async def abort(self) -> None:
        if self._closed is None:
            self.server.receive_closed(None, self._loop.time())
            self._finish(TransportClosed(None))


class MemoryTransport(Transport):
    """Connects sessions to ``simulator`` in memory."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    async def http(self, request: HttpRequest, *, provider: str) -> HttpResponse:
        now = asyncio.get_running_loop().time()
        return self.simulator.handle_http(SimRequest.from_http(request), now)

    async def websocket(self, request: WebSocketRequest, *, provider: str) -> Connection:
        now = asyncio.get_running_loop().time()
        result = self.simulator.open_websocket(SimRequest.from_websocket(request), now)
        if isinstance(result, HttpResponse):
            raise WebSocketRejected(provider, result.status, result.text())
        return MemoryConnection(result)
