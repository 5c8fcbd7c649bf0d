"""The one asyncio loop around a codec (design §2; after websockets'
``asyncio/connection.py``).

The :class:`Driver` executes the codec's handshake steps through a
:class:`~voiceadapters.transports.base.Transport`, then runs the steady state:

* every received message goes to ``codec.receive_frame`` and the close to
  ``codec.receive_closed``: pushed by the connection from the event loop
  when it can (:meth:`~voiceadapters.transports.base.Connection.set_receiver`),
  else read by a reader task;
* :meth:`Driver.command` feeds the application's commands to ``codec.handle_command``;
* a timer (``loop.call_at``) calls ``codec.handle_timer(now)`` when the codec
  asks for it, with the loop's monotonic clock;
* after **every** input, events are drained and handed to ``on_events``
  synchronously (so their order is the codec's order), and frames are
  drained into one outbox that is sent in order (so their order is the
  codec's order too, whichever task or callback produced them).

When the codec has emitted ``session_ended`` the driver closes the
connection (if the peer has not) and stops.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from .codec import Codec
from .commands import Command
from .errors import HandshakeTimeout
from .events import Event, ProviderError, SessionEnded
from .frames import CloseFrame, Frame, OutFrame
from .handshake import HttpRequest
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
        self._outbox: deque[OutFrame] = deque()
        self._sending = False  # a task is sending the outbox
        self._send_idle: list[asyncio.Future[None]] = []  # tasks waiting for it to finish
        self._reader: asyncio.Task[None] | None = None
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self._background: set[asyncio.Task[None]] = set()
        self._finishing = False
        self._failed = False  # the codec raised: no more input reaches it
        self.done = asyncio.Event()

    # -- handshake ---------------------------------------------------------

    async def open(self) -> None:
        """Run the handshake; raises :class:`~voiceadapters.errors.ConnectError`
        subclasses when it fails (the driver is then done: :meth:`wait_closed`
        returns at once)."""
        try:
            await self._open()
        except BaseException:
            self.done.set()
            raise

    async def _open(self) -> None:
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
            self._drain_events()
            await self._flush()
            break
        conn = self._conn
        assert conn is not None
        if not conn.set_receiver(self):
            self._reader = self._loop.create_task(self._read_loop())

    # -- steady state --------------------------------------------------------

    async def command(self, command: Command) -> None:
        """Feed ``command`` to the codec and send what it produced.

        Raises what ``codec.handle_command`` raises (the caller's misuse), nothing else:
        a connection that is gone shows up as ``session_ended``.
        """
        codec = self.codec
        codec.handle_command(command)
        self._drain_events()
        # _flush() inlined: this runs for every 20 ms of microphone audio.
        frames = codec.frames_to_send()
        if frames:
            self._outbox.extend(frames)
            await self._send_outbox()
        self._arm_timer()

    def frame_received(self, frame: Frame) -> None:
        """A message from the provider (the connection's push, or the reader task)."""
        codec = self.codec
        if codec.ended or self._failed:
            return
        try:
            codec.receive_frame(frame)
            self._drain_events()
        except Exception as exc:  # a bug in a codec must not hang the application
            # (nor escape into the socket's data_received, which would drop
            # the connection with nothing said about why)
            self._codec_failed(exc)
            return
        self._after_callback_input()

    def connection_closed(self, code: int | None, reason: str) -> None:
        """The connection is gone (the connection's push, or the reader task)."""
        codec = self.codec
        if not codec.ended and not self._failed:
            try:
                codec.receive_closed(code, reason)
            except Exception as exc:
                self._codec_failed(exc)
                return
            self._drain_events()
        self._spawn(self._finish())

    def _codec_failed(self, exc: Exception) -> None:
        self._failed = True
        log.error("%s: codec failed; ending the session", self.codec.provider, exc_info=exc)
        self._drain_events()  # whatever the codec produced before it failed
        # Only the exception's type: its message may quote provider frames.
        name = type(exc).__name__
        self._on_events(
            [
                ProviderError(
                    code="codec_error",
                    message=f"the {self.codec.provider} plugin failed ({name}); see the log",
                    fatal=True,
                ),
                SessionEnded(reason="error", provider_reason="codec_error"),
            ]
        )
        self._spawn(self._finish())

    async def _read_loop(self) -> None:
        """For connections that cannot push: read, and hand each message over."""
        conn = self._conn
        assert conn is not None
        codec = self.codec
        try:
            while not codec.ended and not self._failed and not self._finishing:
                try:
                    frame = await conn.recv()
                except TransportClosed as closed:
                    self.connection_closed(closed.code, closed.reason)
                    return
                self.frame_received(frame)
        finally:
            if codec.ended or self._failed or self._finishing:
                await self._finish()

    async def _finish(self) -> None:
        if self._finishing:
            return
        self._finishing = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._outbox:  # the codec's last words (a close frame, say)
            await self._send_outbox()
        conn = self._conn
        if conn is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.close(1000, ""), CLOSE_TIMEOUT)
        self.done.set()

    async def _flush(self) -> None:
        """Send every frame the codec queued, in order, then re-arm the timer."""
        frames = self.codec.frames_to_send()
        if frames:
            self._outbox.extend(frames)
            await self._send_outbox()
        self._arm_timer()

    async def _send_outbox(self) -> None:
        """Send the outbox, oldest first.

        Frames enter the outbox synchronously, in the codec's order, whoever
        produced them (a command, a received message, a timer). One task at
        a time sends, and it sends all of them, including those added while
        it waits for the socket; a caller that finds a sender at work waits
        for it to finish. So a caller returns once its own frames went out,
        by its hand or another's. (A flag and futures rather than an
        ``asyncio.Lock``: uncontended, the lock's two coroutine calls cost
        0.47 µs per 20 ms of audio sent.)
        """
        outbox = self._outbox
        while outbox:
            if self._sending:
                idle = self._loop.create_future()
                self._send_idle.append(idle)
                await idle
                continue
            self._sending = True
            conn = self._conn
            try:
                while outbox:
                    frame = outbox.popleft()
                    if conn is None:
                        outbox.clear()
                        break
                    try:
                        if isinstance(frame, CloseFrame):
                            await asyncio.wait_for(
                                conn.close(frame.code, frame.reason), CLOSE_TIMEOUT
                            )
                        else:
                            await conn.send(frame)
                    except (TransportClosed, asyncio.TimeoutError):
                        # The connection reports the same close as session_ended.
                        outbox.clear()
                        break
            finally:
                self._sending = False
                for idle in self._send_idle:
                    if not idle.done():
                        idle.set_result(None)
                self._send_idle.clear()

    def _finish_if_ended(self) -> None:
        # A method, not an inline test: the codec's ``ended`` changes under
        # the calls above, which a type checker's narrowing cannot see.
        if self.codec.ended:
            self._spawn(self._finish())

    def _drain_events(self) -> None:
        events = self.codec.events_received()
        if events:
            self._on_events(events)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = self._loop.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

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
        codec = self.codec
        if codec.ended:
            return
        try:
            codec.handle_timer(self._loop.time())
            self._drain_events()
        except Exception as exc:
            self._codec_failed(exc)
            return
        self._after_callback_input()

    def _after_callback_input(self) -> None:
        """After an input fed outside any task (a pushed message, a timer):
        send what the codec queued from a task of its own, re-arm the timer,
        and finish if the codec ended. Most received messages need no reply,
        and then this spawns nothing."""
        frames = self.codec.frames_to_send()
        if frames:
            self._outbox.extend(frames)
            self._spawn(self._send_outbox())
        self._arm_timer()
        self._finish_if_ended()

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
