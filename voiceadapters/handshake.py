"""The handshake as data: frozen descriptions of each authorisation step.

A codec never opens a socket. It *describes* the next step of its handshake —
an HTTP token request, or the WebSocket to open — as one of the values below;
the driver executes it and feeds the result back. Tests assert on these
values without any network (design §2, after websockets' ``ClientProtocol.connect``).
The messages of the open connection are in :mod:`voiceadapters.frames`
(re-exported here: ``CloseFrame``, ``Frame``, ``OutFrame``).

Secrets (API keys, tokens) inside headers and query strings are
:class:`~voiceadapters.secrets.Secret` values: every ``repr``/``str`` of a
request shows ``***`` in their place, and only :meth:`HttpRequest.reveal_url`,
:meth:`WebSocketRequest.reveal_url` and :meth:`reveal_headers` — called by the
driver when bytes go on the wire — produce the real text.
"""

from __future__ import annotations

import json as _json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import quote, urlsplit

from .errors import token_error
from .format import AudioFormat
from .frames import CloseFrame, Frame, OutFrame, TrackAudio
from .secrets import MASK, Secret, redact, reveal
from .wirejson import decode as _decode_json

__all__ = [
    "DEFAULT_FIRST_MESSAGE_TIMEOUT",
    "DEFAULT_MAX_BODY",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "CloseFrame",
    "Frame",
    "HttpRequest",
    "HttpResponse",
    "MediaConnector",
    "MediaRequest",
    "OutFrame",
    "Params",
    "TrackAudio",
    "WebSocketRequest",
    "build_url",
    "parse_retry_after",
]

#: Bounds a step carries unless the codec or the application says otherwise
#: (:mod:`voiceadapters.limits`): a token response is a few hundred bytes, so
#: 1 MiB is generous; 16 MiB is ``websockets``' own default message size.
DEFAULT_MAX_BODY = 1024 * 1024
DEFAULT_MAX_MESSAGE_SIZE = 16 * 1024 * 1024
DEFAULT_FIRST_MESSAGE_TIMEOUT = 10.0

#: Query parameters or headers: ordered pairs whose values may be secret.
Params = tuple[tuple[str, "str | Secret"], ...]


def _encode_query(query: Params, *, masked: bool) -> str:
    parts = []
    for key, value in query:
        text = MASK if (masked and isinstance(value, Secret)) else reveal(value)
        parts.append(f"{quote(key, safe='')}={quote(text, safe='') if text != MASK else MASK}")
    return "&".join(parts)


def build_url(base: str, query: Params, *, masked: bool = True) -> str:
    """``base`` plus the query string; secret values are ``***`` unless ``masked=False``."""
    if not query:
        return base
    sep = "&" if urlsplit(base).query else "?"
    return f"{base}{sep}{_encode_query(query, masked=masked)}"


def _masked_params(params: Params) -> dict[str, str]:
    return {k: (MASK if isinstance(v, Secret) else v) for k, v in params}


@dataclass(frozen=True)
class HttpRequest:
    """An HTTP request the driver should make (for example a token request).

    ``url`` holds no secret; secret query parameters live in ``query`` and
    secret headers in ``headers``. ``json`` is the JSON body (``None``: no body).
    ``timeout`` bounds the whole exchange (connect, send, the whole answer);
    ``max_body`` the response body: a bigger one is refused, unread.
    """

    method: str
    url: str
    headers: Params = ()
    query: Params = ()
    json: Any = None
    timeout: float = 10.0
    max_body: int = DEFAULT_MAX_BODY

    def reveal_url(self) -> str:
        return build_url(self.url, self.query, masked=False)

    def reveal_headers(self) -> dict[str, str]:
        return {k: reveal(v) for k, v in self.headers}

    def body(self) -> bytes | None:
        return None if self.json is None else _json.dumps(self.json).encode()

    def secrets(self) -> tuple[Secret, ...]:
        """Every secret of the request (header and query values)."""
        return tuple(v for _, v in (*self.headers, *self.query) if isinstance(v, Secret))

    def describe(self) -> str:
        """One line, secrets masked: ``POST https://host/path  Authorization: ***``."""
        headers = "  ".join(f"{k}: {v}" for k, v in _masked_params(self.headers).items())
        body = f"  body: {_json.dumps(self.json)}" if self.json is not None else ""
        return f"{self.method} {build_url(self.url, self.query)}  {headers}{body}".rstrip()

    def __repr__(self) -> str:
        return f"HttpRequest({self.describe()!r})"

    __str__ = describe


@dataclass(frozen=True)
class HttpResponse:
    """What the driver got back for an :class:`HttpRequest`."""

    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)
    #: Secrets of the request (set by the driver): a server that echoes the
    #: request back in an error body must not put them into an error message,
    #: so :meth:`text` and :meth:`error_message` mask them.
    redact: tuple[Secret, ...] = ()

    def header(self, name: str) -> str | None:
        """A header's value, the name matched without regard to case."""
        lowered = name.lower()
        for key, value in self.headers.items():
            if key.lower() == lowered:
                return value
        return None

    def retry_after(self) -> float | None:
        """Seconds to wait before retrying, from a ``Retry-After`` header
        (RFC 9110 §10.2.3: delay seconds or an HTTP date), else ``None``."""
        return parse_retry_after(self.header("Retry-After"))

    def describe_body(self) -> str:
        """The body's size and content type, never its text: for a body that
        may hold a credential (a 200 from a token endpoint)."""
        if not self.body:
            return "(empty body)"
        kind = self.header("Content-Type") or "no content type"
        return f"{len(self.body)} bytes of {kind.split(';')[0].strip() or kind}"

    def json(self) -> Any:
        """The body parsed as JSON; raises ``ValueError`` if it is not JSON.

        Decoded like a provider's frames (:func:`voiceadapters.wirejson.decode`):
        too deep, not UTF-8 or not JSON is a ``ValueError``, never another
        exception, and lone surrogates come back as U+FFFD."""
        return _decode_json(self.body)[0]

    def grant(self, provider: str, *, url: str = "") -> dict[str, Any] | None:
        """The body of a token endpoint's answer: the JSON object of a 200,
        or ``None`` when a 200's body is not one (the codec says what it
        missed, with :meth:`describe_body`, never the text). Any other status
        raises :func:`~voiceadapters.errors.token_error`'s typed error, with
        the server's words (:meth:`error_message`) and ``Retry-After``."""
        if self.status != 200:
            raise token_error(
                provider,
                self.status,
                self.error_message(),
                url=url,
                retry_after=self.retry_after(),
            )
        try:
            body = self.json()
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    def text(self, limit: int = 300) -> str:
        """An excerpt of the body, the request's secrets masked."""
        text = redact(self.body.decode("utf-8", errors="replace"), self.redact)
        return text if len(text) <= limit else text[:limit] + "…"

    def error_message(self, limit: int = 200) -> str:
        """What the server said about an error: the ``error`` (or ``message``,
        ``detail``) string of a JSON object body, else an excerpt of the body,
        else ``"(empty body)"``."""
        if not self.body:
            return "(empty body)"
        try:
            body = self.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            for key in ("error", "message", "detail"):
                if isinstance(body.get(key), str):
                    return redact(str(body[key]), self.redact)[:limit]
        return self.text(limit)

    def __repr__(self) -> str:
        return f"HttpResponse(status={self.status}, body=<{len(self.body)} bytes>)"


@dataclass(frozen=True)
class WebSocketRequest:
    """The WebSocket the driver should open.

    ``max_size`` bounds one incoming message (a bigger one fails the
    connection with close code 1009); ``ping_interval``/``ping_timeout``
    configure protocol-level keepalive (no pong in time fails it with 1011).
    ``first_message_timeout`` bounds the wait from the opening to the
    provider's first message, ``idle_timeout`` any silence of the provider
    (no inbound frame at all, pings and pongs included); ``None``: no deadline.
    The driver enforces both and ends the session with ``reason="timeout"``.
    Compression is always off: audio barely compresses and permessage-deflate
    costs more CPU than everything else in a frame's path (design §10).
    """

    url: str
    query: Params = ()
    headers: Params = ()
    open_timeout: float = 10.0
    #: Secrets sent *inside* messages on this connection (a token as the first
    #: message, say): the driver keeps them out of log records too.
    redact: tuple[Secret, ...] = ()
    max_size: int | None = DEFAULT_MAX_MESSAGE_SIZE
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    first_message_timeout: float | None = DEFAULT_FIRST_MESSAGE_TIMEOUT
    idle_timeout: float | None = None

    def reveal_url(self) -> str:
        return build_url(self.url, self.query, masked=False)

    def reveal_headers(self) -> dict[str, str]:
        return {k: reveal(v) for k, v in self.headers}

    def describe(self) -> str:
        headers = "  ".join(f"{k}: {v}" for k, v in _masked_params(self.headers).items())
        return f"WS {build_url(self.url, self.query)}  {headers}".rstrip()

    def __repr__(self) -> str:
        return f"WebSocketRequest({self.describe()!r})"

    __str__ = describe


class MediaConnector(Protocol):
    """Who joins a :class:`MediaRequest`: a plugin's media stack (a WebRTC
    client library behind a small adapter). The core never imports one; a
    codec names its plugin's connector in the step it describes, and the
    transport calls :meth:`join`.

    :meth:`join` returns an open
    :class:`~voiceadapters.transports.base.Connection` that carries the
    session's data messages as frames (``send``, and ``frame_received`` or
    ``recv``), plays :class:`~voiceadapters.frames.TrackAudio` on its outgoing
    track (``send_audio``) and hands the provider's track audio to
    ``Receiver.audio_received`` (it must push: ``set_receiver`` returns
    ``True``). It raises :class:`~voiceadapters.errors.ConnectError`
    subclasses when the join fails — :class:`~voiceadapters.errors.WebSocketRejected`
    when the signalling server refused the credential — and
    :class:`~voiceadapters.errors.ConfigError` when its library is missing.
    """

    #: What the stack is (the WebRTC library it wraps), for messages.
    name: str

    async def join(self, request: MediaRequest) -> object: ...


@dataclass(frozen=True)
class MediaRequest:
    """The real-time media session to join (a WebRTC room), the third kind of
    handshake step besides :class:`HttpRequest` and :class:`WebSocketRequest`.

    ``url`` is the signalling URL and ``token`` the room credential (always a
    :class:`~voiceadapters.secrets.Secret`); ``connector`` joins it (see
    :class:`MediaConnector`). Audio crosses the connection as tracks, not
    messages: the microphone is published at ``input_format`` (the codec's
    ``wire_input``) and the provider's track is read at ``output_format`` (its
    ``wire_output``), so the session's audio pipeline converts and frames
    audio exactly as for a WebSocket. ``options`` are the connector's own
    settings (a data topic, say). The timeouts mean what they mean on a
    :class:`WebSocketRequest`; ``open_timeout`` bounds the whole join.
    """

    url: str
    token: Secret
    connector: MediaConnector
    input_format: AudioFormat
    output_format: AudioFormat
    options: tuple[tuple[str, str], ...] = ()
    open_timeout: float = 10.0
    first_message_timeout: float | None = DEFAULT_FIRST_MESSAGE_TIMEOUT
    idle_timeout: float | None = None
    redact: tuple[Secret, ...] = ()

    def option(self, name: str, default: str = "") -> str:
        """The value of connector option ``name``."""
        return next((v for k, v in self.options if k == name), default)

    def describe(self) -> str:
        return f"MEDIA {self.connector.name} {self.url}  token: {MASK}"

    def __repr__(self) -> str:
        return f"MediaRequest({self.describe()!r})"

    __str__ = describe


def parse_retry_after(value: str | None, *, now: float | None = None) -> float | None:
    """A ``Retry-After`` value as seconds from now (``>= 0``): delay seconds,
    or an HTTP date (RFC 9110 §10.2.3); ``None`` when absent or unreadable.
    ``now`` is the wall clock (``time.time()``) for a date."""
    if value is None:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    import time

    return max(0.0, when.timestamp() - (time.time() if now is None else now))
