"""Test helpers: a client codec and a provider simulator wired together in memory.

:class:`CodecPair` (after h11's ``ConnectionPair``) runs a codec's handshake
against a :class:`~voiceadapters.simulator.base.Simulator`, then pumps frames
between the codec and the simulator's connection with a *fake clock*: time
only moves when the test says so (:meth:`CodecPair.advance`,
:meth:`CodecPair.run_until`), jumping from timer to timer, so scenarios that
take seconds of real time run in milliseconds and always the same way.

No sockets, no event loop. The network level of the same behaviour is tested
with :class:`~voiceadapters.simulator.server.SimulatorServer` and
:func:`voiceadapters.connect`.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import TYPE_CHECKING

from .codec import Codec
from .commands import Command, SendAudio
from .errors import WebSocketRejected
from .events import Event, SessionEnded
from .format import AudioFormat
from .frames import CloseFrame, OutFrame, TrackAudio
from .handshake import HttpRequest, HttpResponse, MediaRequest, WebSocketRequest
from .simulator.base import DropConnection, ServerOut, SimRequest, Simulator, SimulatorConnection

if TYPE_CHECKING:
    from .provider import Provider
    from .simulator.server import SimulatorServer

__all__ = [
    "CodecPair",
    "http_to_sim_request",
    "serve_simulator",
    "speech_sample",
    "ws_to_sim_request",
]


def http_to_sim_request(request: HttpRequest) -> SimRequest:
    """The :class:`SimRequest` a server would see for ``request`` (secrets
    revealed); the same as :meth:`SimRequest.from_http`."""
    return SimRequest.from_http(request)


def ws_to_sim_request(request: WebSocketRequest) -> SimRequest:
    """The same as :meth:`SimRequest.from_websocket`."""
    return SimRequest.from_websocket(request)


class CodecPair:
    """A client ``codec`` connected in memory to ``simulator``.

    Construction runs the handshake (raising what the driver would raise:
    :class:`~voiceadapters.errors.TokenRequestError`,
    :class:`~voiceadapters.errors.WebSocketRejected`). Afterwards:

    * :meth:`send` feeds a command and pumps;
    * :meth:`advance` moves the fake clock, firing both sides' timers;
    * :attr:`events` holds every event the codec produced, in order;
    * :attr:`server` is the simulator's connection (what reached the provider).

    ``intercept`` may rewrite or drop (return ``None``) each server frame
    before the codec sees it, to inject faults.
    """

    def __init__(
        self,
        codec: Codec,
        simulator: Simulator,
        *,
        start: float = 1000.0,
        open_connection: bool = True,
        intercept: Callable[[ServerOut], ServerOut | None] | None = None,
    ) -> None:
        self.codec = codec
        self.simulator = simulator
        self.now = start
        self.events: list[Event] = []
        self.client_frames: list[OutFrame] = []
        self.server_frames: list[ServerOut] = []
        self.intercept = intercept
        self._server: SimulatorConnection | None = None
        #: Every handshake step executed, and every HTTP response fed back, in order.
        self.handshake_steps: list[HttpRequest | WebSocketRequest | MediaRequest] = []
        self.http_responses: list[HttpResponse] = []
        if open_connection:
            self.handshake()

    @property
    def server(self) -> SimulatorConnection:
        if self._server is None:
            raise RuntimeError("the WebSocket is not open")
        return self._server

    @property
    def ended(self) -> bool:
        return self.codec.ended

    def handshake(self) -> None:
        while True:
            step = self.codec.handshake_step()
            if step is None:
                return
            self.handshake_steps.append(step)
            if isinstance(step, HttpRequest):
                response = self.simulator.handle_http(SimRequest.from_http(step), self.now)
                self.http_responses.append(response)
                self.codec.receive_http_response(response)
                continue
            if isinstance(step, MediaRequest):
                # Media travels as tracks through a real media stack; there is
                # no sans-I/O room to pair with (use the network level).
                raise NotImplementedError(
                    f"CodecPair pairs WebSocket sessions only; {step.describe()} "
                    "needs a media session (run it at network level)"
                )
            result = self.simulator.open_websocket(SimRequest.from_websocket(step), self.now)
            if isinstance(result, HttpResponse):
                raise WebSocketRejected(self.codec.provider, result.status, result.text())
            self._server = result
            result.opened(self.now)
            self.codec.connection_opened()
            self.codec.handle_timer(self.now)
            self.pump()

    # -- driving -----------------------------------------------------------

    def send(self, command: Command) -> list[Event]:
        """Feed ``command`` to the codec and pump; returns the new events."""
        mark = len(self.events)
        self.codec.handle_command(command)
        self.pump()
        return self.events[mark:]

    def pump(self) -> None:
        """Move frames both ways until neither side has anything to send."""
        while True:
            moved = False
            self._collect_events()
            for frame in self.codec.frames_to_send():
                moved = True
                self.client_frames.append(frame)
                if self._server is None or self._server.closed:
                    continue
                if isinstance(frame, CloseFrame):
                    self._server.receive_closed(frame.code, self.now)
                    self.codec.receive_closed(frame.code, frame.reason)
                elif isinstance(frame, TrackAudio):
                    continue  # no media step ever opens here (handshake())
                else:
                    self._server.receive_frame(frame, self.now)
            if self._server is not None:
                for out in self._server.frames_to_send():
                    moved = True
                    self.server_frames.append(out)
                    if self.intercept is not None:
                        intercepted = self.intercept(out)
                        if intercepted is None:
                            continue
                        out = intercepted
                    if isinstance(out, CloseFrame):
                        self.codec.receive_closed(out.code, out.reason)
                    elif isinstance(out, DropConnection):
                        self.codec.receive_closed(None, "")
                    else:
                        self.codec.receive_frame(out)
                    # Drained after every input, as the codec contract asks
                    # and the driver does (Codec.audio_sink relies on it).
                    self._collect_events()
            if not moved:
                return

    def _collect_events(self) -> None:
        self.events.extend(self.codec.events_received())

    def inject(self, frame: ServerOut) -> list[Event]:
        """Deliver ``frame`` to the codec as if the server had sent it; returns new events."""
        mark = len(self.events)
        if isinstance(frame, CloseFrame):
            if self._server is not None and not self._server.closed:
                self._server.receive_closed(frame.code, self.now)
            self.codec.receive_closed(frame.code, frame.reason)
        elif isinstance(frame, DropConnection):
            self.drop_connection()
        else:
            self.codec.receive_frame(frame)
        self.pump()
        return self.events[mark:]

    def drop_connection(self) -> None:
        """The network fails: both sides see the connection close with no code."""
        if self._server is not None and not self._server.closed:
            self._server.receive_closed(None, self.now)
        self.codec.receive_closed(None, "")
        self.pump()

    def next_timer(self) -> float | None:
        timers = [t for t in (self.codec.get_timer(), self._timer_server()) if t is not None]
        return min(timers) if timers else None

    def _timer_server(self) -> float | None:
        if self._server is None or self._server.closed:
            return None
        return self._server.get_timer()

    def advance(self, seconds: float) -> list[Event]:
        """Move the fake clock forward by ``seconds``, firing every timer due
        on the way, in order. Returns the new events."""
        mark = len(self.events)
        end = self.now + seconds
        while True:
            due = self.next_timer()
            if due is None or due > end:
                break
            self.now = max(self.now, due)
            self._fire_timers()
        self.now = end
        self._fire_timers()
        return self.events[mark:]

    def _fire_timers(self) -> None:
        if self._server is not None and not self._server.closed:
            self._server.handle_timer(self.now)
        self.codec.handle_timer(self.now)
        self.pump()

    def run_until(
        self, predicate: Callable[[list[Event]], bool], *, timeout: float = 60.0
    ) -> list[Event]:
        """Advance timer by timer until ``predicate(self.events)`` holds or
        ``timeout`` fake seconds pass (then raise ``TimeoutError``)."""
        end = self.now + timeout
        while not predicate(self.events):
            due = self.next_timer()
            if due is None or due > end:
                raise TimeoutError(
                    f"condition not reached after {timeout} simulated seconds; "
                    f"events so far: {[e.type for e in self.events]}"
                )
            self.now = max(self.now, due)
            self._fire_timers()
        return self.events

    def stream_audio(
        self,
        pcm: bytes,
        chunk_bytes: int,
        *,
        realtime: bool = True,
        make: Callable[[bytes], Command] | None = None,
    ) -> None:
        """Send ``pcm`` (wire input format) in chunks as ``SendAudio`` (or
        ``make(chunk)``); with ``realtime`` the fake clock advances by each
        chunk's duration."""
        make = make or (lambda chunk: SendAudio(pcm=chunk))
        fmt = self.codec.wire_input
        for i in range(0, len(pcm), chunk_bytes):
            chunk = pcm[i : i + chunk_bytes]
            self.send(make(chunk))
            if realtime:
                self.advance(len(chunk) / fmt.bytes_per_second)

    def ended_event(self) -> SessionEnded | None:
        for event in self.events:
            if isinstance(event, SessionEnded):
                return event
        return None


def speech_sample() -> tuple[bytes, AudioFormat]:
    """The bundled 3.3 s English speech sample: 16 kHz mono 16-bit PCM and its format."""
    from .audio import read_wav

    ref = resources.files("voiceadapters") / "_data" / "speech_16k.wav"
    with resources.as_file(ref) as path:
        return read_wav(path)


@contextlib.asynccontextmanager
async def serve_simulator(
    provider: str | Provider,
    *,
    api_key: str,
    scenario: str | None = None,
    pace: float = 0.0,
    host: str = "127.0.0.1",
    response_delay: float | None = None,
    transport: str | None = None,
) -> AsyncIterator[tuple[SimulatorServer, str, Simulator]]:
    """Serve ``provider``'s simulator on ``host`` (any free port) for the
    duration of the block; yields ``(server, config_string, simulator)``.

    ``pace=0`` (the default here) sends agent audio as fast as possible, so
    tests run faster than real time. ``response_delay`` sets the simulator's
    :attr:`~voiceadapters.simulator.base.Simulator.response_delay`.
    ``transport`` picks the simulator of one of the provider's transports
    (``None``: the default; a ``provider+transport`` name works too).
    """
    from .registry import registry
    from .simulator.server import SimulatorServer

    if isinstance(provider, str):
        chosen, named = registry.get_target(provider)
        transport = transport or named
    else:
        chosen = provider
    simulator = chosen.make_transport_simulator(
        transport, api_key=api_key, scenario=scenario, pace=pace
    )
    simulator.response_delay = response_delay
    async with SimulatorServer(simulator, host, 0) as server:
        yield server, chosen.simulator_config(host, server.port, simulator), simulator
