"""The one asyncio loop around a codec (design §2; after websockets'
``asyncio/connection.py``).

The :class:`Driver` executes the codec's handshake steps through a
:class:`~voiceadapters.transports.base.Transport`, then runs the steady state:

* a reader task feeds every received message to ``codec.receive_frame`` and
  the close to ``codec.receive_closed``;
* :meth:`Driver.command` feeds the application's commands to ``codec.send``;
* a timer (``loop.call_at``) calls ``codec.handle_timer(now)`` when the codec
  asks for it, with the loop's monotonic clock;
* after **every** input, events are drained and handed to ``on_events``
  synchronously (so their order is the codec's order), and frames are
  drained and sent under one lock (so their order is the codec's order too).

When the codec has emitted ``session_ended`` the driver closes the
connection (if the peer has not) and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from .codec import Codec
from .commands import Command
from .errors import HandshakeTimeout
from .events import Event, ProviderError, SessionEnded
from .handshake import CloseFrame, HttpRequest
from .transports.base import Connection, Transport, TransportClosed

__all__ = ["Driver"]

log = logging.getLogger("voiceadapters.driver")

#: How long to wait for the peer's side of the closing handshake.
CLOSE_TIMEOUT = 5.0


class Driver:
    """Runs ``codec`` over ``transport``; events go to ``on_events``."""

    def __init__(
        self,
        codec: Codec,
        transport: Transport,
        on_events: Callable[[list[Event]], None],
    ) -> None:
        self.codec = codec
        self.transport = transport
        self._on_events = on_events
        self._loop = asyncio.get_running_loop()
        self._conn: Connection | None = None
        self._send_lock = asyncio.Lock()
        self._reader: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._background: set[asyncio.Task[None]] = set()
        self.done = asyncio.Event()

    # -- handshake ---------------------------------------------------------

    async def open(self) -> None:
        """Run the handshake; raises :class:`~voiceadapters.errors.ConnectError`
        subclasses when it fails."""
        codec = self.codec
        while True:
            step = codec.handshake_step()
            if step is None:
                break
            if isinstance(step, HttpRequest):
                response = await self.transport.http(step, provider=codec.provider)
                codec.receive_http_response(response)
                continue
            try:
                self._conn = await asyncio.wait_for(
                    self.transport.websocket(step, provider=codec.provider),
                    timeout=step.open_timeout + 1.0,
                )
            except asyncio.TimeoutError:
                raise HandshakeTimeout(
                    f"{codec.provider}: WebSocket {step.describe()} did not open "
                    f"within {step.open_timeout:g} s"
                ) from None
            codec.connection_opened()
            codec.handle_timer(self._loop.time())
            self._deliver()
            await self._flush()
            break
        self._reader = self._loop.create_task(self._read_loop())

    # -- steady state --------------------------------------------------------

    async def command(self, command: Command) -> None:
        """Feed ``command`` to the codec and send what it produced.

        Raises what ``codec.send`` raises (the caller's misuse), nothing else:
        a connection that is gone shows up as ``session_ended``.
        """
        self.codec.send(command)
        self._deliver()
        await self._flush()

    async def _read_loop(self) -> None:
        conn = self._conn
        assert conn is not None
        codec = self.codec
        try:
            while not codec.ended:
                try:
                    frame = await conn.recv()
                except TransportClosed as closed:
                    codec.receive_closed(closed.code, closed.reason)
                    self._deliver()
                    break
                codec.receive_frame(frame)
                self._deliver()
                await self._flush()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug in a codec must not hang the application
            log.exception("%s: codec failed; ending the session", codec.provider)
            self._deliver()  # whatever the codec produced before it failed
            # Only the exception's type: its message may quote provider frames.
            name = type(exc).__name__
            self._on_events(
                [
                    ProviderError(
                        code="codec_error",
                        message=f"the {codec.provider} plugin failed ({name}); see the log",
                        fatal=True,
                    ),
                    SessionEnded(reason="error", provider_reason="codec_error"),
                ]
            )
        finally:
            await self._finish()

    async def _finish(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(1000, ""), CLOSE_TIMEOUT)
        self.done.set()

    async def _flush(self) -> None:
        """Send every frame the codec queued, in order, then re-arm the timer.

        The queue is drained before the lock is taken: most calls (one per
        received message) find nothing to send and then skip the lock, which
        costs more than the rest of this method. Order still holds when there
        is something to send: frames drained earlier belong to a task that is
        already holding or waiting for the lock, and ``asyncio.Lock`` wakes
        waiters first come, first served.
        """
        frames = self.codec.frames_to_send()
        if not frames:
            self._arm_timer()
            return
        conn = self._conn
        async with self._send_lock:
            for frame in frames:
                if conn is None:
                    break
                try:
                    if isinstance(frame, CloseFrame):
                        await asyncio.wait_for(conn.close(frame.code, frame.reason), CLOSE_TIMEOUT)
                    else:
                        await conn.send(frame)
                except (TransportClosed, asyncio.TimeoutError):
                    # The reader sees the same close and reports it as session_ended.
                    break
        self._arm_timer()

    def _deliver(self) -> None:
        events = self.codec.events_received()
        if events:
            self._on_events(events)

    # -- timers --------------------------------------------------------------

    def _arm_timer(self) -> None:
        deadline = None if self.codec.ended else self.codec.get_timer()
        if deadline == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._timer_at = deadline
        if deadline is not None:
            self._timer = self._loop.call_at(deadline, self._on_timer)

    def _on_timer(self) -> None:
        self._timer = None
        self._timer_at = None
        if self.codec.ended:
            return
        self.codec.handle_timer(self._loop.time())
        self._deliver()
        task = self._loop.create_task(self._flush())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # -- shutdown ------------------------------------------------------------

    async def wait_closed(self, timeout: float | None = None) -> None:
        """Wait until the connection is closed and the reader stopped."""
        await asyncio.wait_for(self.done.wait(), timeout)

    async def abort(self) -> None:
        """Stop at once (used when the application leaves without closing)."""
        if self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.abort()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._reader
        self.done.set()
