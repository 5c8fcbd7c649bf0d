"""The provider side, sans I/O: every codec has a mirror (design §2, §7).

A :class:`Simulator` is one provider's server: it answers HTTP requests (the
token endpoint) and accepts WebSocket connections, each served by a
:class:`SimulatorConnection`. Both are pure state machines driven exactly
like a :class:`~voiceadapters.codec.Codec` — inputs change state, the caller
drains :meth:`SimulatorConnection.frames_to_send` — and time is passed in.

The same simulator therefore runs

* over real HTTP and WebSocket on 127.0.0.1 (:mod:`voiceadapters.simulator.server`,
  aiohttp, real clock) — for network tests, ``voiceadapters simulate`` and the demo;
* in memory, paired with a client codec (:mod:`voiceadapters.testing`), with a
  fake clock — for fast, deterministic codec tests and conformance.

Each connection records what it received (:attr:`SimulatorConnection.received_audio`,
:attr:`SimulatorConnection.received_messages`,
:attr:`SimulatorConnection.binary_frame_sizes`) so tests can assert on what
reached the provider. The records are bounded (:mod:`.records`): each keeps
the most recent :data:`RECEIVED_AUDIO_LIMIT` bytes, :data:`MESSAGE_LIMIT`
messages or :data:`FRAME_SIZE_LIMIT` sizes and counts the rest in ``total``,
so a session streaming for hours holds a constant amount of memory (and a
simulator keeps its :data:`CONNECTION_LIMIT` most recent connections).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..handshake import CloseFrame, Frame, HttpResponse
from .records import RecentBytes, RecentList

if TYPE_CHECKING:
    from .agent import Agent

__all__ = [
    "CONNECTION_LIMIT",
    "FRAME_SIZE_LIMIT",
    "MESSAGE_LIMIT",
    "RECEIVED_AUDIO_LIMIT",
    "DropConnection",
    "ServerOut",
    "SimRequest",
    "Simulator",
    "SimulatorConnection",
    "json_response",
]


@dataclass(frozen=True)
class SimRequest:
    """An HTTP request (or WebSocket upgrade request) as the simulator sees it.

    ``headers`` keys are lower case.
    """

    method: str
    path: str
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def bearer(self) -> str | None:
        """The token of an ``Authorization: Bearer …`` header, if any."""
        value = self.headers.get("authorization", "")
        scheme, _, token = value.partition(" ")
        return token.strip() if scheme.lower() == "bearer" and token.strip() else None

    def __repr__(self) -> str:
        # Requests carry keys and tokens; keep them out of test failure output.
        return f"SimRequest({self.method} {self.path})"


@dataclass(frozen=True, slots=True)
class DropConnection:
    """Ask the host to cut the connection with no close frame (a lost network)."""


#: User audio a connection keeps (the most recent bytes): 1 MiB, about 22 s
#: at 24 kHz or 33 s at 16 kHz (16-bit mono) — more than any test compares.
RECEIVED_AUDIO_LIMIT = 1 << 20
#: Control messages a connection keeps (the most recent), and the bound of
#: the other per-message records of the simulators (``invalid``, ``chunk_ids``…).
MESSAGE_LIMIT = 1000
#: Binary frame sizes a connection keeps (the most recent): a minute of 20 ms frames.
FRAME_SIZE_LIMIT = 3000

#: Connections a simulator keeps in :attr:`Simulator.connections` (the most recent).
CONNECTION_LIMIT = 100

#: What a simulator connection asks its host to do.
ServerOut = str | bytes | CloseFrame | DropConnection


def json_response(status: int, body: Any, headers: Mapping[str, str] | None = None) -> HttpResponse:
    import json

    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return HttpResponse(status=status, body=json.dumps(body).encode(), headers=h)


class SimulatorConnection(ABC):
    """The provider side of one WebSocket connection."""

    def __init__(self) -> None:
        self._out: list[ServerOut] = []
        self.closed = False
        self.close_code: int | None = None
        #: The control messages received (decoded from JSON where possible),
        #: the most recent :data:`MESSAGE_LIMIT`; audio messages are recorded
        #: as samples in :attr:`received_audio` only.
        self.received_messages: RecentList[Any] = RecentList(MESSAGE_LIMIT)
        #: The user audio received, in the wire input format, in order: the
        #: most recent :data:`RECEIVED_AUDIO_LIMIT` bytes (``.total`` counts
        #: every byte, ``.dropped`` those no longer held).
        self.received_audio = RecentBytes(RECEIVED_AUDIO_LIMIT)
        #: Sizes of the binary frames received (for framing checks), the most
        #: recent :data:`FRAME_SIZE_LIMIT`.
        self.binary_frame_sizes: RecentList[int] = RecentList(FRAME_SIZE_LIMIT)
        #: The scripted agent behind this connection, when the simulator uses
        #: one: its ``spoken`` audio and final ``replies`` are the ground truth
        #: the conformance suite compares a client's events with.
        self.agent: Agent | None = None

    def frames_to_send(self) -> list[ServerOut]:
        out, self._out = self._out, []
        return out

    def send(self, frame: ServerOut) -> None:
        """Queue ``frame`` for the client (a message, a close, or a drop);
        nothing is queued once the connection is closed."""
        if self.closed:
            return
        if isinstance(frame, CloseFrame | DropConnection):
            self.closed = True
            if isinstance(frame, CloseFrame):
                self.close_code = frame.code
        self._out.append(frame)

    @abstractmethod
    def opened(self, now: float) -> None:
        """The WebSocket is open (first server messages are queued here)."""

    @abstractmethod
    def receive_frame(self, frame: Frame, now: float) -> None:
        """One message from the client."""

    def receive_closed(self, code: int | None, now: float) -> None:
        """The client closed (``code``) or the connection dropped (``None``)."""
        self.closed = True
        if self.close_code is None:
            self.close_code = code

    def get_timer(self) -> float | None:
        return None

    def handle_timer(self, now: float) -> None:  # noqa: B027
        pass


class Simulator(ABC):
    """One provider's simulated server. See the module docstring."""

    #: Provider name, for logs.
    provider: str = "?"

    def __init__(self) -> None:
        #: The connections accepted, oldest first: the most recent
        #: :data:`CONNECTION_LIMIT`, so that a long-running simulator does not
        #: keep every session's records.
        self.connections: RecentList[SimulatorConnection] = RecentList(CONNECTION_LIMIT)

    @abstractmethod
    def handle_http(self, request: SimRequest, now: float) -> HttpResponse:
        """Answer an HTTP request (404 for unknown paths)."""

    @abstractmethod
    def open_websocket(self, request: SimRequest, now: float) -> SimulatorConnection | HttpResponse:
        """Accept a WebSocket upgrade (return its connection) or refuse it with
        an HTTP response. Subclasses append accepted connections to
        :attr:`connections`."""

    def websocket_paths(self) -> tuple[str, ...]:
        """Path prefixes served as WebSocket endpoints (the host routes on them)."""
        return ()
