"""The binary-PCM client codec: token + ``ws_url`` handshake, token-first
WebSocket, raw PCM16 16 kHz in exact 640-byte frames.

Pure, like every codec (:mod:`voiceadapters.codec`): no I/O, no clock, no
asyncio. Sources: seed 003 and docs.getworkbuddy.com, summarised in the
binary-PCM wire spec (``protocols/binary-pcm.md``), whose sections are cited
below; §8 of that spec lists the ambiguities, and the decisions taken here are
marked **Decision**.

Handshake (§1)
--------------
1. ``POST {http_base}/api/v1/sdk/token`` with ``Authorization: Bearer <key>``,
   ``Content-Type: application/json`` and no body (seed 003 step 1; §8.2).
2. A 200 with ``{"token": "<JWT>", "ws_url": "wss://…/api/v1/sdk/ws"}``; the
   WebSocket is ``ws_url`` exactly as given, with no token in its URL or
   headers.
3. On open the codec sends ``{"token": "<JWT>"}`` as the first (text) message.

Token errors: 401 and 403 (a valid key of a disabled kiosk) raise
:class:`~voiceadapters.errors.AuthenticationError`, any other non-200
:class:`~voiceadapters.errors.TokenRequestError`, both with the HTTP status
and the provider's message: ``{"error": …}`` if the body is that JSON, else a
short excerpt of the body, else ``"(empty body)"`` (§8.3: the error body
shape is undocumented; the key and token are masked if the server echoes
them; ``Retry-After`` is ``retry_after``). A 200 whose body is not a JSON
object with non-empty string ``token`` and ``ws_url`` is a
``TokenRequestError`` with ``status=200`` naming what is missing (only the
body's size and content type, or the key names of a JSON object, are shown:
it may hold a credential).

**Decision — the TLS rule applies to ``ws_url``.** The provider chooses the
WebSocket URL, and the token travels in its first message, so the config's
security rule (design §4) is applied to it: ``ws_url`` must be ``wss://``, or
``ws://`` to a loopback host, or ``ws://`` anywhere when the config says
``allow_insecure=true`` (:meth:`voiceadapters.config.ProviderConfig.allows_plain`).
Anything else — ``ws://`` to a remote host without that opt-in, a scheme other
than ``ws``/``wss``, no host — is refused with a ``TokenRequestError`` (``status=200``) before any socket opens.
The docs show a bare ``ws_url``; a query string on it may carry a credential,
so every query value is kept as a :class:`~voiceadapters.secrets.Secret`
(masked in logs and errors) and the URL is opened as given.

The key and the token only ever live in :class:`~voiceadapters.secrets.Secret`
values; the only place the token appears in clear is the first WebSocket
message itself.

Server messages → events (§2, §5)
---------------------------------
=================================  ============================================
``connected``                      ``session_started`` (``session_id`` from a
                                   string ``session_id``/``id`` field if the
                                   server adds one, else ``None``); held
                                   microphone audio is flushed right after
``agent_ready``                    ``agent_ready``
``session_ended{reason}``          ``session_ended(reason=…, provider_reason=
                                   <raw reason>)``; the codec closes with 1000
``error{code, message}``           ``provider_error(code, message, fatal)``
binary frame                       ``agent_audio`` (16 kHz, ``turn_id=None``)
other JSON ``type``                ``unknown_message(raw=<the object>)``
=================================  ============================================

* **Decision — ``session_ended.reason`` is an open string (§8.1).**
  ``agent_disconnected``, ``session_closed`` and ``room_closed`` (the seed and
  the docs disagree on the middle one, so both are accepted alike) and any
  unknown string normalize to ``completed``; ``server_shutdown`` to
  ``server_shutdown``. ``provider_reason`` is always the raw string. A
  missing reason is ``completed`` with ``provider_reason=None``; a non-string
  one is also reported as a non-fatal ``provider_error``
  ``malformed_message``. ``session_ended`` ends the session at once
  (``close_code=None``, §8.9): the close that follows changes nothing.
* **Decision — error codes and close codes.** The four documented codes
  (``AUTH_TIMEOUT``, ``INVALID_AUTH``, ``AUTH_FAILED``,
  ``SESSION_SETUP_FAILED``) are ``fatal=True``: the server closes right after
  them. Any other code is ``fatal=False`` (its effect is unknown; if the
  server closes, the close ends the session). A missing ``code`` becomes
  ``"unspecified"``, a missing ``message`` ``""``. The session then ends on
  the close, with:

  ==========  ======================  ======================================
  close code  ``reason``              why
  ==========  ======================  ======================================
  4001        ``timeout``             authentication timeout (``AUTH_TIMEOUT``):
                                      the token came too late
  4002        ``auth_failed``         token required (``INVALID_AUTH``)
  4003        ``auth_failed``         invalid or expired token (``AUTH_FAILED``)
  4500        ``error``               session setup failed
  1000        ``completed``           (``client_closed`` if the client closed)
  1001        ``server_shutdown``
  none, 1006  ``connection_lost``
  others      as :func:`voiceadapters.codec.default_close_reason`
  ==========  ======================  ======================================

  When a fatal error code was received, *its* reason wins over the close
  code (same table by pairing), so an ``AUTH_FAILED`` followed by a dropped
  connection is still ``auth_failed``. ``provider_reason`` is the last error
  code received, else the close frame's reason text, else ``None``;
  ``close_code`` is the close code.
* **Decision — waiting for ``connected`` is bounded.** From the moment the
  WebSocket is open (the first :meth:`handle_timer` after
  :meth:`connection_opened`), ``connected`` must arrive within the
  ``timeout`` option, else the codec ends the session itself (``timeout``, or
  the reason of a fatal error already received if the server never closed)
  and closes with 1000. This keeps a silent server from holding the
  application's audio forever.
* **Decision — lenient order.** Agent audio before ``connected`` or before
  ``agent_ready`` is delivered (§8.6). ``agent_ready`` before ``connected``
  is reported as a non-fatal ``provider_error`` ``unexpected_message`` and
  starts the session as ``connected`` would (``session_started``, then
  ``agent_ready``), since a ready agent implies an accepted token. A second
  ``connected`` is an ``unexpected_message`` and is otherwise ignored.
* **Odd-length agent frames** (the same policy and codes as the Vatel codec):
  the whole-sample prefix is delivered and a non-fatal ``provider_error``
  ``odd_length_audio`` says one byte was dropped; an empty binary frame is
  ignored. Malformed text: ``malformed_json`` / ``malformed_frame`` /
  ``malformed_message`` (non-fatal), as :meth:`Codec._parse_json_object`
  reports them; a JSON object without a string ``type`` is
  ``malformed_message``.

Microphone audio (§3, §4)
-------------------------
``send_audio`` (already 16 kHz mono, converted by the session) goes through a
:class:`voiceadapters.audio.Reframer` of 640 bytes, so **every binary frame on
the wire is exactly 640 bytes** however the application chunks its audio; a
remainder waits for the next chunk. A chunk that is not whole 16-bit samples
raises :class:`~voiceadapters.errors.AudioFormatError` and is not consumed.

* **Decision — audio before ``connected`` is held, in order.** The protocol
  forbids microphone audio before ``connected`` (§2). Frames produced
  earlier wait in a bounded buffer (``preconnect_buffer_seconds``, default 5 s
  = 160 000 bytes, counting the reframer's remainder) and are sent in order
  right after ``connected``, before anything else. A chunk that does not fit
  raises :class:`~voiceadapters.errors.BufferOverflowError` at the call and
  is **not consumed**: nothing of it enters the buffer or the reframer, so the
  caller may retry it once ``session_started`` arrived.
* **Decision — the only invented samples.** On ``close`` the reframer's
  remainder (less than 20 ms) is zero-padded to a full 640-byte frame and
  sent, then a close 1000. Zero padding of that last partial frame is the
  only audio the codec ever invents; it drops none.
* **Decision — close before ``connected``** waits for ``connected``: the held
  audio, the padded remainder and the close 1000 are sent when it arrives
  (or the session ends the way the server or the ``timeout`` says).

Commands: ``send_audio`` → binary frames, ``close`` → padded remainder and
close 1000. ``send_text``, ``interrupt`` and ``send_tool_result`` have no
binary-PCM message and are refused by the base class from the capabilities.
"""

from __future__ import annotations

from collections import deque
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from voiceadapters.audio import Reframer
from voiceadapters.codec import Codec, default_close_reason
from voiceadapters.commands import COMMAND_CAPABILITY, Command, SendAudio
from voiceadapters.config import ProviderConfig
from voiceadapters.errors import (
    BufferOverflowError,
    TokenRequestError,
    UnsupportedCommandError,
)
from voiceadapters.events import AgentReady, EndReason, SessionStarted
from voiceadapters.handshake import (
    CloseFrame,
    Frame,
    HttpRequest,
    HttpResponse,
    WebSocketRequest,
)
from voiceadapters.secrets import Secret

from . import messages as m
from .provider import API_KEY_ENV, WIRE_FORMAT, BinaryPcmOptions, BinaryPcmProvider

__all__ = [
    "CLOSE_CODE_REASONS",
    "ERROR_CODE_REASONS",
    "BinaryPcmCodec",
    "normalize_session_ended_reason",
]

#: Close codes of this protocol → normalized end reason (module docstring).
CLOSE_CODE_REASONS: dict[int, EndReason] = {
    m.CLOSE_AUTH_TIMEOUT: "timeout",
    m.CLOSE_INVALID_AUTH: "auth_failed",
    m.CLOSE_AUTH_FAILED: "auth_failed",
    m.CLOSE_SETUP_FAILED: "error",
}
#: Fatal error codes → normalized end reason (the reason of their close code).
ERROR_CODE_REASONS: dict[str, EndReason] = {
    code: CLOSE_CODE_REASONS[close] for code, close in m.CLOSE_CODE_OF.items()
}


def normalize_session_ended_reason(reason: str | None) -> EndReason:
    """``server_shutdown`` → ``server_shutdown``; every other reason (the
    documented ``agent_disconnected``, ``session_closed``, ``room_closed``,
    unknown strings, none) → ``completed``."""
    return "server_shutdown" if reason == m.SERVER_SHUTDOWN else "completed"


class BinaryPcmCodec(Codec):
    """Client side of a binary-PCM (WorkBuddy) voice session; see the module docstring.

    Raises :class:`~voiceadapters.errors.ConfigError` at construction when
    ``config`` has no API key.
    """

    def __init__(self, config: ProviderConfig, provider: BinaryPcmProvider | None = None) -> None:
        self._spec = provider or BinaryPcmProvider()
        super().__init__(self._spec)
        self.config = config
        self.options = config.options_as(BinaryPcmOptions)
        self._api_key = config.require_api_key(API_KEY_ENV)
        self._token: Secret | None = None
        self._ws_url: str | None = None
        self._opened = False
        self._connected = False
        self._ready = False
        self._connect_deadline: float | None = None
        self._close_pending = False
        self._error_code: str | None = None
        self._fatal_code: str | None = None
        self._reframer = Reframer(m.FRAME_BYTES)
        self._held: deque[bytes] = deque()
        self._held_bytes = 0
        self._limit = self.options.preconnect_buffer_bytes

    def __repr__(self) -> str:
        if self.ended:
            state = "ended"
        elif self._connected:
            state = "connected"
        elif self._opened:
            state = "authenticating"
        else:
            state = "handshake"
        return f"<BinaryPcmCodec {self.config.to_string()!r} {state}>"

    # -- public state --------------------------------------------------------

    @property
    def connected(self) -> bool:
        """True once the server's ``connected`` arrived (audio flows from then on)."""
        return self._connected

    @property
    def agent_is_ready(self) -> bool:
        """True once the server's ``agent_ready`` arrived."""
        return self._ready

    @property
    def held_bytes(self) -> int:
        """Microphone audio held until ``connected`` (frames plus the reframer's remainder)."""
        return self._held_bytes + (0 if self._connected else self._reframer.pending)

    def audio_buffer(self) -> tuple[int, int] | None:
        """``(held, limit)`` until ``connected``: the session refuses a chunk that
        would not fit before converting it (nothing of it is consumed)."""
        return None if self._connected else (self.held_bytes, self.buffer_limit)

    @property
    def buffer_limit(self) -> int:
        """The bound on :attr:`held_bytes` (``preconnect_buffer_seconds`` in bytes)."""
        return self._limit

    # -- handshake ---------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.config.http_base}{self._spec.token_path}"

    def handshake_step(self) -> HttpRequest | WebSocketRequest | None:
        """The token request, then the WebSocket of ``ws_url``, then ``None``."""
        if self._opened:
            return None
        if self._token is None or self._ws_url is None:
            return self._token_request()
        # The token travels inside the first message: keep it out of logs too.
        # ws_url comes from the server and may carry a credential of its own
        # in its query (``?token=…``): every query value is a Secret, masked
        # in every log line and error, revealed only on the wire.
        base, _, query = self._ws_url.partition("?")
        return WebSocketRequest(
            url=base,
            query=tuple((k, Secret(v)) for k, v in parse_qsl(query, keep_blank_values=True)),
            open_timeout=self.options.timeout,
            # The codec bounds the wait for ``connected`` itself (handle_timer,
            # the same ``timeout``) and names it; no second, racing deadline.
            first_message_timeout=None,
            redact=(self._token,),
        )

    def _token_request(self) -> HttpRequest:
        return HttpRequest(
            "POST",
            self.token_url,
            headers=(
                ("Authorization", Secret("Bearer " + self._api_key.reveal())),
                ("Content-Type", "application/json"),
            ),
            timeout=self.options.timeout,
        )

    def receive_http_response(self, response: HttpResponse) -> None:
        """Take ``token`` and ``ws_url`` from a 200, or raise the typed error
        (module docstring)."""
        if self._token is not None or self._opened:
            raise RuntimeError("BinaryPcmCodec: no HTTP request is pending")
        url = self.token_url
        body = response.grant(self.provider, url=url)
        if not isinstance(body, dict):
            # Never the text: a broken 200 may still hold the token.
            excerpt = response.describe_body()
            raise TokenRequestError(
                self.provider, 200, f"the body is not a JSON object: {excerpt}", url=url
            )
        token, ws_url = body.get("token"), body.get("ws_url")
        missing = [
            name
            for name, value in (("token", token), ("ws_url", ws_url))
            if not isinstance(value, str) or not value
        ]
        if missing:
            # Key names only: the body might hold a credential under another name.
            raise TokenRequestError(
                self.provider,
                200,
                f"the body is a JSON object without a non-empty string "
                f"{' and '.join(repr(n) for n in missing)}: keys {sorted(body)}",
                url=url,
            )
        assert isinstance(token, str) and isinstance(ws_url, str)
        problem = self._ws_url_problem(ws_url)
        if problem:
            raise TokenRequestError(self.provider, 200, problem, url=url)
        self._token = Secret(token)
        self._ws_url = ws_url

    def _ws_url_problem(self, ws_url: str) -> str | None:
        """Why ``ws_url`` must not be opened, or ``None`` (module docstring)."""
        try:
            parts = urlsplit(ws_url)
            host = parts.hostname
            parts.port  # noqa: B018 - raises ValueError for a bad port
        except ValueError as exc:
            return f"ws_url is not a valid URL ({exc})"
        scheme = parts.scheme.lower()
        if scheme not in ("ws", "wss") or not host:
            return (
                f"ws_url must be a ws:// or wss:// URL with a host, "
                f"not {scheme or 'a relative'}:// URL"
            )
        if scheme == "ws" and not self.config.allows_plain(host):
            return (
                f"ws_url is plain ws:// to the non-loopback host {host!r}; refusing to "
                "send the session token in clear text (plain WebSocket URLs are only "
                "opened to loopback hosts, or with allow_insecure=true)"
            )
        return None

    def connection_opened(self) -> None:
        """Send ``{"token": …}``, the first message (§1.4)."""
        if self._token is None:
            raise RuntimeError("BinaryPcmCodec: the WebSocket opened before the token step")
        self._opened = True
        self._send_json(m.auth(self._token.reveal()))

    # -- time ----------------------------------------------------------------

    def get_timer(self) -> float | None:
        """The deadline for ``connected`` while it is awaited."""
        if self.ended or self._connected:
            return None
        return self._connect_deadline

    def handle_timer(self, now: float) -> None:
        """The first call after the WebSocket opened starts the ``connected``
        deadline (``timeout`` seconds); a later call past it ends the session."""
        if self.ended or self._connected or not self._opened:
            return
        if self._connect_deadline is None:
            self._connect_deadline = now + self.options.timeout
            return
        if now >= self._connect_deadline:
            reason: EndReason = "timeout"
            if self._fatal_code is not None:
                reason = ERROR_CODE_REASONS[self._fatal_code]
            self._end(
                reason,
                provider_reason=self._error_code
                or f"no 'connected' within {self.options.timeout:g} s",
                close=CloseFrame(m.CLOSE_NORMAL, "no connected message"),
            )

    # -- frames from the server ----------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            self._on_audio(frame)
            return
        message = self._parse_json_object(frame)
        if message is None:
            return
        kind = message.get("type")
        if kind == m.CONNECTED:
            self._on_connected(message)
        elif kind == m.AGENT_READY:
            self._on_agent_ready()
        elif kind == m.ERROR:
            self._on_error(message)
        elif kind == m.SESSION_ENDED:
            self._on_session_ended(message)
        elif isinstance(kind, str):
            self._unknown(message)
        else:
            self._error("malformed_message", f"message has no string 'type': {frame[:120]!r}")

    def _on_audio(self, frame: bytes) -> None:
        # The hot path: one binary frame per 20 ms of agent speech.
        n = len(frame)
        if n & 1:
            self._error(
                "odd_length_audio",
                f"binary frame of {n} bytes is not whole 16-bit samples; the last byte was dropped",
            )
            frame = frame[:-1]
        if frame:
            self._emit_audio(frame, WIRE_FORMAT)

    def _on_connected(self, message: dict[str, Any]) -> None:
        if self._connected:
            self._error("unexpected_message", "connected received twice; ignored")
            return
        session_id = message.get("session_id", message.get("id"))
        self._start(session_id if isinstance(session_id, str) else None)

    def _start(self, session_id: str | None) -> None:
        self._connected = True
        self._emit(SessionStarted(session_id=session_id))
        held, self._held = self._held, deque()
        self._held_bytes = 0
        for frame in held:
            self._send(frame)
        if self._close_pending:
            self._finish_close()

    def _on_agent_ready(self) -> None:
        if not self._connected:
            self._error(
                "unexpected_message",
                "agent_ready before connected; treating the session as connected",
            )
            self._start(None)
        self._ready = True
        self._emit(AgentReady())

    def _on_error(self, message: dict[str, Any]) -> None:
        code = message.get("code")
        text = message.get("message")
        code = code if isinstance(code, str) and code else "unspecified"
        text = text if isinstance(text, str) else ""
        fatal = code in m.FATAL_ERROR_CODES
        self._error_code = code
        if fatal:
            self._fatal_code = code
        self._error(code, text, fatal=fatal)

    def _on_session_ended(self, message: dict[str, Any]) -> None:
        raw = message.get("reason")
        if raw is not None and not isinstance(raw, str):
            self._error("malformed_message", "session_ended: field 'reason' must be a string")
            raw = None
        self._end(
            normalize_session_ended_reason(raw),
            provider_reason=raw,
            close=CloseFrame(m.CLOSE_NORMAL, "session ended"),
        )

    def _on_closed(self, code: int | None, reason: str) -> None:
        end: EndReason
        if self._fatal_code is not None:
            end = ERROR_CODE_REASONS[self._fatal_code]
        elif code in CLOSE_CODE_REASONS:
            end = CLOSE_CODE_REASONS[code]
        else:
            end = default_close_reason(code, client_closing=self._client_closing)
        self._end(end, provider_reason=self._error_code or reason or None, close_code=code)

    # -- commands from the application ------------------------------------------

    def _on_command(self, command: Command) -> None:
        if isinstance(command, SendAudio):
            self._on_send_audio(command.pcm)
        else:
            # The base class refuses commands whose capability is false, so
            # this is only reached by a command type added to the core later.
            raise UnsupportedCommandError(
                self.provider, COMMAND_CAPABILITY.get(command.type, command.type), command.type
            )

    def _on_send_audio(self, pcm: bytes) -> None:
        # The hot path (every 20 ms); SendAudio commands come here too.
        if not pcm:
            return
        WIRE_FORMAT.check(pcm, what="send_audio pcm")
        if self._connected:
            for frame in self._reframer.push(pcm):
                self._send(frame)
            return
        held = self._held_bytes + self._reframer.pending
        if held + len(pcm) > self._limit:
            raise BufferOverflowError(self.provider, self._limit, held, len(pcm))
        for frame in self._reframer.push(pcm):
            self._held.append(frame)
            self._held_bytes += len(frame)

    def _on_close_requested(self) -> None:
        if not self._opened:
            self._end("client_closed")
        elif not self._connected:
            self._close_pending = True  # finished by _start (module docstring)
        else:
            self._finish_close()

    def _finish_close(self) -> None:
        tail = self._reframer.flush(pad=True)
        if tail is not None:
            self._send(tail)
        self._send(CloseFrame(m.CLOSE_NORMAL, "client closed"))
