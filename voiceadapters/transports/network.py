"""The real network: ``aiohttp`` for HTTP steps, ``websockets`` for the session.

Foreign exceptions are mapped to :mod:`voiceadapters.errors` at this seam
(after httpx's ``map_httpcore_exceptions``), and every message is scrubbed of
the request's secret values before it can reach an exception or a log line.

``aiohttp`` (its client) is imported by the first HTTP step, and
``websockets``' asyncio client by the first proxied connection: a session
whose handshake has no HTTP step, on a direct route, loads neither.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.frames import Close

from ..errors import ConnectError, HandshakeTimeout, TokenRequestError, WebSocketRejected
from ..frames import Frame
from ..handshake import HttpRequest, HttpResponse, Params, WebSocketRequest, build_url
from ..secrets import Secret, redact
from .base import Connection, Transport, TransportClosed
from .websocket import open_sansio_websocket

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

__all__ = ["NetworkTransport", "ScrubbingLogger", "WebSocketConnection", "scrub"]

log = logging.getLogger("voiceadapters.transport")


def scrub(text: str, *params: Params | tuple[Secret, ...]) -> str:
    """``text`` with every secret found in ``params`` (pairs whose value may be a
    :class:`Secret`, or bare secrets) replaced by ``***``."""
    secrets = []
    for group in params:
        for item in group:
            value = item[1] if isinstance(item, tuple) else item
            if isinstance(value, Secret):
                secrets.append(value)
    return redact(text, secrets)


def _close_info(exc: ConnectionClosed) -> tuple[int | None, str]:
    """As :meth:`SansIOWebSocket._close_info`: the peer's close, else the one
    this side sent when it failed the connection (1009, 1011, ...)."""
    rcvd: Close | None = exc.rcvd
    if rcvd is not None:
        return rcvd.code, rcvd.reason
    sent: Close | None = exc.sent
    if sent is not None and sent.code != 1000:
        return sent.code, sent.reason
    return None, ""


def _tls_hint(exc: BaseException) -> str:
    """A hint when a TLS handshake met a server that does not speak TLS
    (OpenSSL's ``WRONG_VERSION_NUMBER``: the answer was plain HTTP)."""
    seen: BaseException | None = exc
    for _ in range(4):  # the SSL error may sit under aiohttp's own
        if seen is None:
            break
        if "WRONG_VERSION_NUMBER" in str(seen) or "wrong version number" in str(seen):
            return (
                "; the server does not seem to speak TLS (it answered the TLS handshake "
                "in plain text). For a plain local server (a simulator on 127.0.0.1) "
                "add tls=false to the config string"
            )
        seen = seen.__cause__ or seen.__context__
    return ""


class ScrubbingLogger(logging.LoggerAdapter):  # type: ignore[type-arg]
    """A logger for ``websockets`` that masks secrets before anything is emitted.

    ``websockets`` logs the request line (with the query string, where some
    providers put tokens and keys) at DEBUG level. Records are formatted here,
    scrubbed, and passed on as plain text to the same ``websockets.client``
    logger, so users' logging configuration still applies.
    """

    def __init__(self, logger: logging.Logger, *params: Params | tuple[Secret, ...]) -> None:
        super().__init__(logger, {})
        self._params = params

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if not self.isEnabledFor(level):
            return
        text = str(msg) % args if args else str(msg)
        kwargs.setdefault("stacklevel", 2)
        self.logger.log(level, "%s", scrub(text, *self._params), **kwargs)


class WebSocketConnection(Connection):
    """A :class:`Connection` over a ``websockets`` client connection."""

    def __init__(self, ws: ClientConnection) -> None:
        self._ws = ws

    async def send(self, frame: Frame) -> None:
        try:
            await self._ws.send(frame)
        except ConnectionClosed as exc:
            raise TransportClosed(*_close_info(exc)) from None

    async def recv(self) -> Frame:
        try:
            frame = await self._ws.recv()
        except ConnectionClosed as exc:
            raise TransportClosed(*_close_info(exc)) from None
        # Messages only: this client answers pings out of sight.
        self.last_received = asyncio.get_running_loop().time()
        return frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._ws.close(code, reason)

    async def abort(self) -> None:
        self._ws.transport.abort()


class NetworkTransport(Transport):
    """HTTP with ``aiohttp`` (a client session per request); WebSockets with ``websockets``."""

    async def http(self, request: HttpRequest, *, provider: str) -> HttpResponse:
        # One client session per request: a voice session makes one token
        # request, and nothing must stay open once the handshake is done.
        import aiohttp

        masked = request.describe().split("  ")[0]
        log.debug("%s: %s", provider, request.describe())
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.request(
                    request.method,
                    request.reveal_url(),
                    headers=request.reveal_headers(),
                    data=request.body(),
                    timeout=aiohttp.ClientTimeout(total=request.timeout),
                    allow_redirects=False,
                ) as resp,
            ):
                body = await _read_bounded(resp.content, resp.content_length, request.max_body)
                if body is None:
                    raise TokenRequestError(
                        provider,
                        resp.status,
                        f"the response body is larger than {request.max_body} bytes "
                        "(max_token_body); it was not read",
                        url=build_url(request.url, request.query),
                    )
                return HttpResponse(status=resp.status, body=body, headers=dict(resp.headers))
        except asyncio.TimeoutError:
            raise HandshakeTimeout(
                f"{provider}: no answer to {masked} within {request.timeout:g} s"
            ) from None
        except aiohttp.ClientError as exc:
            detail = scrub(f"{type(exc).__name__}: {exc}", request.headers, request.query)
            hint = _tls_hint(exc)
            raise ConnectError(f"{provider}: {masked} failed: {detail}{hint}") from None

    async def websocket(self, request: WebSocketRequest, *, provider: str) -> Connection:
        log.debug("%s: %s", provider, request.describe())
        url = request.reveal_url()
        logger = ScrubbingLogger(
            logging.getLogger("websockets.client"),
            request.query,
            request.headers,
            request.redact,
        )
        masked = request.describe()
        try:
            if _proxied(url):
                # websockets' asyncio client connects through the proxy the
                # environment configures; the Sans-I/O connection does not.
                from websockets.asyncio.client import connect as ws_connect

                ws = await ws_connect(
                    url,
                    additional_headers=request.reveal_headers() or None,
                    compression=None,
                    max_size=request.max_size,
                    ping_interval=request.ping_interval,
                    ping_timeout=request.ping_timeout,
                    open_timeout=request.open_timeout,
                    close_timeout=5.0,
                    user_agent_header="voiceadapters",
                    logger=logger,
                )
                return WebSocketConnection(ws)
            return await asyncio.wait_for(
                open_sansio_websocket(
                    url,
                    headers=request.reveal_headers(),
                    max_size=request.max_size,
                    ping_interval=request.ping_interval,
                    ping_timeout=request.ping_timeout,
                    logger=logger,
                ),
                request.open_timeout,
            )
        except InvalidStatus as exc:
            status = exc.response.status_code
            body = exc.response.body or b""
            text = scrub(
                body.decode("utf-8", "replace")[:300],
                request.query,
                request.headers,
                request.redact,
            )
            raise WebSocketRejected(provider, status, _error_text(text)) from None
        except asyncio.TimeoutError:
            raise HandshakeTimeout(
                f"{provider}: WebSocket {masked} did not open within {request.open_timeout:g} s"
            ) from None
        except (OSError, InvalidHandshake) as exc:
            detail = scrub(f"{type(exc).__name__}: {exc}", request.query, request.headers)
            hint = _tls_hint(exc)
            raise ConnectError(f"{provider}: cannot open {masked}: {detail}{hint}") from None


async def _read_bounded(content: Any, length: int | None, limit: int) -> bytes | None:
    """The whole body of ``content`` (aiohttp's stream), or ``None`` as soon
    as it is known to exceed ``limit`` bytes — from ``Content-Length``, or
    while reading — so a huge body is never buffered whole."""
    if length is not None and length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = await content.read(min(65536, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)


def _proxied(url: str) -> bool:
    """Whether the environment routes ``url`` through a proxy (as ``websockets`` reads it)."""
    from urllib.request import getproxies, proxy_bypass

    proxies = getproxies()
    scheme = "https" if url.startswith("wss:") else "http"
    if not (proxies.get(scheme) or proxies.get("all") or proxies.get("socks")):
        return False
    host = urlsplit(url).hostname or ""
    return not proxy_bypass(host)


def _error_text(body: str) -> str:
    """The ``error`` field of a JSON error body, else the body itself."""
    import json

    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()
    if isinstance(data, dict):
        for key in ("error", "message", "detail"):
            if isinstance(data.get(key), str):
                return str(data[key])
    return body.strip()
