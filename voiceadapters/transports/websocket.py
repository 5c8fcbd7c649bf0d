"""A WebSocket client on ``websockets``' Sans-I/O protocol, with push delivery.

``websockets``' asyncio client hands each message to a task that awaits
``recv()``. A session's driver would be that task, and the application's
own task reading events a second one: two task wake-ups per message. This
connection runs ``websockets.client.ClientProtocol`` (the protocol layer
that the asyncio client is built on: framing, masking, UTF-8 checks, size
limit, automatic pong and the closing handshake) under an
:class:`asyncio.Protocol`, and gives every message to a :class:`Receiver`
straight from ``data_received``. The codec runs there, and the only task
that wakes up is the application's. It follows ``websockets``' guide
"Integrate the Sans-I/O layer": feed received bytes, write
``data_to_send()`` after every change, close TCP when the protocol expects
it, and report the close the protocol saw.

Measured in the benchmark (``voiceadapters bench``; docs/benchmarks.md): a
minimal loop on this integration spends 12–15 % less CPU per session-second
than the same loop on ``websockets.asyncio.client``, and the session saves
the second task wake-up on top.

What the asyncio client did that is done here too: the opening handshake
(with the ``User-Agent`` and extra headers, TLS with certificate checks for
``wss://``, the open timeout), keepalive pings (``ping_interval`` /
``ping_timeout``; no pong in time fails the connection as 1011), write flow
control (:meth:`SansIOWebSocket.send` waits while the socket's buffer is
over its high-water mark) and a bounded closing handshake. HTTP proxies are
not: :class:`~voiceadapters.transports.network.NetworkTransport` uses
``websockets``' asyncio client when the environment configures a proxy for
the URL.
"""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
from collections import deque
from collections.abc import Callable
from typing import Any

from websockets.client import ClientProtocol
from websockets.frames import Frame as WsFrame
from websockets.frames import Opcode
from websockets.http11 import Request, Response
from websockets.protocol import State
from websockets.uri import parse_uri

from ..handshake import Frame
from .base import Connection, Receiver, TransportClosed

__all__ = ["SansIOWebSocket", "open_sansio_websocket"]

#: How long the closing handshake may take before the socket is dropped.
CLOSE_TIMEOUT = 5.0


class SansIOWebSocket(Connection, asyncio.Protocol):
    """One client WebSocket; see the module docstring. Open it with
    :func:`open_sansio_websocket`."""

    def __init__(
        self,
        protocol: ClientProtocol,
        *,
        ping_interval: float | None,
        ping_timeout: float | None,
        close_timeout: float = CLOSE_TIMEOUT,
    ) -> None:
        self._protocol = protocol
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._close_timeout = close_timeout
        self.opened: asyncio.Future[None] = self._loop.create_future()
        self._lost: asyncio.Future[None] = self._loop.create_future()
        self._receiver: Receiver | None = None
        # Messages (and the close) that arrive before a receiver is set,
        # or for recv() when none is.
        self._backlog: deque[Frame | TransportClosed] = deque()
        self._recv_waiter: asyncio.Future[None] | None = None
        self._closed: TransportClosed | None = None
        self._fragments: list[bytes] | None = None
        self._fragment_text = False
        self._paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._ping_timer: asyncio.TimerHandle | None = None
        self._ping_payload: bytes | None = None
        self._close_timer: asyncio.TimerHandle | None = None

    # -- asyncio.Protocol --------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport

    def data_received(self, data: bytes) -> None:
        self.last_received = self._loop.time()  # pings and pongs count (idle_timeout)
        protocol = self._protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        self._write()
        if protocol.close_expected():
            self._expect_close()
        for event in events:
            if type(event) is WsFrame:
                self._frame(event)
            elif isinstance(event, Response):
                self._handshake_done()

    def eof_received(self) -> bool | None:
        self._protocol.receive_eof()
        self._write()
        return None  # let asyncio close the transport

    def connection_lost(self, exc: Exception | None) -> None:
        protocol = self._protocol
        protocol.receive_eof()  # idempotent: the protocol's state becomes CLOSED
        self._cancel_timers()
        if not self.opened.done():
            self.opened.set_exception(
                protocol.handshake_exc
                or ConnectionError("the connection closed during the WebSocket handshake")
            )
        closed = TransportClosed(*self._close_info())
        self._closed = closed
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()
        if not self._lost.done():
            self._lost.set_result(None)
        self._dispatch(closed)

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        for waiter in self._drain_waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._drain_waiters.clear()

    # -- receiving -----------------------------------------------------------------

    async def handshake(self, request: Request) -> None:
        """Send the opening ``request``; return once the server accepted it."""
        self._protocol.send_request(request)
        self._write()
        await self.opened

    def _handshake_done(self) -> None:
        if self.opened.done():
            return
        exc = self._protocol.handshake_exc
        if exc is not None:
            self.opened.set_exception(exc)
            return
        self.opened.set_result(None)
        self._arm_ping(self._ping_interval)

    def _frame(self, frame: WsFrame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                data = bytes(frame.data)
                self._dispatch(data.decode() if opcode is Opcode.TEXT else data)
            else:
                self._fragments = [bytes(frame.data)]
                self._fragment_text = opcode is Opcode.TEXT
        elif opcode is Opcode.CONT:
            if self._fragments is None:
                return  # the protocol rejects a stray continuation before this point
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                data = b"".join(self._fragments)
                self._fragments = None
                self._dispatch(data.decode() if self._fragment_text else data)
        elif (
            opcode is Opcode.PONG
            and self._ping_payload is not None
            and bytes(frame.data) == self._ping_payload
        ):
            self._ping_payload = None
            self._arm_ping(self._ping_interval)

    def _dispatch(self, item: Frame | TransportClosed) -> None:
        receiver = self._receiver
        if receiver is not None:
            if type(item) is TransportClosed:
                receiver.connection_closed(item.code, item.reason)
            else:
                receiver.frame_received(item)  # type: ignore[arg-type]
            return
        self._backlog.append(item)
        waiter = self._recv_waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- Connection ------------------------------------------------------------------

    def set_receiver(self, receiver: Receiver) -> bool:
        self._receiver = receiver
        while self._backlog:  # what arrived before, in order
            self._dispatch(self._backlog.popleft())
        return True

    async def recv(self) -> Frame:
        while not self._backlog:
            if self._receiver is not None:
                raise RuntimeError("recv() on a connection that pushes to a receiver")
            self._recv_waiter = self._loop.create_future()
            try:
                await self._recv_waiter
            finally:
                self._recv_waiter = None
        item = self._backlog[0]
        if type(item) is TransportClosed:
            raise item  # every later recv() sees the close too
        self._backlog.popleft()
        return item  # type: ignore[return-value]

    async def send(self, frame: Frame) -> None:
        if self._closed is not None or self._protocol.state is not State.OPEN:
            raise self._closed or TransportClosed(*self._close_info())
        if type(frame) is str:
            self._protocol.send_text(frame.encode())
        else:
            self._protocol.send_binary(frame)  # type: ignore[arg-type]
        self._write()
        if self._paused:
            waiter = self._loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def send_nowait(self, frame: Frame) -> bool:
        # send() without the coroutine; paused (the write buffer is above
        # its high-water mark), closing or closed, send() decides instead.
        if self._paused or self._closed is not None or self._protocol.state is not State.OPEN:
            return False
        if type(frame) is str:
            self._protocol.send_text(frame.encode())
        else:
            self._protocol.send_binary(frame)  # type: ignore[arg-type]
        self._write()
        return True

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if self._transport is None or self._lost.done():
            return
        if self._protocol.state is State.OPEN:
            self._protocol.send_close(code, reason)
            self._write()
            self._expect_close()
        try:
            await asyncio.wait_for(asyncio.shield(self._lost), self._close_timeout + 1.0)
        except asyncio.TimeoutError:
            self._transport.abort()

    async def abort(self) -> None:
        if self._transport is not None:
            self._transport.abort()

    # -- internals -------------------------------------------------------------------

    def _close_info(self) -> tuple[int | None, str]:
        """The close the protocol saw: the peer's close frame; else, when this
        side *failed* the connection (RFC 6455 §7.1.7: 1009 for a message over
        ``max_size``, 1011 for a keepalive timeout, 1002/1007 for bad frames),
        the close frame it sent, whose reason says why — a failing client
        ignores the server's answer, so ``close_rcvd`` stays empty; else
        ``(None, "")``: the connection dropped."""
        protocol = self._protocol
        rcvd = protocol.close_rcvd
        if rcvd is not None:
            return rcvd.code, rcvd.reason
        sent = protocol.close_sent
        if sent is not None and sent.code != 1000:
            return sent.code, sent.reason
        return None, ""

    def _write(self) -> None:
        transport = self._transport
        if transport is None:
            return
        for data in self._protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():
                transport.write_eof()

    def _expect_close(self) -> None:
        """The protocol expects TCP to close: give the peer ``close_timeout`` to do it."""
        if self._close_timer is None and self._transport is not None:
            self._close_timer = self._loop.call_later(self._close_timeout, self._transport.abort)

    def _arm_ping(self, delay: float | None) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        if delay is not None and self._closed is None:
            self._ping_timer = self._loop.call_later(delay, self._ping)

    def _ping(self) -> None:
        """Keepalive (RFC 6455 §5.5.2), as ``websockets`` does it: a ping every
        ``ping_interval``; no pong within ``ping_timeout`` fails the connection."""
        self._ping_timer = None
        if self._protocol.state is not State.OPEN:
            return
        self._ping_payload = os.urandom(4)
        self._protocol.send_ping(self._ping_payload)
        self._write()
        if self._ping_timeout is not None:
            self._ping_timer = self._loop.call_later(self._ping_timeout, self._ping_lost)

    def _ping_lost(self) -> None:
        self._ping_timer = None
        if self._protocol.state is State.OPEN:
            self._protocol.fail(1011, "keepalive ping timeout")
            self._write()
        if self._transport is not None:
            self._transport.abort()

    def _cancel_timers(self) -> None:
        for timer in (self._ping_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        self._ping_timer = self._close_timer = None


async def open_sansio_websocket(
    url: str,
    *,
    headers: dict[str, str],
    max_size: int | None,
    ping_interval: float | None,
    ping_timeout: float | None,
    logger: logging.Logger | logging.LoggerAdapter[Any],
) -> SansIOWebSocket:
    """Open ``url`` and run the opening handshake (no timeout here: the caller
    bounds it). Raises ``OSError`` for the TCP/TLS connection and the
    handshake's ``websockets.exceptions.InvalidHandshake`` subclasses (with
    ``InvalidStatus`` for a refusal) as ``websockets.asyncio.client.connect``
    does."""
    uri = parse_uri(url)
    protocol = ClientProtocol(uri, max_size=max_size, logger=logger)
    request = protocol.connect()
    for name, value in headers.items():
        request.headers[name] = value
    if "User-Agent" not in request.headers:
        request.headers["User-Agent"] = "voiceadapters"
    loop = asyncio.get_running_loop()
    factory: Callable[[], SansIOWebSocket] = lambda: SansIOWebSocket(  # noqa: E731
        protocol, ping_interval=ping_interval, ping_timeout=ping_timeout
    )
    tls = ssl.create_default_context() if uri.secure else None
    _, conn = await loop.create_connection(
        factory, uri.host, uri.port, ssl=tls, server_hostname=uri.host if tls else None
    )
    try:
        await conn.handshake(request)
    except BaseException:
        await conn.abort()
        raise
    return conn
