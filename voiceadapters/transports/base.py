"""The transport seam: the only place bytes meet a network (after httpx's
``BaseTransport``).

A :class:`Transport` executes the three kinds of handshake step a codec can
ask for — an HTTP request, a WebSocket open, and joining a media session
(:class:`~voiceadapters.handshake.MediaRequest`: a WebRTC room) — and a
:class:`Connection` moves the session's messages. Everything above (driver,
session) is written against these two small classes, so a test can swap the
network for memory (:class:`~voiceadapters.transports.memory.MemoryTransport`).

Media connections. A media session carries data messages as frames, like a
WebSocket, and audio as *tracks*: the driver hands the codec's
:class:`~voiceadapters.frames.TrackAudio` to :meth:`Connection.send_audio`,
and the connection pushes the provider's track audio to
:meth:`Receiver.audio_received`, in the request's ``output_format``. The
media stack itself (a WebRTC library) belongs to a plugin: the request names
its :class:`~voiceadapters.handshake.MediaConnector`, and
:meth:`Transport.media` asks it to join. The core names no media library.

Errors: a transport raises :class:`~voiceadapters.errors.ConnectError`
subclasses while connecting, and :class:`TransportClosed` from
:meth:`Connection.recv` / :meth:`Connection.send` once the connection is gone.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Protocol

from ..errors import ConnectError
from ..frames import Frame
from ..handshake import HttpRequest, HttpResponse, MediaRequest, WebSocketRequest

__all__ = ["Connection", "Receiver", "Transport", "TransportClosed"]


class TransportClosed(Exception):
    """The connection is closed. ``code`` is the close code received (``None``:
    the connection dropped without a closing handshake)."""

    def __init__(self, code: int | None, reason: str = "") -> None:
        self.code = code
        self.reason = reason
        super().__init__(f"connection closed (code={code}, reason={reason!r})")


class Receiver(Protocol):
    """What a push-capable :class:`Connection` calls (see :meth:`Connection.set_receiver`)."""

    def frame_received(self, frame: Frame) -> None:
        """One whole message arrived."""

    def audio_received(self, pcm: bytes) -> None:
        """Audio from the provider's media track (media connections only):
        16-bit mono PCM in the :class:`~voiceadapters.handshake.MediaRequest`'s
        ``output_format``, in order, any number of whole samples."""

    def connection_closed(self, code: int | None, reason: str) -> None:
        """The connection is gone (``code`` as in :class:`TransportClosed`); called once, last."""


class Connection(ABC):
    """One open WebSocket.

    Messages are read with :meth:`recv`, or pushed: a connection that
    returns ``True`` from :meth:`set_receiver` calls the receiver from the
    event loop as each message arrives, which saves the reading task a
    wake-up per message. The driver uses push when it is offered.

    ``last_received`` is the event loop's time when anything last arrived
    from the peer — a message, a ping, a pong — or ``None`` if the
    connection does not know; the driver's ``idle_timeout`` reads it, so
    that a peer that answers pings counts as alive.
    """

    last_received: float | None = None

    def set_receiver(self, receiver: Receiver) -> bool:
        """Push every message (first those already received) and then the
        close to ``receiver``, in order, instead of :meth:`recv`. Returns
        ``False`` (the default) when this connection cannot push."""
        return False

    @abstractmethod
    async def send(self, frame: Frame) -> None:
        """Send a text (``str``) or binary (``bytes``) message."""

    def send_nowait(self, frame: Frame) -> bool:
        """Send ``frame`` now, without waiting, if the connection can: it is
        open and not holding writes back for flow control. ``True`` when the
        frame went to the socket; ``False`` (the default: nothing was done)
        and the driver awaits :meth:`send` for it instead, which waits or
        raises. The driver's path for every 20 ms of microphone audio: no
        coroutine per frame while the socket keeps up."""
        return False

    async def send_audio(self, pcm: bytes) -> None:
        """Play ``pcm`` (16-bit mono PCM in the request's ``input_format``) on
        the outgoing media track. Only media connections have one; the
        default raises :class:`TransportClosed` (a WebSocket carries audio in
        messages)."""
        raise TransportClosed(None, f"{type(self).__name__} has no media track")

    @abstractmethod
    async def recv(self) -> Frame:
        """The next message; raises :class:`TransportClosed` at the end."""

    @abstractmethod
    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Start (and await) the closing handshake."""

    @abstractmethod
    async def abort(self) -> None:
        """Drop the connection at once, without a closing handshake."""


class Transport(ABC):
    """Executes handshake steps."""

    @abstractmethod
    async def http(self, request: HttpRequest, *, provider: str) -> HttpResponse:
        """Make ``request``; return any response (errors statuses included).

        Raises :class:`~voiceadapters.errors.HandshakeTimeout` or
        :class:`~voiceadapters.errors.ConnectError` when no response came.
        """

    @abstractmethod
    async def websocket(self, request: WebSocketRequest, *, provider: str) -> Connection:
        """Open the WebSocket. Raises
        :class:`~voiceadapters.errors.WebSocketRejected` for an HTTP error
        status, :class:`~voiceadapters.errors.HandshakeTimeout`, or
        :class:`~voiceadapters.errors.ConnectError`."""

    async def media(self, request: MediaRequest, *, provider: str) -> Connection:
        """Join the media session: the request's connector does (the default),
        and must give back a pushing :class:`Connection`. Raises what the
        connector raises (:class:`~voiceadapters.errors.ConnectError`
        subclasses, :class:`~voiceadapters.errors.ConfigError` for a missing
        library)."""
        conn = await request.connector.join(request)
        if not isinstance(conn, Connection):
            raise ConnectError(
                f"{provider}: media connector {request.connector.name!r} returned "
                f"{type(conn).__name__}, not a Connection"
            )
        return conn

    async def aclose(self) -> None:  # noqa: B027
        """Release resources (HTTP client sessions)."""
