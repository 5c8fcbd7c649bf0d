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

What every simulator does alike lives here, not in each plugin: the API-key
and scenario checks (:class:`Simulator`), the ``Authorization: Bearer`` check
(:meth:`Simulator.bearer_accepted`), the loop that forwards timers to a
scripted agent and turns its actions into wire messages
(:class:`AgentConnection`), and the translation of a client's handshake step
into the request a server sees (:meth:`SimRequest.from_http`,
:meth:`SimRequest.from_websocket`); and the one way to read a client's JSON,
which no input can make raise (:func:`decode_json`).
"""

from __future__ import annotations

import hmac
from abc import ABC, abstractmethod
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from .. import wirejson
from ..frames import CloseFrame, Frame
from ..handshake import HttpRequest, HttpResponse, WebSocketRequest
from .records import RecentBytes, RecentList

if TYPE_CHECKING:
    from .agent import Action, Agent

__all__ = [
    "CONNECTION_LIMIT",
    "FRAME_SIZE_LIMIT",
    "MESSAGE_LIMIT",
    "RECEIVED_AUDIO_LIMIT",
    "AgentConnection",
    "DropConnection",
    "ServerOut",
    "SimRequest",
    "Simulator",
    "SimulatorConnection",
    "SimulatorFacts",
    "decode_json",
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

    @classmethod
    def from_http(cls, request: HttpRequest) -> SimRequest:
        """The request a server sees for a client's :class:`HttpRequest` step
        (secrets revealed, as on the wire)."""
        parts = urlsplit(request.reveal_url())
        headers = {"host": parts.netloc}
        headers.update({k.lower(): v for k, v in request.reveal_headers().items()})
        return cls(
            method=request.method.upper(),
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers,
            body=request.body() or b"",
        )

    @classmethod
    def from_websocket(cls, request: WebSocketRequest) -> SimRequest:
        """The upgrade request a server sees for a client's :class:`WebSocketRequest`."""
        parts = urlsplit(request.reveal_url())
        headers = {"host": parts.netloc}
        headers.update({k.lower(): v for k, v in request.reveal_headers().items()})
        headers["upgrade"] = "websocket"
        return cls(
            method="GET",
            path=parts.path,
            query=dict(parse_qsl(parts.query, keep_blank_values=True)),
            headers=headers,
        )

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


def decode_json(data: str | bytes) -> Any:
    """A client's JSON (a text frame, a binary frame, a request body), decoded
    the way codecs decode a provider's (:func:`voiceadapters.wirejson.decode`):
    raises :class:`~voiceadapters.wirejson.MalformedJSON` (a ``ValueError``)
    and nothing else, for any input; lone surrogates come back as U+FFFD.
    A simulator must survive every client, so it reads JSON only through this."""
    return wirejson.decode(data)[0]


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


class AgentConnection(SimulatorConnection):
    """A connection whose behaviour is a scripted
    :class:`~voiceadapters.simulator.agent.Agent`.

    It forwards time to the agent (:meth:`get_timer`, :meth:`handle_timer`)
    and turns the agent's actions into the protocol's messages: subclasses
    implement :meth:`send_action` and call :meth:`flush_agent` after feeding
    the agent (user audio, a tool result).
    """

    agent: Agent

    def __init__(self, agent: Agent) -> None:
        super().__init__()
        self.agent = agent

    def get_timer(self) -> float | None:
        return None if self.closed else self.agent.get_timer()

    def handle_timer(self, now: float) -> None:
        if self.closed:
            return
        self.agent.handle_timer(now)
        self.flush_agent(now)

    def flush_agent(self, now: float) -> None:
        """Send every action the agent has produced, in order. An action may
        produce more (a server-side tool answering at once): those follow."""
        actions = self.agent.actions()
        while actions:
            for action in actions:
                if self.closed:
                    return
                self.send_action(action, now)
            actions = self.agent.actions()

    @abstractmethod
    def send_action(self, action: Action, now: float) -> None:
        """Put one agent action on the wire (or nothing, when the protocol
        has no message for it)."""


class SimulatorFacts(Protocol):
    """What a simulator reads from its provider (every
    :class:`~voiceadapters.provider.Provider` has it)."""

    @property
    def name(self) -> str: ...
    @property
    def scenarios(self) -> tuple[str, ...]: ...


class Simulator(ABC):
    """One provider's simulated server. See the module docstring.

    ``provider`` declares the scenarios; ``scenario`` (default: the first)
    must be one of them and ``api_key`` must be non-empty, else
    ``ValueError``. ``pace`` scales the agent's real-time pacing (0: as fast
    as possible). Simulators written for 0.1 call ``super().__init__()`` with
    no argument and check these themselves; that still works.
    """

    #: Provider name, for logs.
    provider: str = "?"

    def __init__(
        self,
        provider: SimulatorFacts | None = None,
        *,
        api_key: str = "",
        scenario: str | None = None,
        pace: float = 1.0,
    ) -> None:
        #: The connections accepted, oldest first: the most recent
        #: :data:`CONNECTION_LIMIT`, so that a long-running simulator does not
        #: keep every session's records.
        self.connections: RecentList[SimulatorConnection] = RecentList(CONNECTION_LIMIT)
        self.pace = pace
        #: Provider-neutral setting of the scripted agent: seconds from the
        #: end of the user's speech to the agent's first text and audio
        #: (``None``: the agent's default, 50 ms; scaled to 0 with
        #: ``pace=0``). Set it before connections open (``voiceadapters
        #: simulate --response-delay``, ``demo --response-delay``); the
        #: simulators pass it on with :meth:`agent_options`.
        self.response_delay: float | None = None
        self._api_key = api_key
        if provider is None:
            return
        self.provider = provider.name
        chosen = scenario or provider.scenarios[0]
        if chosen not in provider.scenarios:
            raise ValueError(
                f"unknown {provider.name} scenario {chosen!r}; "
                f"choose from {', '.join(provider.scenarios)}"
            )
        if not api_key:
            raise ValueError("the simulator needs a non-empty API key to accept")
        #: The scenario this simulator runs.
        self.scenario = chosen

    def agent_options(self) -> dict[str, Any]:
        """Keyword arguments for the :class:`~voiceadapters.simulator.agent.Agent`
        of a new connection: the provider-neutral settings that are set
        (:attr:`response_delay`). ``ValueError`` for a negative delay."""
        options: dict[str, Any] = {}
        if self.response_delay is not None:
            if not self.response_delay >= 0:
                raise ValueError(f"response_delay must be >= 0 seconds, not {self.response_delay}")
            options["response_delay"] = float(self.response_delay)
        return options

    def key_accepted(self, presented: str | None) -> bool:
        """Whether ``presented`` is the API key this simulator accepts
        (compared in constant time)."""
        if not presented or not self._api_key:
            return False
        # surrogatepass: a presented key is the client's text, and may hold
        # what UTF-8 cannot (a lone surrogate); such a key simply does not match.
        return hmac.compare_digest(
            presented.encode("utf-8", "surrogatepass"), self._api_key.encode()
        )

    def bearer_accepted(self, request: SimRequest) -> bool:
        """Whether ``request`` carries ``Authorization: Bearer <the API key>``."""
        return self.key_accepted(request.bearer())

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

    def services(self) -> list[AbstractAsyncContextManager[Any]]:
        """Servers this simulator needs beside its HTTP/WebSocket host — a
        media room simulator for a WebRTC transport, say. The host
        (:class:`~voiceadapters.simulator.server.SimulatorServer`) enters each
        before it serves and leaves them, last first, when it stops; they
        are the simulator's only I/O besides the host's. A service that hosts
        connections of its own (clients that reach the simulator through it)
        also has ``hosts(conn) -> bool``, ``async inject(conn, frame)`` and
        ``async drop(conn)``, which the host's fault injection
        (:meth:`~voiceadapters.simulator.server.SimulatorServer.inject`,
        ``drop``) hands such connections to. Default: none."""
        return []
