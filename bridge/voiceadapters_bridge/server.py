"""The bridge's aiohttp application: fronts on one side, ``voiceadapters.connect()`` on the other.

::

    from aiohttp import web
    from voiceadapters_bridge import BridgeSettings, create_app

    app = create_app(BridgeSettings("vatel://?agent_id=…", bridge_key=Secret(KEY)))
    web.run_app(app)                      # or mount it: parent.add_subapp("/voice", app)

Each client WebSocket is one :class:`ClientLink`: the host of one front (a
sans-I/O codec, :mod:`voiceadapters_bridge.front`) and, once the front asks
for it, one provider session opened with :func:`voiceadapters.connect`, so
every installed plugin works behind every front. The provider's key stays in
this process: it is read from the config string or the provider's
environment variable, and every text frame and log line leaving the bridge
is scrubbed of it.

Routes: each front's WebSocket (``/twilio``, ``/browser``), the page
(``/page/``), ``POST /tokens``, ``/healthz``, ``/readyz`` and ``/metrics``.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from aiohttp import WSMsgType, web

from voiceadapters.capabilities import Capabilities
from voiceadapters.codec import Codec
from voiceadapters.commands import (
    Close,
    Command,
    EndTurn,
    Interrupt,
    ReportPlayed,
    SendAudio,
    SendText,
    SendToolResult,
)
from voiceadapters.config import COMMON_OPTIONS, parse_config, resolve_config
from voiceadapters.errors import (
    BufferOverflowError,
    ConfigError,
    SessionClosedError,
    UnsupportedCommandError,
    VoiceAdaptersError,
)
from voiceadapters.events import AgentAudio, SessionEnded
from voiceadapters.frames import CloseFrame
from voiceadapters.registry import Registry
from voiceadapters.registry import registry as default_registry
from voiceadapters.secrets import Secret
from voiceadapters.session import Session, connect

from .auth import (
    RESERVED_OPTIONS,
    Credential,
    Refusal,
    check_credential,
    mint_token,
    origin_allowed,
)
from .browser import BrowserFront
from .front import ClientFrame, Front, FrontFacts, OpenSession, SetTimer, close_reason
from .metrics import CONTENT_TYPE, Metrics
from .realtime import OpenAIRealtimeFront
from .twilio import TwilioFront

__all__ = ["BRIDGE", "FRONTS", "Bridge", "BridgeSettings", "ClientLink", "create_app", "drain"]

log = logging.getLogger("voiceadapters.bridge")

#: Options no client and no token may set: the key, the common connection
#: options (limits, reconnect, TLS…) and the names of connect()'s own parameters.
FORBIDDEN_OPTIONS = (
    RESERVED_OPTIONS | COMMON_OPTIONS | frozenset(inspect.signature(connect).parameters)
)

#: The fronts a bridge serves unless told otherwise.
FRONTS: tuple[type[Front], ...] = (OpenAIRealtimeFront, TwilioFront, BrowserFront)


@dataclass(frozen=True)
class BridgeSettings:
    """How a bridge runs. Only ``provider_config`` is required.

    ``bridge_key=None`` runs without client authentication (the CLI allows it
    on loopback only). Limits apply per connection, ``max_sessions`` per
    process. ``client_options`` names the agent options clients may choose
    (Twilio custom parameters, the page's query); ``api_key`` and the
    connection options never.
    """

    provider_config: str
    bridge_key: Secret | None = None
    api_key: Secret | None = None
    allow_origins: tuple[str, ...] = ()
    client_options: tuple[str, ...] = ()
    max_message: int = 64 * 1024
    max_rate: float = 100.0
    rate_burst: int = 200
    max_session: float = 3600.0
    max_sessions: int = 100
    start_timeout: float = 10.0
    drain_timeout: float = 30.0
    token_ttl: float = 300.0
    page: bool = True
    dtmf_as_text: bool = False
    #: Largest backlog of frames waiting for a slow client before the
    #: connection is ended (about 30 s of 20 ms audio).
    max_backlog: int = 1500

    def __repr__(self) -> str:
        key = "***" if self.bridge_key else None
        return f"BridgeSettings(provider_config={self.provider_config!r}, bridge_key={key}, ...)"


@dataclass
class Bridge:
    """One process's bridge: its settings, fronts, live links and counters."""

    settings: BridgeSettings
    fronts: tuple[type[Front], ...]
    provider: str
    facts_capabilities: Capabilities
    secrets: tuple[str, ...]
    registry: Registry
    #: The agent options clients may choose that the provider's schema has.
    client_options: frozenset[str] = frozenset()
    #: Whether the provider's codec uses played reports (``ReportPlayed``).
    played_reports: bool = False
    metrics: Metrics = field(default_factory=Metrics)
    links: set[ClientLink] = field(default_factory=set)
    draining: bool = False
    drain_task: asyncio.Future[None] | None = None

    def log_filter(self) -> logging.Filter:
        """A filter masking this bridge's secrets, for any log handler."""
        return _ScrubFilter(self)

    def scrub(self, text: str) -> str:
        """``text`` with every secret of the bridge replaced by ``***``."""
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, "***")
        return text


BRIDGE = web.AppKey("voiceadapters_bridge", Bridge)


class _SubprotocolFilter(logging.Filter):
    """Masks credentials carried in offered subprotocols (``prefix<key>``) in
    aiohttp's WebSocket log lines, which quote the protocols a client offered
    when none of them is the route's."""

    def __init__(self, prefixes: Sequence[str]) -> None:
        super().__init__()
        self.prefixes = frozenset(prefixes)
        alternatives = "|".join(re.escape(p) for p in sorted(self.prefixes))
        self.pattern = re.compile(f"({alternatives})[^\\s,'\"\\]]+")

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = self.pattern.sub(r"\1***", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


class _ScrubFilter(logging.Filter):
    """Masks the bridge's secrets in every record of the bridge's logger."""

    def __init__(self, bridge: Bridge) -> None:
        super().__init__()
        self.bridge = bridge

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.bridge.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        return True


def create_app(
    settings: BridgeSettings,
    *,
    fronts: Sequence[type[Front]] = FRONTS,
    registry: Registry | None = None,
) -> web.Application:
    """The bridge as an aiohttp application, ready to run or to mount.

    Checks ``settings.provider_config`` now (parsing, options, the provider's
    key: :class:`~voiceadapters.errors.ConfigError` and
    :class:`~voiceadapters.errors.UnknownProviderError` as ``connect()``
    would raise them), so a bridge with a bad config does not start.
    """
    reg = registry or default_registry
    url = parse_config(settings.provider_config)
    provider = reg.get(url.provider)
    resolved = resolve_config(url, provider, api_key=settings.api_key)
    codec = provider.make_codec(resolved)  # raises ConfigError without a key
    bad = sorted(set(settings.client_options) & FORBIDDEN_OPTIONS)
    if bad:
        raise ConfigError(f"bridge: clients may not choose the option(s) {', '.join(bad)}")
    secret_values = [
        s.reveal() for s in (resolved.api_key, settings.api_key, settings.bridge_key) if s
    ]
    bridge = Bridge(
        settings=settings,
        fronts=tuple(fronts),
        provider=provider.name,
        facts_capabilities=provider.capabilities,
        secrets=tuple(v for v in secret_values if v),
        registry=reg,
        client_options=frozenset(settings.client_options)
        & frozenset(provider.options_model.model_fields),
        # The documented plugin hook for played reports (docs/concepts/commands.md).
        played_reports=type(codec)._on_played is not Codec._on_played,
    )
    log.addFilter(bridge.log_filter())
    prefixes = {p for p in (f.subprotocol_credential_prefix for f in fronts) if p}
    ws_log = logging.getLogger("aiohttp.websocket")
    if prefixes and not any(
        isinstance(f, _SubprotocolFilter) and prefixes <= f.prefixes for f in ws_log.filters
    ):
        ws_log.addFilter(_SubprotocolFilter(sorted(prefixes)))
    app = web.Application(client_max_size=64 * 1024)
    app[BRIDGE] = bridge
    for front in fronts:
        app.router.add_get(front.route, _websocket_handler(front))
    app.router.add_get("/healthz", _healthz)
    app.router.add_get("/readyz", _readyz)
    app.router.add_get("/metrics", _metrics)
    app.router.add_post("/tokens", _tokens)
    if settings.page:
        app.router.add_get("/", _to_page)
        app.router.add_get("/page", _to_page)
        app.router.add_get("/page/", _page_file)
        app.router.add_get("/page/{name}", _page_file)
    app.on_shutdown.append(drain)
    return app


# -- plain HTTP routes ---------------------------------------------------------------


async def _healthz(request: web.Request) -> web.Response:
    """Liveness: the process serves requests."""
    return web.Response(text="ok\n")


async def _readyz(request: web.Request) -> web.Response:
    """Readiness: 503 while draining or at ``max_sessions``."""
    bridge = request.app[BRIDGE]
    if bridge.draining:
        return web.Response(status=503, text="draining\n")
    if len(bridge.links) >= bridge.settings.max_sessions:
        return web.Response(status=503, text="at capacity\n")
    return web.Response(text="ready\n")


async def _metrics(request: web.Request) -> web.Response:
    bridge = request.app[BRIDGE]
    return web.Response(
        body=bridge.metrics.render().encode(), headers={"Content-Type": CONTENT_TYPE}
    )


def _json_error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


async def _tokens(request: web.Request) -> web.Response:
    """``POST /tokens`` with ``Authorization: Bearer <bridge key>`` and an
    optional JSON body ``{"ttl": seconds, "options": {…}}`` → ``{"token": …,
    "expires_at": unix seconds}``."""
    bridge = request.app[BRIDGE]
    key = bridge.settings.bridge_key
    if key is None:
        return _json_error(404, "this bridge runs without authentication: no tokens to mint")
    presented = _bearer(request)
    try:
        credential = check_credential(presented, key, now=time.time())
    except Refusal as refusal:
        return _json_error(401, refusal.reason)
    if credential.kind != "key":
        return _json_error(403, "only the bridge key mints tokens")
    body: Any = {}
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return _json_error(400, "the body is not JSON")
    if not isinstance(body, dict):
        return _json_error(400, "the body is a JSON object")
    ttl = body.get("ttl", bridge.settings.token_ttl)
    options = body.get("options") or {}
    if not isinstance(ttl, int | float) or not isinstance(options, dict):
        return _json_error(400, "ttl is a number of seconds, options an object")
    try:
        token, expires = mint_token(
            key,
            ttl=float(ttl),
            now=time.time(),
            options={str(k): str(v) for k, v in options.items()},
        )
    except ValueError as exc:
        return _json_error(400, str(exc))
    return web.json_response({"token": token, "expires_at": expires})


_PAGE_FILES = {
    "": ("index.html", "text/html"),
    "index.html": ("index.html", "text/html"),
    "app.js": ("app.js", "text/javascript"),
    "worklet.js": ("worklet.js", "text/javascript"),
}


async def _to_page(request: web.Request) -> web.Response:
    # Relative, so that a bridge mounted under a prefix (add_subapp) works.
    raise web.HTTPFound("page/")


async def _page_file(request: web.Request) -> web.Response:
    """The page: static files shipped in the package; no secret in them."""
    name = request.match_info.get("name", "")
    if name not in _PAGE_FILES:
        raise web.HTTPNotFound()
    filename, content_type = _PAGE_FILES[name]
    data = (resources.files(__package__) / "static" / filename).read_bytes()
    return web.Response(
        body=data,
        content_type=content_type,
        headers={
            "Cache-Control": "no-cache",
            "X-Content-Type-Options": "nosniff",
            # The page loads only its own files and talks only to its bridge.
            "Content-Security-Policy": "default-src 'self'; connect-src 'self'; "
            "style-src 'self' 'unsafe-inline'; frame-ancestors 'none'",
            "Referrer-Policy": "no-referrer",
        },
    )


def _bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    return None


# -- the WebSocket routes --------------------------------------------------------------


def _websocket_handler(front: type[Front]) -> Callable[[web.Request], Any]:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await _serve(request, front)

    return handler


async def _serve(request: web.Request, front_cls: type[Front]) -> web.StreamResponse:
    bridge = request.app[BRIDGE]
    settings = bridge.settings
    ws = web.WebSocketResponse(
        max_msg_size=settings.max_message,
        autoping=True,
        heartbeat=30.0,
        protocols=front_cls.subprotocols,
    )
    if not ws.can_prepare(request).ok:
        return web.Response(status=426, text=f"{front_cls.route} is a WebSocket endpoint\n")
    await ws.prepare(request)
    query = {k: v for k, v in request.query.items() if k != "token"}
    offered = [
        p.strip() for p in request.headers.get("Sec-WebSocket-Protocol", "").split(",") if p.strip()
    ]
    presented = (
        _bearer(request)
        or request.query.get("token")
        or front_cls.credential_from_request(request.headers, offered)
    )
    credential: Credential | None = None
    try:
        if bridge.draining:
            # 1012 "service restart" (IANA registry): reconnect elsewhere.
            raise Refusal(1012, "bridge is draining: connect again", "draining")
        if not origin_allowed(request.headers.get("Origin"), request.host, settings.allow_origins):
            raise Refusal(1008, "forbidden: origin not allowed", "origin")
        if presented is not None or not front_cls.credential_in_protocol:
            credential = check_credential(presented, settings.bridge_key, now=time.time())
        if len(bridge.links) >= settings.max_sessions:
            # 1013 "try again later" (RFC 6455 §7.4.1 leaves it to IANA: Try Again Later).
            raise Refusal(1013, f"too many sessions (limit {settings.max_sessions})", "capacity")
    except Refusal as refusal:
        bridge.metrics.refusal(front_cls.name, refusal.label)
        log.info("bridge: %s refused: %s", front_cls.name, refusal)
        await ws.close(code=refusal.code, message=refusal.reason.encode())
        return ws
    facts = FrontFacts(
        provider=bridge.provider,
        capabilities=bridge.facts_capabilities,
        query=query,
        settings={"dtmf_as_text": settings.dtmf_as_text},
        options=bridge.client_options,
        played_reports=bridge.played_reports,
    )
    front = front_cls(facts)
    link = ClientLink(bridge, front, ws, credential)
    bridge.links.add(link)
    try:
        await link.run()
    finally:
        bridge.links.discard(link)
    return ws


class ClientLink:
    """One client connection: its front, its provider session, its limits."""

    def __init__(
        self, bridge: Bridge, front: Front, ws: web.WebSocketResponse, credential: Credential | None
    ) -> None:
        self.bridge = bridge
        self.front = front
        self.ws = ws
        self.credential = credential
        self.session: Session | None = None
        self.end_reason: str | None = None
        self.opened_at = time.monotonic()
        self.done = asyncio.Event()
        self._outbox: asyncio.Queue[ClientFrame] = asyncio.Queue()
        self._events_task: asyncio.Task[None] | None = None
        self._writer: asyncio.Task[None] | None = None
        self._timers: list[asyncio.TimerHandle] = []
        self._counted = False
        self._closing: asyncio.Future[None] | None = None
        settings = bridge.settings
        self._tokens = float(settings.rate_burst)
        self._refill_at = self.opened_at
        self._action_lock = asyncio.Lock()
        self._bytes_per_second = front.audio_format.bytes_per_second
        self._front_timer: asyncio.TimerHandle | None = None
        self._timer_pumps: set[asyncio.Task[None]] = set()

    # -- the connection's life -----------------------------------------------------------

    async def run(self) -> None:
        settings = self.bridge.settings
        loop = asyncio.get_running_loop()
        self._writer = asyncio.create_task(self._write())
        self._timers.append(
            loop.call_later(
                settings.start_timeout,
                self._no_start,
            )
        )
        self._timers.append(
            loop.call_later(
                settings.max_session,
                self.end,
                1000,
                f"session length limit reached ({settings.max_session:g} s)",
                "session_limit",
            )
        )
        try:
            self.front.connection_opened()
            await self._pump()
            async for message in self.ws:
                if message.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    if not self._take_token():
                        self.end(
                            1008,
                            f"rate limit exceeded ({settings.max_rate:g} messages/s)",
                            "rate_limit",
                        )
                        break
                    self.front.receive_frame(message.data)
                    await self._pump()
                elif message.type is WSMsgType.ERROR:
                    if getattr(message.data, "code", None) == 1009:
                        # aiohttp refused a message over max_msg_size and
                        # closed with 1009 "message too big" itself (RFC 6455 §7.4.1).
                        self._set_reason("message_too_big")
                    break
            self.front.receive_closed(self.ws.close_code, "")
            self._set_reason("client_closed")
            await self._pump()
        finally:
            await self._finish()

    def _no_start(self) -> None:
        if self.session is None and not self.front.closed:
            self.end(
                1008,
                f"no session started within {self.bridge.settings.start_timeout:g} s",
                "start_timeout",
            )

    def end(self, code: int, reason: str, label: str) -> None:
        """End the connection from the bridge's side (a limit, a drain)."""
        self._set_reason(label)
        self.front.end(code, reason)
        self._drain_front()
        if self.session is not None and self.session.ended is None:
            self._closing = asyncio.ensure_future(self._close_session(self.session))

    @staticmethod
    async def _close_session(session: Session) -> None:
        with contextlib.suppress(Exception):
            await session.close()

    async def _finish(self) -> None:
        for timer in self._timers:
            timer.cancel()
        if self._front_timer is not None:
            self._front_timer.cancel()
        if self.session is not None:
            with contextlib.suppress(Exception):
                await self.session.close()
        if self._events_task is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._events_task, 5.0)
        self._outbox.put_nowait(CloseFrame(1000, "bridge closed"))
        if self._writer is not None:
            with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                await asyncio.wait_for(self._writer, 5.0)
        if not self.ws.closed:
            await self.ws.close()
        reason = self.end_reason or "client_closed"
        self.bridge.metrics.session_closed(self.front.name, reason, opened=self._counted)
        log.info(
            "bridge: %s connection ended (%s) after %.1f s: %s",
            self.front.name,
            reason,
            time.monotonic() - self.opened_at,
            self.front.summary(),
        )
        self.done.set()

    def _set_reason(self, label: str) -> None:
        if self.end_reason is None:
            self.end_reason = label

    def _take_token(self) -> bool:
        settings = self.bridge.settings
        now = time.monotonic()
        self._tokens = min(
            float(settings.rate_burst), self._tokens + (now - self._refill_at) * settings.max_rate
        )
        self._refill_at = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True

    # -- front outputs -----------------------------------------------------------------------

    def _drain_front(self) -> None:
        for frame in self.front.frames_to_send():
            self._outbox.put_nowait(frame)
        if self._outbox.qsize() > self.bridge.settings.max_backlog and not self.front.closed:
            self._set_reason("client_too_slow")
            self.front.end(1008, "client too slow: backlog limit reached")
            for frame in self.front.frames_to_send():
                self._outbox.put_nowait(frame)

    async def _pump(self) -> None:
        """Drain the front: frames to the writer, actions performed in order."""
        self._drain_front()
        while True:
            actions = self.front.actions()
            if not actions:
                return
            async with self._action_lock:
                for action in actions:
                    await self._perform(action)
            self._drain_front()

    async def _write(self) -> None:
        while True:
            frame = await self._outbox.get()
            try:
                if isinstance(frame, CloseFrame):
                    await self.ws.close(
                        code=frame.code,
                        message=close_reason(self.bridge.scrub(frame.reason)).encode(),
                    )
                    return
                if isinstance(frame, str):
                    await self.ws.send_str(self.bridge.scrub(frame))
                else:
                    await self.ws.send_bytes(frame)
            except (ConnectionError, RuntimeError):
                return

    # -- actions ---------------------------------------------------------------------------------

    def _set_timer(self, action: SetTimer) -> None:
        if self._front_timer is not None:
            self._front_timer.cancel()
            self._front_timer = None
        if action.delay is not None and not self.done.is_set():
            self._front_timer = asyncio.get_running_loop().call_later(
                max(0.0, action.delay), self._timer_fired
            )

    def _timer_fired(self) -> None:
        self._front_timer = None
        self.front.timer_fired()
        task = asyncio.ensure_future(self._pump())
        self._timer_pumps.add(task)
        task.add_done_callback(self._timer_pumps.discard)

    async def _perform(self, action: OpenSession | SetTimer | Command) -> None:
        if isinstance(action, OpenSession):
            await self._open(action)
            return
        if isinstance(action, SetTimer):
            self._set_timer(action)
            return
        session = self.session
        if session is None or session.ended is not None:
            return
        try:
            if isinstance(action, SendAudio):
                self.bridge.metrics.audio(
                    self.front.name, "in", len(action.pcm) / self._bytes_per_second
                )
                await session.send_audio(action.pcm)
            elif isinstance(action, SendText):
                await session.send_text(action.text)
            elif isinstance(action, SendToolResult):
                await session.send_tool_result(action.call_id, action.output)
            elif isinstance(action, Interrupt):
                await session.interrupt()
            elif isinstance(action, ReportPlayed):
                await session.report_played(action.turn_id, action.seconds)
            elif isinstance(action, EndTurn):
                await session.end_turn()
            elif isinstance(action, Close):
                self._set_reason("client_closed")
                await session.close()
        except UnsupportedCommandError as exc:
            self.front.command_refused(action, self.bridge.scrub(str(exc)))
        except (SessionClosedError, BufferOverflowError):
            pass

    async def _open(self, action: OpenSession) -> None:
        settings = self.bridge.settings
        if self.session is not None or self.front.closed:
            return
        credential = self.credential
        try:
            if credential is None:
                credential = check_credential(
                    action.credential, settings.bridge_key, now=time.time()
                )
        except Refusal as refusal:
            self.bridge.metrics.refusal(self.front.name, refusal.label)
            log.info("bridge: %s refused: %s", self.front.name, refusal)
            self.end_reason = f"refused_{refusal.label}"
            self.front.end(refusal.code, refusal.reason)
            self._drain_front()
            return
        self.credential = credential
        options: dict[str, Any] = {
            k: v
            for k, v in action.options.items()
            if k in settings.client_options and k not in FORBIDDEN_OPTIONS
        }
        options.update({k: v for k, v in credential.options.items() if k not in FORBIDDEN_OPTIONS})
        fmt = self.front.audio_format
        self._bytes_per_second = fmt.bytes_per_second
        try:
            session = await connect(
                settings.provider_config,
                api_key=settings.api_key,
                input_format=fmt,
                output_format=fmt,
                registry=self.bridge.registry,
                **options,
            )
        except VoiceAdaptersError as exc:
            message = self.bridge.scrub(f"{type(exc).__name__}: {exc}")
            log.warning("bridge: %s: the provider session failed: %s", self.front.name, message)
            self._set_reason("provider_failed")
            self.front.session_failed(message)
            self._drain_front()
            return
        if self._front_closed():  # while connecting
            await session.close()
            return
        self.session = session
        self._counted = True
        self.bridge.metrics.session_opened(self.front.name)
        log.info("bridge: %s session opened (%s)", self.front.name, self.bridge.provider)
        self._events_task = asyncio.create_task(self._events(session))

    def _front_closed(self) -> bool:
        return self.front.closed

    async def _events(self, session: Session) -> None:
        metrics = self.bridge.metrics
        name = self.front.name
        try:
            async for event in session:
                if isinstance(event, AgentAudio):
                    metrics.audio(name, "out", len(event.pcm) / self._bytes_per_second)
                elif isinstance(event, SessionEnded):
                    self._set_reason(event.reason)
                self.front.handle_event(event)
                await self._pump()
        except Exception:
            # A bug in a front must end its connection, not leave it hanging.
            log.exception("bridge: %s front failed on a provider event", name)
            self.end(1011, "bridge error", "bridge_error")


# -- drain ---------------------------------------------------------------------------------------


async def drain(app: web.Application) -> None:
    """Drain the bridge: ``/readyz`` answers 503 and new connections are
    refused (1012 "service restart": connect again, elsewhere), live sessions
    go on for up to ``drain_timeout`` seconds, and those still live then end
    with 1001 "going away" and the reason ``bridge shutting down``.

    Call it before stopping the server: ``voiceadapters bridge`` does on
    SIGTERM, and so does its gunicorn worker. It also runs on aiohttp's
    ``on_shutdown``, but by then aiohttp reads no more client messages, so
    sessions there can only be ended, not finished. Calling it twice waits
    for the first drain.
    """
    bridge = app[BRIDGE]
    if bridge.drain_task is None:
        bridge.drain_task = asyncio.ensure_future(_drain(bridge))
    await asyncio.shield(bridge.drain_task)


async def _drain(bridge: Bridge) -> None:
    bridge.draining = True
    bridge.metrics.draining = True
    links = list(bridge.links)
    if not links:
        return
    log.info(
        "bridge: draining %d live session(s) for up to %g s",
        len(links),
        bridge.settings.drain_timeout,
    )
    waits = [asyncio.ensure_future(link.done.wait()) for link in links]
    _, pending = await asyncio.wait(waits, timeout=bridge.settings.drain_timeout)
    for link in links:
        if not link.done.is_set():
            link.end(1001, "bridge shutting down", "drain")
    if pending:
        await asyncio.wait(pending, timeout=10.0)
    for task in pending:
        task.cancel()
