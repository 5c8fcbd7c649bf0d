"""Serve a :class:`~voiceadapters.simulator.base.Simulator` over real HTTP and
WebSocket with aiohttp, on loopback by default.

The host is the simulator's only I/O: it turns aiohttp requests into
:class:`SimRequest` values, runs each WebSocket connection's loop (receive,
timers from the event loop's monotonic clock, drain and send) and executes
:class:`~voiceadapters.handshake.CloseFrame` and
:class:`~voiceadapters.simulator.base.DropConnection`. It also runs the
simulator's :meth:`~voiceadapters.simulator.base.Simulator.services` (a media
room server, for a WebRTC transport) from :meth:`SimulatorServer.start` to
:meth:`SimulatorServer.stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from types import TracebackType
from typing import Any

from aiohttp import WSMsgType, web

from ..handshake import CloseFrame, HttpResponse
from .base import DropConnection, SimRequest, Simulator, SimulatorConnection

__all__ = ["SimulatorServer"]

log = logging.getLogger("voiceadapters.simulator")

#: Largest WebSocket message the simulators accept (NextEVI clients send whole
#: files in one message: protocols/nextevi.md §9.2).
MAX_MESSAGE = 64 * 1024 * 1024


class SimulatorServer:
    """Run ``simulator`` on ``host:port`` (port 0: any free port).

    Use as an async context manager, or call :meth:`start` / :meth:`stop`.
    """

    def __init__(self, simulator: Simulator, host: str = "127.0.0.1", port: int = 0) -> None:
        self.simulator = simulator
        self.host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._live: dict[SimulatorConnection, tuple[web.Request, web.WebSocketResponse]] = {}
        self._services = contextlib.AsyncExitStack()
        self._running: list[Any] = []

    @property
    def port(self) -> int:
        if self._runner is None:
            raise RuntimeError("server not started")
        return self._port

    async def start(self) -> None:
        app = web.Application(client_max_size=MAX_MESSAGE)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        # Bind the socket ourselves so that port 0 resolves to a known port.
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = sock.getsockname()[1]
        site = web.SockSite(self._runner, sock)
        await site.start()
        try:
            for service in self.simulator.services():
                await self._services.enter_async_context(service)
                self._running.append(service)
        except BaseException:
            await self.stop()
            raise

    async def stop(self, close_code: int = 1001) -> None:
        """Close every open WebSocket with ``close_code`` (1001: going away),
        stop the simulator's services, then stop."""
        for _, ws in list(self._live.values()):
            with contextlib.suppress(Exception):
                await ws.close(code=close_code, message=b"server shutdown")
        self._running.clear()
        await self._services.aclose()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def inject(self, conn: SimulatorConnection, frame: str | bytes | CloseFrame) -> None:
        """Send ``frame`` to the client of ``conn`` now, bypassing the protocol
        (fault injection for tests and conformance: malformed or unknown messages).
        A connection one of the simulator's services hosts (a media room) is
        handed to that service's ``inject(conn, frame)``."""
        service = self._service_of(conn)
        if service is not None:
            await service.inject(conn, frame)
            return
        _, ws = self._live[conn]
        if isinstance(frame, CloseFrame):
            await ws.close(code=frame.code, message=frame.reason.encode())
        elif isinstance(frame, str):
            await ws.send_str(frame)
        else:
            await ws.send_bytes(frame)

    async def drop(self, conn: SimulatorConnection) -> None:
        """Cut ``conn``'s TCP connection without a closing handshake (a lost
        network); a service's connection: that service's ``drop(conn)``."""
        service = self._service_of(conn)
        if service is not None:
            await service.drop(conn)
            return
        request, _ = self._live[conn]
        if request.transport is not None:
            request.transport.abort()

    def _service_of(self, conn: SimulatorConnection) -> Any:
        """The running service that hosts ``conn`` (one with
        ``hosts(conn) -> bool``, ``inject`` and ``drop``), if any."""
        if conn in self._live:
            return None
        for service in self._running:
            hosts = getattr(service, "hosts", None)
            if hosts is not None and hosts(conn):
                return service
        return None

    async def __aenter__(self) -> SimulatorServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- request handling --------------------------------------------------

    def _now(self) -> float:
        return asyncio.get_running_loop().time()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        sim_request = SimRequest(
            method=request.method,
            path=request.path,
            query={k: v for k, v in request.query.items()},
            headers={k.lower(): v for k, v in request.headers.items()},
            body=await request.read() if request.can_read_body else b"",
        )
        is_ws = request.headers.get("Upgrade", "").lower() == "websocket"
        if is_ws and any(request.path.startswith(p) for p in self.simulator.websocket_paths()):
            result = self.simulator.open_websocket(sim_request, self._now())
            if isinstance(result, HttpResponse):
                return _to_aiohttp(result)
            return await self._serve_websocket(request, result)
        return _to_aiohttp(self.simulator.handle_http(sim_request, self._now()))

    async def _serve_websocket(
        self, request: web.Request, conn: SimulatorConnection
    ) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE, compress=False, autoping=True)
        await ws.prepare(request)
        self._live[conn] = (request, ws)
        try:
            conn.opened(self._now())
            if not await self._flush(request, ws, conn):
                return ws
            while not conn.closed:
                deadline = conn.get_timer()
                now = self._now()
                if deadline is not None and deadline <= now:
                    # Due already. (Not receive(timeout=0): aiohttp reads 0 as "no timeout".)
                    conn.handle_timer(now)
                    if not await self._flush(request, ws, conn):
                        break
                    continue
                timeout = None if deadline is None else deadline - now
                try:
                    msg = await ws.receive(timeout=timeout)
                except asyncio.TimeoutError:
                    conn.handle_timer(self._now())
                    if not await self._flush(request, ws, conn):
                        break
                    continue
                if msg.type == WSMsgType.TEXT or msg.type == WSMsgType.BINARY:
                    conn.receive_frame(msg.data, self._now())
                elif msg.type in (WSMsgType.CLOSE, WSMsgType.CLOSING, WSMsgType.CLOSED):
                    conn.receive_closed(ws.close_code, self._now())
                    break
                else:  # ERROR
                    conn.receive_closed(None, self._now())
                    break
                if deadline is not None and self._now() >= deadline:
                    conn.handle_timer(self._now())
                if not await self._flush(request, ws, conn):
                    break
        except (ConnectionResetError, asyncio.CancelledError):
            conn.receive_closed(None, self._now())
        finally:
            self._live.pop(conn, None)
            if not ws.closed:
                with contextlib.suppress(Exception):
                    await ws.close()
        return ws

    async def _flush(
        self, request: web.Request, ws: web.WebSocketResponse, conn: SimulatorConnection
    ) -> bool:
        """Send what ``conn`` queued; False once the connection is closed or dropped."""
        for frame in conn.frames_to_send():
            try:
                if isinstance(frame, str):
                    await ws.send_str(frame)
                elif isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                elif isinstance(frame, CloseFrame):
                    await ws.close(code=frame.code, message=frame.reason.encode())
                    return False
                elif isinstance(frame, DropConnection):
                    if request.transport is not None:
                        request.transport.abort()
                    return False
            except ConnectionResetError:
                conn.receive_closed(None, self._now())
                return False
        return not ws.closed


def _to_aiohttp(response: HttpResponse) -> web.Response:
    return web.Response(status=response.status, body=response.body, headers=dict(response.headers))
