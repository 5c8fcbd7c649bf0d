"""The codec contract: one provider's wire protocol, with no I/O.

A codec is a pure state machine (design §2, after websockets' ``protocol.py``
and aioquic's timers). It never touches a socket, an event loop or a clock.

Inputs only change its state:

* :meth:`Codec.handshake_step` / :meth:`Codec.receive_http_response` /
  :meth:`Codec.connection_opened` — the handshake, as data
  (:mod:`voiceadapters.handshake`);
* :meth:`Codec.receive_frame` — one WebSocket message from the provider;
* :meth:`Codec.receive_closed` — the connection closed (with a code or not);
* :meth:`Codec.handle_command` — a :mod:`command <voiceadapters.commands>` from
  the app (``send`` before 0.2, still accepted with a ``DeprecationWarning``);
  ``report_played`` goes to ``_on_played`` (ignored by default), every other
  command the capabilities allow to ``_on_command``;
* :meth:`Codec.handle_audio` — microphone audio, the same as a ``SendAudio``
  command without building one; it goes to ``_on_send_audio``, whose default
  builds the command for ``_on_command``;
* :meth:`Codec.handle_timer` — time passed; ``now`` comes from the caller.

After **every** input the caller drains both outputs:

* :meth:`Codec.frames_to_send` — messages (and at most one
  :class:`~voiceadapters.handshake.CloseFrame`) to put on the wire;
* :meth:`Codec.events_received` — normalized :mod:`events <voiceadapters.events>`.

A codec is built with its provider (``super().__init__(provider)``): its
name, capabilities and wire formats are read from the
:class:`~voiceadapters.provider.Provider`, the one place they are declared.

Audio crosses the codec in the plugin's *wire* formats: ``SendAudio.pcm`` is
already converted to :attr:`Codec.wire_input`; ``AgentAudio`` events leave the
codec in the format the provider sent (normally :attr:`Codec.wire_output`) and
the session converts them to the application's format.

Peer misbehaviour never raises: malformed input becomes ``provider_error``,
unmapped input ``unknown_message``. Only the caller's misuse raises (a command
after the end, a command the provider lacks).

Subclasses implement ``_on_frame``, ``_on_command`` and the handshake methods,
and use the ``_emit``/``_emit_audio``/``_send``/``_end`` helpers (``_send``
queues a frame for the wire; it is output, where :meth:`Codec.handle_command`
is input). The helpers keep the end of a session exactly-once:
``session_ended`` is always the last event.

Agent audio goes out through ``_emit_audio(pcm, format, turn_id)``: an
``agent_audio`` event, or, where the host installed :attr:`Codec.audio_sink`,
the same audio handed straight to it, in order, with no event built (the
session does so on the connection the application hears: one event per
20 ms message fewer). A codec that emits ``AgentAudio`` events itself is
still right, only slower.
"""

from __future__ import annotations

import json
import warnings
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any, Protocol

from . import wirejson
from .capabilities import Capabilities
from .commands import COMMAND_CAPABILITY, Close, Command, ReportPlayed, SendAudio
from .errors import SessionClosedError, UnsupportedCommandError
from .events import AgentAudio, EndReason, Event, ProviderError, SessionEnded, UnknownMessage
from .fields import MalformedField
from .format import AudioFormat
from .frames import CloseFrame, Frame, OutFrame
from .handshake import HttpRequest, HttpResponse, MediaRequest, WebSocketRequest
from .reconnect import RETRYABLE_CLOSE_CODES

__all__ = ["AudioSink", "Codec", "CodecFacts", "HandshakeStep", "default_close_reason"]

HandshakeStep = HttpRequest | WebSocketRequest | MediaRequest | None

#: :attr:`Codec.audio_sink`: ``sink(pcm, format, turn_id)``.
AudioSink = Callable[[bytes, AudioFormat, "str | None"], None]

#: Longest ``provider_error.code`` kept (a peer may put anything there).
_CODE_LIMIT = 100


def default_close_reason(code: int | None, *, client_closing: bool) -> EndReason:
    """Normalized end reason for a WebSocket close code (RFC 6455 §7.4.1).

    ``None`` (no close frame: TCP reset, EOF) and 1006 mean the connection was
    lost. 1000 is a normal close: ``client_closed`` if we asked for it, else
    ``completed``. 1001 (going away) and 1012 (service restart) are a server
    shutting down. 1008/3000/4001..4003-style policy codes are left to codecs.
    """
    if client_closing and code in (1000, 1001, 1005, None):
        return "client_closed"
    if code is None or code == 1006:
        return "connection_lost"
    if code in (1000, 1005):
        return "completed"
    if code in (1001, 1012, 1013):
        return "server_shutdown"
    if code == 1008:
        return "auth_failed"
    return "error"


class CodecFacts(Protocol):
    """What a codec reads from its provider; every
    :class:`~voiceadapters.provider.Provider` has it (a protocol here, so that
    this module does not import the provider module, which names codecs)."""

    @property
    def name(self) -> str: ...
    @property
    def capabilities(self) -> Capabilities: ...
    @property
    def wire_input(self) -> AudioFormat: ...
    @property
    def wire_output(self) -> AudioFormat: ...


class Codec(ABC):
    """Base class of every provider codec. See the module docstring.

    ``provider`` is the codec's :class:`~voiceadapters.provider.Provider`
    (anything with its :class:`CodecFacts`). Codecs written for 0.1 set
    ``provider``, ``capabilities``, ``wire_input`` and ``wire_output`` as class
    attributes and call ``super().__init__()``; that still works for one
    release and warns.
    """

    #: Provider name (as in config strings), from the provider.
    provider: str = "?"
    #: What the protocol can carry, from the provider.
    capabilities: Capabilities = Capabilities()
    #: Audio format the provider expects from the client, from the provider.
    wire_input: AudioFormat = AudioFormat(16000)
    #: Audio format the provider normally sends, from the provider.
    wire_output: AudioFormat = AudioFormat(16000)

    def __init__(self, provider: CodecFacts | None = None) -> None:
        if provider is None:
            warnings.warn(
                f"{type(self).__name__}: pass the codec's Provider to Codec.__init__ "
                "(capabilities and wire formats as codec class attributes are deprecated "
                "and go away in the next release)",
                DeprecationWarning,
                stacklevel=2,
            )
        else:
            self.provider = provider.name
            self.capabilities = provider.capabilities
            self.wire_input = provider.wire_input
            self.wire_output = provider.wire_output
        self._out: list[OutFrame] = []
        self._events: list[Event] = []
        #: Where :meth:`_emit_audio` hands agent audio without building an
        #: event: ``sink(pcm, format, turn_id)``, called during an input,
        #: only while :meth:`events_received` would return nothing. ``None``
        #: (the default): agent audio is an ``agent_audio`` event like any
        #: other. Set by the codec's host — the session sets it on the
        #: connection whose events go straight to the application, and the
        #: sink runs the same per-message work an ``agent_audio`` event gets
        #: there, one event fewer per message (docs/benchmarks.md).
        self.audio_sink: AudioSink | None = None
        self._ended = False
        # How the session ended, for `resumable`: while receive_closed runs,
        # and whether the end came from it (not from a provider message).
        self._in_close: tuple[int | None] | None = None
        self._ended_by_close: tuple[int | None] | None = None
        self._client_closing = False
        self._close_sent = False

    # -- outputs ---------------------------------------------------------

    def frames_to_send(self) -> list[OutFrame]:
        """Messages to put on the wire, in order; drains the queue."""
        out, self._out = self._out, []
        return out

    def events_received(self) -> list[Event]:
        """Normalized events produced since the last call; drains the queue."""
        events, self._events = self._events, []
        return events

    @property
    def ended(self) -> bool:
        """True once ``session_ended`` was emitted; no input changes anything after."""
        return self._ended

    @property
    def closing(self) -> bool:
        """True once the client asked to close."""
        return self._client_closing

    @property
    def resumable(self) -> bool:
        """True when the session ended because its connection went away in a
        way a new connection may continue (the session reconnects,
        :mod:`voiceadapters.reconnect`): the end came from the connection
        closing — with no close frame, or with a code in
        :data:`~voiceadapters.reconnect.RETRYABLE_CLOSE_CODES` — not from a
        provider message, and the client was not closing. Override it for a
        protocol whose own close codes say otherwise."""
        if self._ended_by_close is None or self._client_closing:
            return False
        (code,) = self._ended_by_close
        return code is None or code in RETRYABLE_CLOSE_CODES

    def resume_from(self, previous: Codec) -> bool:
        """Called on a fresh codec before its handshake when it replaces
        ``previous``, whose connection was lost. A protocol with native resume
        (a session id or resume token to present) takes what it needs from
        ``previous`` and returns ``True`` when the provider will restore the
        conversation; the default starts afresh and returns ``False``."""
        return False

    # -- handshake -------------------------------------------------------

    @abstractmethod
    def handshake_step(self) -> HandshakeStep:
        """The next handshake step, or ``None`` when the WebSocket is open and
        the handshake is done. Calling it again without feeding a result
        returns the same step."""

    def receive_http_response(self, response: HttpResponse) -> None:
        """Feed the response to the pending :class:`HttpRequest` step.

        Raises :class:`~voiceadapters.errors.TokenRequestError` (or its
        subclass :class:`~voiceadapters.errors.AuthenticationError`) when the
        response means the session cannot be established.
        """
        raise NotImplementedError(f"{type(self).__name__} has no HTTP handshake step")

    @abstractmethod
    def connection_opened(self) -> None:
        """The WebSocket of the :class:`WebSocketRequest` step is open.

        First messages (an auth message, session settings) are queued here.
        """

    # -- steady state ----------------------------------------------------

    def receive_frame(self, frame: Frame) -> None:
        """Feed one WebSocket message received from the provider."""
        if self._ended:
            return
        self._on_frame(frame)

    def receive_track_audio(self, pcm: bytes) -> None:
        """Feed audio from the provider's media track (after a
        :class:`~voiceadapters.handshake.MediaRequest` step): 16-bit mono PCM
        in :attr:`wire_output`, in order. The default emits it as
        ``agent_audio``; a codec overrides :meth:`_on_track_audio` to give it
        turn ids or to drop what is not speech."""
        if self._ended:
            return
        self._on_track_audio(pcm)

    def receive_closed(self, code: int | None, reason: str = "") -> None:
        """The connection closed. ``code`` is the close code, ``None`` if the
        connection dropped without a close frame."""
        if self._ended:
            return
        self._in_close = (code,)
        try:
            self._on_closed(code, reason)
        finally:
            self._in_close = None

    def handle_command(self, command: Command) -> None:
        """Feed a command from the application.

        Raises :class:`~voiceadapters.errors.SessionClosedError` after the end
        and :class:`~voiceadapters.errors.UnsupportedCommandError` for a
        command whose capability this provider lacks.
        """
        if self._ended:
            raise SessionClosedError(f"{self.provider} session has ended")
        capability = COMMAND_CAPABILITY.get(command.type)
        if capability is not None and not getattr(self.capabilities, capability):
            raise UnsupportedCommandError(self.provider, capability, command.type)
        if isinstance(command, ReportPlayed):
            # Advisory, for every provider: never refused, never an error,
            # and it does not reach _on_command.
            if not self._client_closing:
                self._on_played(command)
            return
        if isinstance(command, Close):
            if not self._client_closing:
                self._client_closing = True
                self._on_close_requested()
            return
        if self._client_closing:
            raise SessionClosedError(f"{self.provider} session is closing")
        self._on_command(command)

    def handle_audio(self, pcm: bytes) -> None:
        """Feed microphone audio, already in :attr:`wire_input`: the same as
        ``handle_command(SendAudio(pcm=pcm))`` without building the command
        (the session's path for every 20 ms of audio).

        It reaches :meth:`_on_send_audio`, whose default builds the
        ``SendAudio`` for :meth:`_on_command`, so a codec that handles only
        commands needs nothing more; a codec whose class overrides
        :meth:`handle_command` (or the 0.1 ``send``) gets every chunk there.
        Raises what :meth:`handle_command` raises for ``SendAudio``.
        """
        if self._audio_as_command:
            self.handle_command(SendAudio(pcm=pcm))
            return
        if self._ended:
            raise SessionClosedError(f"{self.provider} session has ended")
        if self._client_closing:
            raise SessionClosedError(f"{self.provider} session is closing")
        self._on_send_audio(pcm)

    def send(self, command: Command) -> None:
        """Deprecated name of :meth:`handle_command` (it is an input, not output)."""
        if not type(self)._overrides_send:
            warnings.warn(
                "Codec.send() is deprecated; call Codec.handle_command()",
                DeprecationWarning,
                stacklevel=2,
            )
        # The base implementation, not self.handle_command: that may be a
        # legacy subclass's send() (see __init_subclass__).
        Codec.handle_command(self, command)

    #: A 0.1 subclass overrides ``send``; the driver's calls are routed to it.
    _overrides_send: bool = False
    #: The class overrides ``handle_command`` (or ``send``): ``handle_audio``
    #: builds the command and goes there, so that override sees all audio.
    _audio_as_command: bool = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        cls._audio_as_command = "handle_command" in cls.__dict__ or cls._audio_as_command
        if "send" in cls.__dict__ and "handle_command" not in cls.__dict__:
            # A codec written for 0.1 overrides send(): keep calling it, so
            # that it does not silently stop seeing commands.
            warnings.warn(
                f"{cls.__qualname__} overrides Codec.send(), which is now called "
                "handle_command(); rename the override (send() keeps working for one release)",
                DeprecationWarning,
                stacklevel=2,
            )
            cls._overrides_send = True
            legacy = cls.__dict__["send"]

            def handle_command(self: Codec, command: Command) -> None:
                legacy(self, command)

            cls.handle_command = handle_command  # type: ignore[method-assign]
            cls._audio_as_command = True

    def audio_buffer(self) -> tuple[int, int] | None:
        """``(bytes held, bytes allowed)`` of wire audio while the codec holds
        audio back (before the provider is ready), else ``None``.

        The session checks it *before* converting a chunk, so a chunk that
        would not fit is refused with
        :class:`~voiceadapters.errors.BufferOverflowError` and nothing of it is
        consumed (the resampler never saw it). ``send(SendAudio)`` beyond the
        limit raises the same error.
        """
        return None

    def get_timer(self) -> float | None:
        """When :meth:`handle_timer` next wants to run (same clock as ``now``)."""
        return None

    def handle_timer(self, now: float) -> None:  # noqa: B027
        """Time is now ``now`` (seconds, monotonic, from the caller's clock)."""

    # -- hooks for subclasses ----------------------------------------------

    @abstractmethod
    def _on_frame(self, frame: Frame) -> None: ...

    @abstractmethod
    def _on_command(self, command: Command) -> None: ...

    def _on_send_audio(self, pcm: bytes) -> None:
        """Microphone audio from :meth:`handle_audio` (wire format, never
        empty from the session). Default: ``_on_command(SendAudio(pcm=pcm))``;
        a codec overrides it to skip building the command, and routes its
        ``_on_command``'s ``SendAudio`` here, so both inputs do the same."""
        self._on_command(SendAudio(pcm=pcm))

    def _on_track_audio(self, pcm: bytes) -> None:
        """Track audio arrived (see :meth:`receive_track_audio`)."""
        if pcm:
            self._emit_audio(pcm, self.wire_output)

    def _on_played(self, report: ReportPlayed) -> None:  # noqa: B027
        """The application reports how much agent audio of a turn it has
        played (:class:`~voiceadapters.commands.ReportPlayed`). Default:
        ignored. A codec whose protocol truncates the agent's reply to what
        the user heard (on barge-in or ``interrupt``) keeps the latest report
        per turn; it must clamp it to the audio it actually received. The
        turn id is the one on the codec's own ``agent_audio`` events."""

    def _on_close_requested(self) -> None:
        """The application closed. Default: a normal WebSocket close (1000)."""
        self._send(CloseFrame(1000, "client closed"))

    def _on_closed(self, code: int | None, reason: str) -> None:
        """Map a close to ``session_ended``. Override for provider close codes."""
        self._end(
            default_close_reason(code, client_closing=self._client_closing),
            provider_reason=reason or None,
            close_code=code,
        )

    # -- helpers for subclasses --------------------------------------------

    def _emit(self, event: Event) -> None:
        if not self._ended:
            self._events.append(event)

    def _emit_audio(self, pcm: bytes, format: AudioFormat, turn_id: str | None = None) -> None:
        """Emit agent audio: ``_emit(AgentAudio.new(pcm, format, turn_id))``,
        or, when the host installed an :attr:`audio_sink` and no event is
        waiting to be drained before this audio, ``audio_sink(pcm, format,
        turn_id)`` with no event built. Codecs use it for every message of
        agent audio; either way the host sees the audio in order."""
        if self._ended:
            return
        sink = self.audio_sink
        if (
            sink is not None
            and not self._events
            # What AgentAudio.new would take unvalidated: anything else
            # (a bytearray, a wrong type) gets the event and its validation.
            and type(pcm) is bytes
            and type(format) is AudioFormat
            and (turn_id is None or type(turn_id) is str)
        ):
            sink(pcm, format, turn_id)
        else:
            self._events.append(AgentAudio.new(pcm, format, turn_id))

    def _send(self, frame: OutFrame) -> None:
        if self._close_sent:
            return
        if isinstance(frame, CloseFrame):
            self._close_sent = True
        self._out.append(frame)

    def _send_json(self, message: dict[str, Any]) -> None:
        self._send(json.dumps(message, separators=(",", ":")))

    def _end(
        self,
        reason: EndReason,
        *,
        provider_reason: str | None = None,
        close_code: int | None = None,
        close: CloseFrame | None = None,
    ) -> None:
        """Emit ``session_ended`` (once) and optionally close the socket."""
        if self._ended:
            return
        if provider_reason is not None:
            provider_reason = wirejson.bounded(provider_reason, _CODE_LIMIT * 5)
        self._events.append(
            SessionEnded(reason=reason, provider_reason=provider_reason, close_code=close_code)
        )
        self._ended = True
        self._ended_by_close = self._in_close
        if close is not None:
            self._send(close)

    def _error(self, code: str, message: str, *, fatal: bool = False) -> None:
        # Codes and messages may be the peer's own words: bounded, so that a
        # megabyte error message does not become a megabyte event or log line.
        self._emit(
            ProviderError(
                code=wirejson.bounded(code, _CODE_LIMIT),
                message=wirejson.bounded(message),
                fatal=fatal,
            )
        )

    def _unknown(self, raw: Any) -> None:
        self._emit(UnknownMessage(raw=raw))

    def _malformed(self, kind: str, exc: MalformedField) -> None:
        """Report a known message ``kind`` whose field did not fit
        (:mod:`voiceadapters.fields`): a non-fatal ``malformed_message``."""
        self._error("malformed_message", f"{wirejson.bounded(kind, _CODE_LIMIT)}: {exc}")

    def _parse_json_object(self, frame: Frame) -> dict[str, Any] | None:
        """Decode a frame as a JSON object (:func:`voiceadapters.wirejson.decode`),
        or report a non-fatal ``provider_error`` and return ``None``:
        ``malformed_frame`` (a binary frame that is not UTF-8),
        ``malformed_json`` (not JSON, or nested deeper than
        :data:`~voiceadapters.wirejson.MAX_DEPTH`), ``malformed_message`` (not
        an object). Lone surrogates replaced with U+FFFD are reported as
        ``invalid_unicode`` and the message is still returned."""
        try:
            message, replaced = wirejson.decode(frame)
        except wirejson.MalformedJSON as exc:
            self._error(exc.code, exc.message)
            return None
        if not isinstance(message, dict):
            self._error(
                "malformed_message", f"JSON frame is not an object: {wirejson.excerpt(frame)}"
            )
            return None
        if replaced:
            self._error(
                "invalid_unicode",
                f"{replaced} lone UTF-16 surrogate(s) replaced with U+FFFD in "
                f"{wirejson.excerpt(frame)}",
            )
        return message
