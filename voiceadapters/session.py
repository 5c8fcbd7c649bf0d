"""The application's view of a voice session.

::

    async with voiceadapters.connect("vatel://?agent_id=…") as session:
        await session.send_audio(pcm)          # app input format (default 16 kHz mono)
        async for event in session:            # normalized events, app output format
            ...

A :class:`Session` sits between the application and the :class:`~voiceadapters.driver.Driver`.
The pure part of its work — checking and converting microphone audio,
converting and re-framing agent audio, flushing at turn ends, fencing
interrupted turns — is :class:`~voiceadapters.pipeline.AudioPipeline`. The
session adds what needs the event loop:

* **fencing the queue**: on ``interruption``, queued but unread
  ``agent_audio`` of the interrupted turn is discarded, so none of it reaches
  the application;
* **bounded buffering**: events wait in a queue for the application. When the
  application falls behind by more than ``max_buffered_audio`` seconds of
  agent audio, the oldest *audio* events are dropped and counted in
  :attr:`Session.stats`; no other event is ever dropped;
* **reconnecting**: when the connection goes in a way a new one may
  continue (a drop, a server restart, a provider's session cap), the session
  opens a new one with a fresh handshake and reports ``session_resumed``
  (:mod:`voiceadapters.reconnect`);
* **measuring**: connect times, per-turn latencies and dropped audio
  (:attr:`Session.metrics`, :mod:`voiceadapters.metrics`), and OpenTelemetry
  spans of them when ``opentelemetry-api`` is installed (:mod:`voiceadapters.otel`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Coroutine, Generator
from dataclasses import dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from .capabilities import Capabilities
from .codec import Codec
from .commands import (
    Close,
    Command,
    EndTurn,
    Interrupt,
    ReportPlayed,
    SendText,
    SendToolResult,
)
from .config import ProviderConfig, parse_config, resolve_config
from .driver import Driver
from .errors import (
    AuthenticationError,
    BufferOverflowError,
    ConnectError,
    SessionClosedError,
    WebSocketRejected,
)
from .events import (
    _RECEIVING,
    AgentAudio,
    Event,
    Interruption,
    ProviderError,
    SessionEnded,
    SessionResumed,
    SessionStarted,
)
from .format import AudioFormat
from .metrics import MetricsRecorder, SessionMetrics, voiced
from .pipeline import AudioPipeline
from .provider import Provider
from .reconnect import ReconnectPolicy
from .registry import Registry
from .registry import registry as default_registry
from .secrets import Secret
from .transports.base import Transport

if TYPE_CHECKING:
    from .cassette.record import Recorder

__all__ = ["Session", "SessionStats", "connect"]

log = logging.getLogger("voiceadapters.session")

DEFAULT_FORMAT = AudioFormat(16000)

#: For providers that never mark the end of an agent turn (no
#: ``agent_audio_done``), the output converter's last few milliseconds are
#: released after this long without agent audio.
TAIL_FLUSH_GAP = 0.2


@dataclass
class SessionStats:
    """Counters of one session (read them any time)."""

    audio_bytes_sent: int = 0
    """Application audio accepted by :meth:`Session.send_audio` (app format)."""
    audio_bytes_received: int = 0
    """Agent audio handed to the application by :meth:`Session.next_event` (app format)."""
    dropped_audio_events: int = 0
    """``agent_audio`` events dropped because the application read too slowly."""
    dropped_audio_bytes: int = 0
    max_queued_audio_bytes: int = 0
    """High-water mark of agent audio waiting in the queue (bounded by ``max_buffered_audio``)."""
    fenced_audio_events: int = 0
    """``agent_audio`` events discarded because their turn was interrupted."""
    reconnects: int = 0
    """Times the session continued on a new connection (``session_resumed`` events)."""
    held_audio_bytes: int = 0
    """Microphone audio (wire format) held while reconnecting and sent on the new connection."""
    dropped_input_bytes: int = 0
    """Microphone audio (wire format) dropped while reconnecting: beyond
    ``ReconnectPolicy.hold_audio``, or when reconnecting failed."""

    unsent_frames: int = 0
    """Wire messages (audio or commands) the session had queued when its
    connection went, which were therefore never sent (all connections of a
    reconnecting session together)."""
    unsent_audio_bytes: int = 0
    """Application audio accepted by :meth:`Session.send_audio` that never went
    on the wire because the session ended first: held back by the codec until
    the provider was ready (a token-first protocol before its go-ahead), counted when
    ``session_ended`` is queued (app format, converted from the wire's)."""

    agent_turns: int = 0
    """Agent turns that produced audio (each one is in :attr:`Session.metrics`)."""
    connect_time: float | None = None
    """Seconds from the first handshake step to the provider's
    ``session_started`` (``agent_ready`` for protocols that have it), for
    the first connection; :attr:`Session.metrics` has each step."""
    last_response_latency: float | None = None
    """Seconds from the end of the user's speech to the first agent audio,
    for the latest turn that has both (:mod:`voiceadapters.metrics`)."""


@dataclass
class _Outage:
    """A lost connection the session is replacing."""

    lost: SessionEnded
    since: float
    cause: str
    attempts: int = 0
    restored: bool = False
    retry_after: float | None = None


class _Link:
    """One connection's driver, and whether its events reach the application.

    The live link's events go to the session. A link being opened beside the
    live one (a rollover) keeps its events until it goes live; a replaced
    link's last words are dropped.
    """

    __slots__ = ("backlog", "driver", "live", "session")

    def __init__(self, session: Session, codec: Codec, transport: Transport, *, live: bool) -> None:
        self.session = session
        self.live = live
        self.backlog: list[Event] | None = None if live else []
        self.driver = Driver(codec, transport, self.on_events, limits=session.config.limits)
        session._metrics.connection(self.driver.steps)
        if live:
            self._direct()

    def _direct(self) -> None:
        """A live link with no observer hands the driver the session's own
        handler, one call less per received message than :meth:`on_events`,
        and the codec the session's audio sink, so that agent audio reaches
        the pipeline with no event built for it (an observer, a cassette
        recorder, records every codec event, agent audio included)."""
        if self.session._observer is None:
            self.driver.on_events = self.session._on_events
            self.driver.codec.audio_sink = self.session._on_audio

    def on_events(self, events: list[Event]) -> None:
        observer = self.session._observer
        if observer is not None:  # a cassette recorder (record=…): every codec event
            observer(events)
        if self.live:
            self.session._on_events(events)
        elif self.backlog is not None:
            self.backlog.extend(events)

    def go_live(self) -> None:
        self.live = True
        backlog, self.backlog = self.backlog, None
        if backlog:
            self.session._on_events(backlog)
        self._direct()

    def retire(self) -> None:
        self.live = False
        self.backlog = None
        self.driver.on_events = self.on_events  # a replaced link's last words are dropped
        self.driver.codec.audio_sink = None


class Session:
    """A live voice session. Create it with :func:`voiceadapters.connect`."""

    def __init__(
        self,
        provider: Provider,
        config: ProviderConfig,
        codec: Codec,
        transport: Transport,
        *,
        input_format: AudioFormat = DEFAULT_FORMAT,
        output_format: AudioFormat | None = None,
        output_frame_ms: int | None = 20,
        max_buffered_audio: float = 30.0,
        registry: Registry | None = None,
        owns_transport: bool = False,
        reconnect: ReconnectPolicy | None = None,
        observer: Callable[[list[Event]], None] | None = None,
    ) -> None:
        self.provider = provider
        self._observer = observer
        self.config = config
        self.input_format = input_format
        self.output_format = output_format or input_format
        self.stats = SessionStats()
        self._transport = transport
        self._owns_transport = owns_transport
        self._registry = registry or default_registry
        self._pipeline = AudioPipeline(
            codec.wire_input, input_format, self.output_format, output_frame_ms
        )
        self._queue: deque[Event] = deque()
        self._queued_audio_bytes = 0
        self._max_audio_bytes = self.output_format.bytes_for(max_buffered_audio)
        # Tasks waiting in next_event(), one bare future each, not an
        # asyncio.Event: they are woken once per received message, and
        # Event.wait() under wait_for() costs ~1 µs more per wake-up
        # (measured: 2.7 µs against 1.6 µs for the hop between two tasks).
        self._waiters: list[asyncio.Future[None]] = []
        self._loop = asyncio.get_running_loop()
        self._input_frame_width = input_format.frame_width
        self._ended: SessionEnded | None = None
        self._closing = False
        self._policy = reconnect or ReconnectPolicy(enabled=config.reconnect)
        self._generation = 0
        # Without speech events from the provider, the end of the user's
        # speech is the last non-silent chunk sent (voiceadapters.metrics).
        self._track_input = not provider.capabilities.speech_events
        self._metrics = MetricsRecorder(
            provider.name, track_input=self._track_input, stats=self.stats
        )
        self._link = _Link(self, codec, transport, live=True)
        self._opened_at = 0.0
        self._failures = 0  # consecutive failed connections (reconnect)
        self._outage: _Outage | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._rollover: asyncio.TimerHandle | None = None
        self._held: deque[bytes] = deque()
        self._held_bytes = 0
        self._unsent_retired = 0  # unsent frames of links a reconnect or rollover replaced
        self._purged = 0
        self._delivered_end = False  # session_ended has been handed to the application
        self._tail_timer: asyncio.TimerHandle | None = None
        self._flush_tails = not provider.capabilities.agent_audio_done
        self._last_audio = 0.0

    # -- lifecycle -------------------------------------------------------------

    async def _open(self) -> None:
        try:
            await self._driver.open()
        except BaseException:
            if self._owns_transport:
                await self._transport.aclose()
            raise
        self._connected()
        self._call_hook(
            "voiceadapters_session_started", provider=self.provider.name, config=self.config
        )

    @property
    def _driver(self) -> Driver:
        return self._link.driver

    def _connected(self) -> None:
        """A connection is open: note when, and arm the rollover before a session cap."""
        loop = self._loop
        self._opened_at = loop.time()
        if self._rollover is not None:
            self._rollover.cancel()
            self._rollover = None
        cap = self.config.session_cap(self.provider.max_session_seconds)
        if cap is not None and self._policy.enabled:
            lead = min(self._policy.rollover_margin, cap / 10)
            self._rollover = loop.call_later(max(0.0, cap - lead), self._roll_over, cap)

    @property
    def capabilities(self) -> Capabilities:
        return self.provider.capabilities

    @property
    def metrics(self) -> SessionMetrics:
        """Connect times by step, per-turn latencies, the resampler delay in
        use and the audio dropped, as of now (:mod:`voiceadapters.metrics`;
        docs/metrics.md)."""
        from .audio import resampler_delay_ms

        stats = self.stats
        wire_in = self._driver.codec.wire_input
        return self._metrics.snapshot(
            resampler_input_ms=resampler_delay_ms(self.input_format, wire_in),
            resampler_output_ms=resampler_delay_ms(self.provider.wire_output, self.output_format),
            audio={
                "dropped_audio_events": stats.dropped_audio_events,
                "dropped_audio_ms": _ms_of(self.output_format, stats.dropped_audio_bytes),
                "fenced_audio_events": stats.fenced_audio_events,
                "dropped_input_ms": _ms_of(wire_in, stats.dropped_input_bytes),
                "held_input_ms": _ms_of(wire_in, stats.held_audio_bytes),
                "unsent_audio_ms": _ms_of(self.input_format, stats.unsent_audio_bytes),
                "unsent_frames": stats.unsent_frames,
            },
        )

    @property
    def ended(self) -> SessionEnded | None:
        """The ``session_ended`` event once the session is over (it may still be unread)."""
        return self._ended

    async def close(self, timeout: float = 5.0) -> SessionEnded:
        """End the session: flush pending microphone audio, close the
        connection, and wait for ``session_ended`` (returned).

        Safe to call more than once and after the provider ended the session.
        Events not yet read stay readable.
        """
        if self._ended is None and not self._closing:
            self._closing = True
            if self._rollover is not None:
                self._rollover.cancel()
                self._rollover = None
            if self._reconnecting is not None and not self._reconnecting.done():
                # No live connection to close: stop trying, and end here.
                self._reconnecting.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await self._reconnecting
                self._drop_held()
                await self._driver.abort()
                if self._outage is not None and self._outage.cause != "rollover":
                    self._outage = None
                    self._enqueue([SessionEnded(reason="client_closed")])
            with contextlib.suppress(SessionClosedError):
                tail = self._pipeline.flush_input()
                if tail:
                    await self._driver.send_audio(tail)
            with contextlib.suppress(SessionClosedError):
                await self._driver.command(Close())
        try:
            await self._driver.wait_closed(timeout)
        except asyncio.TimeoutError:
            await self._driver.abort()
        if self._ended is None:
            # The driver was stopped before the codec could report an end.
            self._on_events([SessionEnded(reason="client_closed")])
        if self._owns_transport:
            await self._transport.aclose()
        assert self._ended is not None
        return self._ended

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- commands ------------------------------------------------------------

    async def send_audio(self, pcm: bytes | bytearray | memoryview) -> None:
        """Send microphone audio in :attr:`input_format` (any whole number of sample frames).

        Raises :class:`~voiceadapters.errors.AudioFormatError` for a partial
        sample frame (nothing is consumed), and
        :class:`~voiceadapters.errors.SessionClosedError` after the end.
        """
        if self._ended is not None or self._closing:
            raise SessionClosedError(f"{self.provider.name} session has ended")
        data = pcm if type(pcm) is bytes else bytes(pcm)
        if len(data) % self._input_frame_width:
            self.input_format.check(data, what="send_audio() data")  # raises
        driver = self._link.driver  # the same until the await below
        buffered = driver.codec.audio_buffer()
        if buffered is not None:
            held, limit = buffered
            if held + self._pipeline.max_encoded(len(data)) > limit:
                # Refused before conversion: the resampler has not seen the
                # chunk, so it can be sent again once the provider is ready.
                raise BufferOverflowError(self.provider.name, limit, held, len(data))
        if self._track_input and voiced(data):
            self._metrics.input_voiced(time.monotonic())
        pipeline = self._pipeline
        wire = data if pipeline.input_passthrough else pipeline.encode(data, checked=True)
        self.stats.audio_bytes_sent += len(data)
        if not wire:
            return
        if self._reconnecting is not None:
            self._hold(wire)
            return
        if not driver.send_audio_nowait(wire):  # the socket is behind, or a frame is queued
            await driver.send_outbox()

    async def send_tool_result(self, call_id: str, output: Any) -> None:
        """Answer ``tool_call`` ``call_id``; a non-str ``output`` is JSON-encoded."""
        await self._command(SendToolResult.from_value(call_id, output))

    async def send_text(self, text: str) -> None:
        """Send user text instead of speech (capability ``text_input``)."""
        await self._command(SendText(text=text))

    async def interrupt(self) -> None:
        """Ask the agent to stop speaking (capability ``client_interrupt``)."""
        await self._command(Interrupt())

    async def end_turn(self) -> None:
        """Say the user's turn is over, so the agent answers now (capability
        ``manual_turns``: push-to-talk, or a provider whose own turn
        detection is off). Flushes the resampler's tail first, so the end of
        the utterance is not held back."""
        if self._ended is None and not self._closing and self._reconnecting is None:
            tail = self._pipeline.flush_input()
            if tail:
                await self._driver.send_audio(tail)
        await self._command(EndTurn())

    async def report_played(self, turn_id: str | None, seconds: float) -> None:
        """Tell the session how much agent audio of turn ``turn_id`` (the
        ``turn_id`` of its ``agent_audio`` events) you have actually played:
        ``seconds`` from the start of the turn, cumulative.

        Where the provider's protocol keeps the agent's reply in its memory
        (a conversation item), the session uses the latest report when the
        user barges in or you :meth:`interrupt`: the agent's memory is
        truncated to what the user heard, clamped to the audio received.
        Nothing reported means nothing is truncated. Other providers ignore
        it, so calling it is always safe; it needs no capability.

        Raises ``ValueError`` (a pydantic ``ValidationError``) for a negative
        or non-finite ``seconds``, and
        :class:`~voiceadapters.errors.SessionClosedError` after the end.
        While the session reconnects, reports are dropped: the turn they
        describe went with the old connection.
        """
        command = ReportPlayed(turn_id=turn_id, seconds=seconds)
        if self._ended is not None or self._closing:
            raise SessionClosedError(f"{self.provider.name} session has ended")
        if self._reconnecting is not None:
            return
        await self._driver.command(command)

    async def _command(self, command: Command) -> None:
        """A command other than audio: while reconnecting it waits for the new
        connection (and raises ``SessionClosedError`` if there is none)."""
        task = self._reconnecting
        if task is not None:
            await asyncio.wait([task])  # wait for it, without taking its cancellation
        if self._ended is not None:
            raise SessionClosedError(f"{self.provider.name} session has ended")
        await self._driver.command(command)

    # -- reconnecting ----------------------------------------------------------

    def _may_reconnect(self) -> bool:
        return (
            self._policy.enabled
            and not self._closing
            and self._ended is None
            and self._driver.codec.resumable
        )

    def _start_reconnect(self, lost: SessionEnded) -> None:
        now = self._loop.time()
        if now - self._opened_at < self._policy.min_uptime:
            self._failures += 1  # it died straight after opening: not a good connection
        else:
            self._failures = 0
        if self._outage is None:
            self._outage = _Outage(lost=lost, since=now, cause=lost.reason)
        log.warning(
            "%s: connection lost (%s, close code %s); reconnecting",
            self.provider.name,
            lost.reason,
            lost.close_code,
        )
        if self._reconnecting is not None:
            # A rollover was opening its new connection: the reconnect takes over.
            self._reconnecting.cancel()
        self._reconnecting = self._loop.create_task(self._reconnect())

    async def _reconnect(self) -> None:
        outage = self._outage
        assert outage is not None
        policy = self._policy
        try:
            while True:
                if self._failures >= policy.max_attempts:
                    self._give_up(f"{self._failures} connection attempts failed")
                    return
                delay = policy.delay(self._failures)
                if outage.retry_after is not None:  # the token endpoint said when
                    delay = max(delay, outage.retry_after)
                await asyncio.sleep(delay)
                outage.attempts += 1
                previous = self._link
                codec = self.provider.make_codec(self.config)
                outage.restored = codec.resume_from(previous.driver.codec)
                # The new link is live at once: nothing else carries the session.
                self._retire(previous)
                self._link = _Link(self, codec, self._transport, live=True)
                try:
                    await self._driver.open()
                except (AuthenticationError, WebSocketRejected) as exc:
                    if isinstance(exc, WebSocketRejected) and exc.status not in (401, 403):
                        self._failures += 1
                        continue
                    self._give_up(f"the provider refused the new connection: {exc}")
                    return
                except ConnectError as exc:
                    self._failures += 1
                    retry_after = getattr(exc, "retry_after", None)
                    outage.retry_after = retry_after if isinstance(retry_after, float) else None
                    log.info("%s: reconnect attempt failed: %s", self.provider.name, exc)
                    continue
                self._connected()
                await self._send_held()
                return
        finally:
            self._task_done()

    def _resumed(self, events: list[Event]) -> list[Event]:
        """The new connection's ``session_started`` becomes ``session_resumed``."""
        outage = self._outage
        assert outage is not None
        for i, event in enumerate(events):
            if isinstance(event, SessionStarted):
                self._outage = None
                self.stats.reconnects += 1
                resumed = SessionResumed(
                    cause=outage.cause,
                    attempts=max(1, outage.attempts),
                    downtime=max(0.0, self._opened_at - outage.since),
                    state_restored=outage.restored,
                    close_code=outage.lost.close_code,
                    session_id=event.session_id,
                )
                return [*events[:i], resumed, *events[i + 1 :]]
        return events

    def _give_up(self, why: str) -> None:
        outage = self._outage
        assert outage is not None
        self._outage = None
        self._drop_held()
        log.warning("%s: giving up reconnecting: %s", self.provider.name, why)
        self._enqueue(
            [
                ProviderError(code="reconnect_failed", message=why, fatal=True),
                outage.lost,
            ]
        )

    def _roll_over(self, cap: float) -> None:
        """Before the provider's session cap: reconnect on purpose, at a moment
        no agent audio is arriving (waiting at most until the cap is near)."""
        self._rollover = None
        if self._ended is not None or self._closing or self._reconnecting is not None:
            return
        loop = self._loop
        left = self._opened_at + cap - loop.time()
        if loop.time() - self._last_audio < 0.5 and left > 1.0:
            self._rollover = loop.call_later(0.25, self._roll_over, cap)
            return
        self._reconnecting = loop.create_task(self._rollover_to_new_connection())

    async def _rollover_to_new_connection(self) -> None:
        """Make before break: the new connection opens while the old one still
        carries the session; then it goes live and the old one is closed,
        unheard."""
        old = self._link
        started = self._loop.time()
        try:
            codec = self.provider.make_codec(self.config)
            restored = codec.resume_from(old.driver.codec)
            new = _Link(self, codec, self._transport, live=False)
            try:
                await new.driver.open()
            except ConnectError as exc:
                log.warning("%s: rollover failed, staying on: %s", self.provider.name, exc)
                cap = self.config.session_cap(self.provider.max_session_seconds)
                if cap is not None and self._opened_at + cap - self._loop.time() > 2.0:
                    self._rollover = self._loop.call_later(1.0, self._roll_over, cap)
                return
            except asyncio.CancelledError:
                await new.driver.abort()  # the reconnect took over
                raise
            self._outage = _Outage(
                lost=SessionEnded(reason="client_closed"),
                since=started,
                cause="rollover",
                attempts=1,
                restored=restored,
            )
            self._retire(old)
            self._link = new
            self._enqueue(self._pipeline.end_of_connection())
            self._connected()
            self._opened_at = started  # no downtime: the old connection was still up
            new.go_live()
            with contextlib.suppress(SessionClosedError):
                await old.driver.command(Close())
        finally:
            self._task_done()
        await self._send_held()

    def _retire(self, link: _Link) -> None:
        """``link`` no longer carries the session; what it could not send counts."""
        link.retire()
        self._unsent_retired += link.driver.unsent_frames

    def _task_done(self) -> None:
        """A reconnect or rollover task ends (unless another has replaced it)."""
        if self._reconnecting is asyncio.current_task():
            self._reconnecting = None

    def _hold(self, wire: bytes) -> None:
        limit = self._driver.codec.wire_input.bytes_for(self._policy.hold_audio)
        self._held.append(wire)
        self._held_bytes += len(wire)
        while self._held and self._held_bytes > limit:
            dropped = self._held.popleft()
            self._held_bytes -= len(dropped)
            self.stats.dropped_input_bytes += len(dropped)

    async def _send_held(self) -> None:
        """Send the held audio on the new connection, in order."""
        while self._held:
            pcm = self._held.popleft()
            self._held_bytes -= len(pcm)
            try:
                await self._driver.send_audio(pcm)
            except (BufferOverflowError, SessionClosedError):
                self.stats.dropped_input_bytes += len(pcm)
                continue
            self.stats.held_audio_bytes += len(pcm)

    def _drop_held(self) -> None:
        self.stats.dropped_input_bytes += self._held_bytes
        self._held.clear()
        self._held_bytes = 0

    # -- events --------------------------------------------------------------

    def _on_events(self, events: list[Event]) -> None:
        self._metrics.on_events(events)
        if self._outage is not None:
            events = self._resumed(events)
        if events and type(events[-1]) is SessionEnded and self._may_reconnect():
            # A codec's session_ended is always its last event.
            lost = events[-1]
            assert isinstance(lost, SessionEnded)
            self._enqueue(self._pipeline.process(events[:-1]))
            self._enqueue(self._pipeline.end_of_connection())
            self._start_reconnect(lost)
            return
        self._enqueue(self._pipeline.process(events))
        if self._pipeline.pending_output and (self._flush_tails or self._rollover is not None):
            self._last_audio = self._loop.time()
            if self._flush_tails and self._tail_timer is None:
                self._arm_tail_flush(TAIL_FLUSH_GAP)

    def _on_audio(self, pcm: bytes, fmt: AudioFormat, turn_id: str | None) -> None:
        """The live codec's agent audio, handed over without an event
        (:attr:`Codec.audio_sink <voiceadapters.codec.Codec.audio_sink>`):
        what :meth:`_on_events` does for ``[AgentAudio(pcm, fmt, turn_id)]``."""
        stamp = _RECEIVING.stamp  # _received_default(), inlined: once per message
        at = stamp.monotonic if stamp is not None else time.monotonic()
        self._metrics.on_audio(turn_id, fmt, len(pcm), at)
        pipeline = self._pipeline
        events = pipeline.audio(pcm, fmt, turn_id)
        if events:
            # _enqueue(events) for a list of agent_audio only, inlined.
            queue, stats = self._queue, self.stats
            for event in events:
                queue.append(event)
                queued = self._queued_audio_bytes = self._queued_audio_bytes + len(event.pcm)
                if queued > self._max_audio_bytes:
                    self._drop_oldest_audio()
                    queued = self._queued_audio_bytes
                if queued > stats.max_queued_audio_bytes:
                    stats.max_queued_audio_bytes = queued
            if self._waiters:
                for waiter in self._waiters:
                    if not waiter.done():
                        waiter.set_result(None)
                self._waiters.clear()
        else:  # the resampler is filling, or the turn was interrupted
            self.stats.fenced_audio_events = pipeline.fenced_audio_events + self._purged
        if pipeline.pending_output and (self._flush_tails or self._rollover is not None):
            self._last_audio = self._loop.time()
            if self._flush_tails and self._tail_timer is None:
                self._arm_tail_flush(TAIL_FLUSH_GAP)

    def _arm_tail_flush(self, delay: float) -> None:
        self._tail_timer = asyncio.get_running_loop().call_later(delay, self._tail_flush)

    def _tail_flush(self) -> None:
        self._tail_timer = None
        if self._ended is not None or not self._pipeline.pending_output:
            return
        idle = asyncio.get_running_loop().time() - self._last_audio
        if idle < TAIL_FLUSH_GAP:
            self._arm_tail_flush(TAIL_FLUSH_GAP - idle)
            return
        self._enqueue(self._pipeline.flush_output())

    def _enqueue(self, events: list[Event]) -> None:
        for event in events:
            if type(event) is AgentAudio:  # the hot path: _enqueue_audio inlined
                self._queue.append(event)
                queued = self._queued_audio_bytes = self._queued_audio_bytes + len(event.pcm)
                if queued > self._max_audio_bytes:
                    self._drop_oldest_audio()
                    queued = self._queued_audio_bytes
                if queued > self.stats.max_queued_audio_bytes:
                    self.stats.max_queued_audio_bytes = queued
                continue
            if isinstance(event, Interruption):
                self._purge_turn(event.turn_id)
            elif isinstance(event, SessionEnded):
                self._ended = event
                self._count_unsent_audio()
                if self._tail_timer is not None:
                    self._tail_timer.cancel()
                    self._tail_timer = None
                self._call_hook(
                    "voiceadapters_session_ended", provider=self.provider.name, event=event
                )
                self._export_spans()
            if isinstance(event, AgentAudio):
                self._enqueue_audio(event)
            else:
                self._queue.append(event)
        self.stats.fenced_audio_events = self._pipeline.fenced_audio_events + self._purged
        if self._waiters:
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(None)
            self._waiters.clear()

    def _export_spans(self) -> None:
        """The session ended: its spans, when OpenTelemetry is installed
        (:mod:`voiceadapters.otel`; nothing is imported otherwise)."""
        from . import otel

        if otel.enabled():
            try:
                otel.export_session(self.metrics, self.config)
            except Exception:
                log.exception("exporting OpenTelemetry spans failed")

    def _count_unsent_audio(self) -> None:
        """The session ended: audio the codec still holds will never be sent."""
        self.stats.unsent_frames = self._unsent_retired + self._driver.unsent_frames
        codec = self._driver.codec
        buffered = codec.audio_buffer()
        if buffered is None or not buffered[0]:
            return
        seconds = codec.wire_input.duration(buffered[0])
        fmt = self.input_format
        self.stats.unsent_audio_bytes = round(fmt.sample_rate * seconds) * fmt.frame_width
        log.warning(
            "%s: the session ended before %d bytes of audio could be sent",
            self.provider.name,
            self.stats.unsent_audio_bytes,
        )

    def _purge_turn(self, turn_id: str | None) -> None:
        """Interruption: queued but unread audio of the turn is never delivered."""
        kept: deque[Event] = deque()
        for queued in self._queue:
            if isinstance(queued, AgentAudio) and (turn_id is None or queued.turn_id == turn_id):
                self._queued_audio_bytes -= len(queued.pcm)
                self._purged += 1
            else:
                kept.append(queued)
        self._queue = kept

    def _enqueue_audio(self, event: AgentAudio) -> None:
        # The queue's byte budget. Inlined, for the message path, in _enqueue
        # and _on_audio: a change here goes there too.
        self._queue.append(event)
        queued = self._queued_audio_bytes = self._queued_audio_bytes + len(event.pcm)
        if queued > self._max_audio_bytes:
            self._drop_oldest_audio()
            queued = self._queued_audio_bytes
        if queued > self.stats.max_queued_audio_bytes:
            self.stats.max_queued_audio_bytes = queued

    def _drop_oldest_audio(self) -> None:
        """Drop the oldest audio until a tenth of the budget is free again.

        The pass over the queue is O(queue) (non-audio events at its head must
        be kept), so it runs once per tenth of the budget instead of once per
        incoming frame: with the 30 s default, per-frame drops cost ~55 µs
        more per frame (and logged a warning 50 times a second) while the
        application stalled; batched, the session costs what it does when
        the application reads.
        """
        target = self._max_audio_bytes * 9 // 10
        kept: deque[Event] = deque()
        for queued in self._queue:
            if self._queued_audio_bytes > target and isinstance(queued, AgentAudio):
                self._queued_audio_bytes -= len(queued.pcm)
                self.stats.dropped_audio_events += 1
                self.stats.dropped_audio_bytes += len(queued.pcm)
                continue
            kept.append(queued)
        self._queue = kept
        log.warning(
            "%s: application is reading events too slowly; dropped agent audio (%d events so far)",
            self.provider.name,
            self.stats.dropped_audio_events,
        )

    async def next_event(self, timeout: float | None = None) -> Event | None:
        """The next event, or ``None`` once ``session_ended`` has been read.

        An event already queued is returned at once (even with ``timeout=0``);
        otherwise waits up to ``timeout`` seconds (``None``: forever) and raises
        ``asyncio.TimeoutError`` if nothing arrives.
        """
        if not self._queue and not (self._ended is not None and self._delivered_end):
            await self._wait(timeout)
        return self._pop()

    def _pop(self) -> Event | None:
        if not self._queue:
            return None
        event = self._queue.popleft()
        # isinstance, as in _enqueue: a plugin's subclass of AgentAudio must be
        # counted out of the queue's byte budget exactly as it was counted in.
        if isinstance(event, AgentAudio):
            self._queued_audio_bytes -= len(event.pcm)
            self.stats.audio_bytes_received += len(event.pcm)
            if self._metrics.watching is not None:  # after an interruption
                self._metrics.audio_read(event)
        elif isinstance(event, SessionEnded):
            self._delivered_end = True
        return event

    async def _wait(self, timeout: float | None) -> None:
        """Wait until the queue is not empty (or the timeout passes)."""
        loop = self._loop
        deadline = None if timeout is None else loop.time() + timeout
        while not self._queue:
            waiter = loop.create_future()
            self._waiters.append(waiter)
            try:
                if deadline is None:
                    await waiter
                else:
                    if deadline <= loop.time():
                        raise asyncio.TimeoutError
                    timer = loop.call_at(deadline, _expire, waiter)
                    try:
                        await waiter
                    finally:
                        timer.cancel()
            finally:
                if waiter in self._waiters:  # not woken: timed out or cancelled
                    self._waiters.remove(waiter)

    def __aiter__(self) -> AsyncIterator[Event]:
        return _Events(self)

    def _call_hook(self, name: str, **kwargs: Any) -> None:
        try:
            getattr(self._registry.hook, name)(**kwargs)
        except Exception:
            log.exception("hook %s failed", name)

    def __repr__(self) -> str:
        state = "ended" if self._ended else "open"
        return f"<Session {self.config.to_string()!r} {state}>"


def _ms_of(fmt: AudioFormat, nbytes: int) -> float:
    return round(fmt.duration(nbytes) * 1000, 1)


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(asyncio.TimeoutError())


class _Events:
    """``async for event in session``: every event up to and including
    ``session_ended``. A plain class rather than an async generator: it runs
    once per event, and an async generator adds a frame switch per step."""

    __slots__ = ("_done", "_session")

    def __init__(self, session: Session) -> None:
        self._session = session
        self._done = False

    def __aiter__(self) -> _Events:
        return self

    async def __anext__(self) -> Event:
        if self._done:
            raise StopAsyncIteration
        session = self._session
        # next_event() and _wait(None) inlined: this runs once per event of
        # every session, and a coroutine less is ~0.3 µs less per event.
        if not session._queue and not (session._ended is not None and session._delivered_end):
            waiters = session._waiters
            while not session._queue:
                waiter = session._loop.create_future()
                waiters.append(waiter)
                try:
                    await waiter
                finally:
                    if waiter in waiters:  # not woken: cancelled
                        waiters.remove(waiter)
        queue = session._queue  # read after the wait: a purge replaces the deque
        event = queue[0] if queue else None
        if type(event) is AgentAudio:
            # _pop() inlined for the event of nearly every call.
            queue.popleft()
            n = len(event.pcm)
            session._queued_audio_bytes -= n
            session.stats.audio_bytes_received += n
            if session._metrics.watching is not None:  # after an interruption
                session._metrics.audio_read(event)
            return event
        popped = session._pop()
        if popped is None or isinstance(popped, SessionEnded):
            self._done = True
            if popped is None:
                raise StopAsyncIteration
        return popped


def _policy(value: bool | ReconnectPolicy | None, config: ProviderConfig) -> ReconnectPolicy:
    if isinstance(value, ReconnectPolicy):
        return value
    return ReconnectPolicy(enabled=config.reconnect if value is None else value)


class _Connecting:
    """What :func:`connect` returns: await it, or use it with ``async with``."""

    def __init__(self, factory: Callable[[], Coroutine[Any, Any, Session]]) -> None:
        self._factory = factory
        self._session: Session | None = None

    def __await__(self) -> Generator[Any, None, Session]:
        return self._factory().__await__()

    async def __aenter__(self) -> Session:
        self._session = await self._factory()
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()


def connect(
    config: str,
    *,
    api_key: str | Secret | None = None,
    input_format: AudioFormat = DEFAULT_FORMAT,
    output_format: AudioFormat | None = None,
    output_frame_ms: int | None = 20,
    max_buffered_audio: float = 30.0,
    transport: Transport | None = None,
    registry: Registry | None = None,
    reconnect: bool | ReconnectPolicy | None = None,
    record: str | os.PathLike[str] | Recorder | None = None,
    **options: Any,
) -> _Connecting:
    """Open a voice session described by ``config``.

    ``config`` is a config string (``"vatel://?agent_id=…"``); ``options``
    override its options; ``api_key`` overrides the key from the string or
    the provider's environment variable. ``input_format`` is the format of
    the audio you will send, ``output_format`` (default: the same) the format
    of the ``agent_audio`` you will get, in frames of ``output_frame_ms``
    (``None``: as the provider chunks them). ``transport`` replaces the
    network (for example :class:`~voiceadapters.transports.memory.MemoryTransport`).
    ``reconnect`` (``True``/``False`` or a :class:`~voiceadapters.reconnect.ReconnectPolicy`)
    overrides the config string's ``reconnect`` option (default: on).
    ``record`` (a path or a :class:`~voiceadapters.cassette.Recorder`) writes
    the session to a cassette, secrets scrubbed (docs/cassettes.md); a path
    that cannot be written raises :class:`~voiceadapters.cassette.CassetteError`.

    Use ``async with connect(...) as session:`` or ``session = await connect(...)``
    (then ``await session.close()``). Raises :class:`~voiceadapters.errors.ConfigError`,
    :class:`~voiceadapters.errors.UnknownProviderError`, or
    :class:`~voiceadapters.errors.ConnectError` subclasses.
    """
    reg = registry or default_registry

    async def factory() -> Session:
        url = parse_config(config)
        provider = reg.get(url.provider)
        resolved = resolve_config(url, provider, api_key=api_key, **options)
        codec = provider.make_codec(resolved)
        owns = transport is None
        if transport is None:
            from .transports.network import NetworkTransport

            chosen: Transport = NetworkTransport()
        else:
            chosen = transport
        recorder = None
        if record is not None:
            from .cassette.record import Recorder, RecordingTransport

            recorder = record if isinstance(record, Recorder) else Recorder(record)
            recorder.start(provider=provider, config=resolved, api_key=api_key)
            chosen = RecordingTransport(chosen, recorder, owns_inner=owns)
            owns = True  # the session closes the recorder (and the network, if it made it)
        session = Session(
            provider,
            resolved,
            codec,
            chosen,
            input_format=input_format,
            output_format=output_format,
            output_frame_ms=output_frame_ms,
            max_buffered_audio=max_buffered_audio,
            registry=reg,
            owns_transport=owns,
            reconnect=_policy(reconnect, resolved),
            observer=recorder.events if recorder is not None else None,
        )
        await session._open()
        return session

    return _Connecting(factory)
