"""Fronts: the client side of the bridge, each a sans-I/O server-side codec.

A provider codec (:class:`voiceadapters.codec.Codec`) speaks a provider's
protocol as a client; a *front* speaks a client's protocol as a server. Both
are pure state machines in the same style: inputs change state, outputs are
queues the host drains after every input, and nothing in them touches a
socket, the event loop or the clock.

Inputs (from the host, :mod:`voiceadapters_bridge.server`):

===============================  ================================================
``connection_opened()``          the client's WebSocket is open
``receive_frame(frame)``         one WebSocket message from the client
``receive_closed(code, reason)`` the client's WebSocket closed
``handle_event(event)``          a normalized event from the provider session,
                                 agent audio already in :attr:`Front.audio_format`
``command_refused(cmd, error)``  the session refused a command the front issued
                                 (a capability the provider lacks)
``session_failed(message)``      the provider session could not be opened
``end(code, reason)``            the bridge ends the connection (a limit, a drain)
``timer_fired()``                the delay of the front's last :class:`SetTimer`
                                 has passed
===============================  ================================================

Outputs, drained by the host after every input:

* :meth:`Front.frames_to_send` — messages for the client (``str``, ``bytes``)
  and at most one :class:`~voiceadapters.frames.CloseFrame`;
* :meth:`Front.actions` — what the provider side should do: one
  :class:`OpenSession` (when the front knows enough to open the session: at
  once for most, after Twilio's ``start``), then
  :class:`~voiceadapters.commands.Command` values (``SendAudio`` in
  :attr:`Front.audio_format`, ``SendText``, ``SendToolResult``, ``Interrupt``,
  ``Close``), and :class:`SetTimer` for a front that must act after a quiet
  spell (the front has no clock: the host keeps the time).

A front sees the provider only through :class:`FrontFacts` (its name and
capabilities), so one front serves every plugin. Adding a front is one module:
subclass :class:`Front`, give it a ``name``, a ``route`` and an
``audio_format``, and list it in :data:`voiceadapters_bridge.server.FRONTS`
(or pass it to :func:`~voiceadapters_bridge.server.create_app`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from voiceadapters.capabilities import Capabilities
from voiceadapters.commands import Close, Command
from voiceadapters.events import Event
from voiceadapters.format import AudioFormat
from voiceadapters.frames import CloseFrame, Frame

__all__ = [
    "MAX_CLOSE_REASON",
    "ClientFrame",
    "Front",
    "FrontAction",
    "FrontFacts",
    "OpenSession",
    "SetTimer",
    "close_reason",
]

#: What a front sends its client: a text or binary message, or the close.
ClientFrame = str | bytes | CloseFrame

#: A WebSocket close reason is at most 123 bytes of UTF-8 (RFC 6455 §5.5.1:
#: control frames carry at most 125 bytes, two of which are the code).
MAX_CLOSE_REASON = 123


def close_reason(text: str) -> str:
    """``text`` cut to fit a close frame (123 bytes of UTF-8, whole characters)."""
    data = text.encode("utf-8")
    if len(data) <= MAX_CLOSE_REASON:
        return text
    return data[: MAX_CLOSE_REASON - 3].decode("utf-8", "ignore") + "..."


@dataclass(frozen=True)
class FrontFacts:
    """What a front knows of the provider behind the bridge."""

    provider: str
    capabilities: Capabilities
    #: The client's upgrade request query (``?token=`` removed), for fronts
    #: whose clients choose options there.
    query: Mapping[str, str] = field(default_factory=dict)
    #: The bridge's settings for fronts (``dtmf_as_text``…), by name.
    settings: Mapping[str, object] = field(default_factory=dict)
    #: The agent options a client may choose for this provider: the bridge's
    #: ``client_options`` that the provider's option schema has.
    options: frozenset[str] = frozenset()
    #: Whether the provider's codec uses played reports (``ReportPlayed``),
    #: to truncate the agent's memory of a reply to what the user heard.
    played_reports: bool = False


@dataclass(frozen=True)
class OpenSession:
    """Open the provider session now.

    ``options`` are agent options the client asked for (the host applies only
    those the bridge allows); ``credential`` a bridge key or client token
    presented inside the protocol (Twilio's ``start`` custom parameters), for
    clients that cannot send one with the upgrade request.
    """

    options: Mapping[str, str] = field(default_factory=dict)
    credential: str | None = None

    def __repr__(self) -> str:
        shown = "***" if self.credential else None
        return f"OpenSession(options={dict(self.options)!r}, credential={shown})"


@dataclass(frozen=True)
class SetTimer:
    """Call :meth:`Front.timer_fired` once ``delay`` seconds from now,
    replacing any timer the front set before; ``delay=None`` cancels it."""

    delay: float | None


FrontAction = OpenSession | SetTimer | Command


class Front(ABC):
    """Base class of every front (see the module docstring)."""

    #: Short name, used in metrics labels and logs (``twilio``).
    name: ClassVar[str] = "?"
    #: The route the bridge serves the front's WebSocket on (``/twilio``).
    route: ClassVar[str] = "/"
    #: PCM format of the ``SendAudio`` the front issues and of the agent
    #: audio it is handed: the session converts to and from the provider's.
    #: Read when the session opens, so a front may set its own before it
    #: emits :class:`OpenSession` (a format the client chose); a format the
    #: client changes later is the front's to convert (``StreamConverter``
    #: is pure too).
    audio_format: AudioFormat = AudioFormat(16000)
    #: Whether the client may present its credential inside the protocol
    #: (in :class:`OpenSession`) instead of with the upgrade request.
    credential_in_protocol: ClassVar[bool] = False
    #: WebSocket subprotocols the route accepts (``Sec-WebSocket-Protocol``).
    subprotocols: ClassVar[tuple[str, ...]] = ()
    #: A prefix of offered subprotocols that carry a credential after it
    #: (browsers cannot set an ``Authorization`` header on a WebSocket). The
    #: host masks such protocols in aiohttp's log lines.
    subprotocol_credential_prefix: ClassVar[str | None] = None

    @classmethod
    def credential_from_request(
        cls, headers: Mapping[str, str], protocols: Sequence[str]
    ) -> str | None:
        """A credential the client's protocol carries in its upgrade request
        besides ``Authorization: Bearer`` and ``?token=`` (which the host
        reads itself). Default: the rest of the first offered subprotocol
        that starts with :attr:`subprotocol_credential_prefix`, if the front
        has one."""
        prefix = cls.subprotocol_credential_prefix
        if prefix:
            for protocol in protocols:
                if protocol.startswith(prefix) and len(protocol) > len(prefix):
                    return protocol[len(prefix) :]
        return None

    def __init__(self, facts: FrontFacts) -> None:
        self.facts = facts
        self._out: list[ClientFrame] = []
        self._actions: list[FrontAction] = []
        self._closed = False
        self._close_sent = False
        #: Client messages the front could not use (malformed, out of order).
        self.malformed = 0

    # -- outputs -----------------------------------------------------------

    def frames_to_send(self) -> list[ClientFrame]:
        """Messages for the client, in order; drains the queue."""
        out, self._out = self._out, []
        return out

    def actions(self) -> list[FrontAction]:
        """What the provider side should do, in order; drains the queue."""
        out, self._actions = self._actions, []
        return out

    @property
    def closed(self) -> bool:
        """True once the client's connection closed or a close frame was queued."""
        return self._closed or self._close_sent

    def summary(self) -> str:
        """A short account of the connection for the bridge's log line
        (counts only, never content). Default: the malformed message count."""
        return f"{self.malformed} malformed client message(s)"

    # -- inputs --------------------------------------------------------------

    @abstractmethod
    def connection_opened(self) -> None:
        """The client's WebSocket is open."""

    def receive_frame(self, frame: Frame) -> None:
        """One WebSocket message from the client."""
        if not self.closed:
            self._on_frame(frame)

    def receive_closed(self, code: int | None, reason: str = "") -> None:
        """The client's WebSocket closed (``code=None``: dropped)."""
        if self._closed:
            return
        self._closed = True
        self._on_client_closed(code, reason)

    def handle_event(self, event: Event) -> None:
        """A normalized event from the provider session."""
        if not self.closed:
            self._on_event(event)

    def command_refused(self, command: Command, message: str) -> None:  # noqa: B027
        """The session refused ``command`` (``message`` says why). Default: ignore."""

    def session_failed(self, message: str) -> None:
        """The provider session could not be opened: close with 1011."""
        self._close(1011, f"provider session failed: {message}")

    def end(self, code: int, reason: str) -> None:
        """The bridge ends the connection (a limit, a refusal, a drain)."""
        self._close(code, reason)

    def timer_fired(self) -> None:
        """The delay of the last :class:`SetTimer` has passed."""
        if not self.closed:
            self._on_timer()

    # -- hooks -----------------------------------------------------------------

    @abstractmethod
    def _on_frame(self, frame: Frame) -> None: ...

    @abstractmethod
    def _on_event(self, event: Event) -> None: ...

    def _on_timer(self) -> None:  # noqa: B027
        """Default: nothing (a front that sets no timer)."""

    def _on_client_closed(self, code: int | None, reason: str) -> None:
        """Default: close the provider session."""
        self._act(Close())

    # -- helpers ---------------------------------------------------------------

    def _send(self, frame: ClientFrame) -> None:
        if self._close_sent or self._closed:
            return
        if isinstance(frame, CloseFrame):
            self._close_sent = True
        self._out.append(frame)

    def _act(self, action: FrontAction) -> None:
        self._actions.append(action)

    def _close(self, code: int, reason: str) -> None:
        self._send(CloseFrame(code, close_reason(reason)))
