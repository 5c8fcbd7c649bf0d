"""The fault matrix: what the application sees when a server misbehaves, and
that every fault ends within its configured bound.

Each row runs a real session (``voiceadapters.connect``, the network
transport) against :class:`Hostile`, an aiohttp server on 127.0.0.1 written
to misbehave in one way at a time: the token endpoints of vatel and
binary-pcm, and the WebSocket of every provider (``openai`` standing for
the three OpenAI Realtime providers, with ``azure-openai`` added where its
handshake differs: the key in an ``api-key`` header, another path). Bounds
are small (tenths of a second) so the suite stays fast; every test runs under
a deadline (``within``, ``asyncio.timeout`` written for Python 3.10 too) so
that a hang fails instead of blocking, and asserts the
outcome (the typed error, or the events), not a timing.

Every row also checks that the API key and the tokens the server issued
appear in no exception text, ``repr``, ``args`` or log record: the server
echoes the ``Authorization`` and ``api-key`` headers, its URL and query back
wherever it can.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web

import voiceadapters
from voiceadapters.errors import (
    AuthenticationError,
    ConnectError,
    HandshakeTimeout,
    TokenRequestError,
    WebSocketRejected,
)
from voiceadapters.events import Event, ProviderError, SessionEnded, UnknownMessage

pytestmark = pytest.mark.network

API_KEY = "sk-live-Fault/Matrix+Key=="  # "/", "+", "=": URL-encoded forms differ
TOKEN = "eyJ.issued-session-token.sig"
URL_TOKEN = "url-token-in-ws-url-4242"
SECRETS = (API_KEY, TOKEN, URL_TOKEN, "Fault%2FMatrix", "Fault/Matrix+Key")

#: How long any row may take before it counts as a hang.
HANG = 5.0
#: The small bounds the rows configure.
BOUND = 0.3

TOKEN_PROVIDERS = ["vatel", "binary-pcm"]
ALL_PROVIDERS = ["vatel", "binary-pcm", "nextevi", "deepgram", "openai"]
#: The rows where how the key travels matters (refusals, close reasons, logs):
#: Azure OpenAI sends it as an ``api-key`` header on its own path, where
#: OpenAI sends ``Authorization: Bearer`` (docs/providers/openai.md).
AUTH_PROVIDERS = [*ALL_PROVIDERS, "azure-openai"]
#: The providers whose key is a request header (the key itself, no token): the header.
HEADER_KEY_PROVIDERS = {"openai": "authorization", "azure-openai": "api-key"}

#: The OpenAI Realtime (GA) server's first event (``session.created``,
#: ``RealtimeSessionCreatedEvent`` of the ``openai`` SDK): Azure's is the same.
_SESSION_CREATED = json.dumps(
    {
        "type": "session.created",
        "event_id": "event_1",
        "session": {"id": "sess_1", "type": "realtime"},
    }
)

#: The message each protocol's server sends first, once the socket is open.
FIRST_MESSAGE = {
    "vatel": json.dumps({"type": "session_started", "data": {"id": "s-1"}}),
    "binary-pcm": json.dumps({"type": "connected", "session_id": "s-1"}),
    "nextevi": json.dumps({"type": "connection_metadata", "connection_id": "c-1"}),
    "deepgram": json.dumps({"type": "Welcome", "request_id": "r-1"}),
    "openai": _SESSION_CREATED,
    "azure-openai": _SESSION_CREATED,
}

WsScript = Callable[[web.WebSocketResponse, web.Request], Awaitable[None]]


@dataclass
class Fault:
    """How :class:`Hostile` misbehaves (the defaults: it behaves)."""

    token_status: int = 200
    token_body: bytes | None = None  # None: a good token response
    token_headers: dict[str, str] = field(default_factory=dict)
    token_chunked: bool = False  # stream the body without Content-Length
    token_hang: bool = False  # never answer the token request
    echo_auth: bool = False  # the body echoes the request's Authorization header
    ws_status: int | None = None  # refuse the upgrade with this status
    ws_error: dict[str, Any] | None = None  # ... and this JSON body (None: an echo)
    ws_hang: bool = False  # never answer the upgrade
    autoping: bool = True  # False: pings go unanswered
    heartbeat: float | None = None  # the server pings this often
    script: WsScript | None = None  # what the server does once open


class Hostile:
    """A misbehaving server for the three protocols, on 127.0.0.1."""

    def __init__(self, fault: Fault) -> None:
        self.fault = fault
        self.port = 0
        self.ws_urls: list[str] = []
        self.ws_headers: list[dict[str, str]] = []  # lower-cased names

    async def token(self, request: web.Request) -> web.StreamResponse:
        fault = self.fault
        if fault.token_hang:
            await asyncio.sleep(3600)
        body = fault.token_body
        if fault.echo_auth:
            echoed = f"invalid credentials: {request.headers.get('Authorization')}"
            body = json.dumps({"error": echoed}).encode()
        if body is None:
            data = {"token": TOKEN}
            if request.path.startswith("/api/"):  # binary-pcm: ws_url with a token in it
                data["ws_url"] = f"ws://127.0.0.1:{self.port}/api/v1/sdk/ws?token={URL_TOKEN}"
            body = json.dumps(data).encode()
        if fault.token_chunked:
            resp = web.StreamResponse(status=fault.token_status, headers=fault.token_headers)
            resp.enable_chunked_encoding()
            await resp.prepare(request)
            for start in range(0, len(body), 65536):
                await resp.write(body[start : start + 65536])
            await resp.write_eof()
            return resp
        return web.Response(status=fault.token_status, body=body, headers=fault.token_headers)

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        fault = self.fault
        self.ws_urls.append(str(request.url))
        self.ws_headers.append({k.lower(): v for k, v in request.headers.items()})
        if fault.ws_hang:
            await asyncio.sleep(3600)
        if fault.ws_status is not None:
            # Echo everything that could hold a credential.
            text = (
                f"refused {request.url} auth={request.headers.get('Authorization')}"
                f" api-key={request.headers.get('api-key')}"
            )
            body = {"error": text} if fault.ws_error is None else fault.ws_error
            return web.Response(status=fault.ws_status, text=json.dumps(body))
        ws = web.WebSocketResponse(
            autoping=fault.autoping, heartbeat=fault.heartbeat, max_msg_size=0
        )
        await ws.prepare(request)
        if request.path.startswith("/api/"):
            await ws.receive()  # binary-pcm: the token, the client's first message
        if fault.script is not None:
            await fault.script(ws, request)
        await drain(ws)
        return ws

    @asynccontextmanager
    async def serve(self) -> AsyncIterator[int]:
        app = web.Application()
        app.router.add_post("/v1/session-token", self.token)
        app.router.add_post("/api/v1/sdk/token", self.token)
        app.router.add_get("/v1/connection", self.websocket)
        app.router.add_get("/api/v1/sdk/ws", self.websocket)
        app.router.add_get("/ws/voice/{connection_id}", self.websocket)
        app.router.add_get("/v1/agent/converse", self.websocket)
        app.router.add_get("/v1/realtime", self.websocket)  # openai
        app.router.add_get("/openai/realtime", self.websocket)  # azure-openai
        runner = web.AppRunner(app, shutdown_timeout=0.1)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        try:
            yield self.port
        finally:
            await runner.cleanup()


async def drain(ws: web.WebSocketResponse) -> None:
    """Read until the client closes (answering nothing but what aiohttp does)."""
    async for _msg in ws:
        pass


@contextlib.asynccontextmanager
async def within(seconds: float) -> AsyncIterator[None]:
    """``asyncio.timeout(seconds)`` (Python 3.11+), written for 3.10 too:
    a row that hangs fails with ``TimeoutError`` instead of stalling the suite."""
    task = asyncio.current_task()
    assert task is not None
    expired = False

    def expire() -> None:
        nonlocal expired
        expired = True
        task.cancel()

    handle = asyncio.get_running_loop().call_later(seconds, expire)
    try:
        yield
    except asyncio.CancelledError:
        if expired:
            raise TimeoutError(f"not done within {seconds} s") from None
        raise
    finally:
        handle.cancel()


def config_of(provider: str, port: int, **options: object) -> str:
    required = {
        "vatel": "&agent_id=agent-1",
        "nextevi": "&config_id=cfg-1",
        "binary-pcm": "",
        "deepgram": "",
        "openai": "",  # model defaults to gpt-realtime
        "azure-openai": "&deployment=dep-1",
    }
    extra = "".join(f"&{k}={v}" for k, v in options.items())
    return f"{provider}://127.0.0.1:{port}?tls=false{required[provider]}{extra}"


@asynccontextmanager
async def hostile(fault: Fault) -> AsyncIterator[Hostile]:
    server = Hostile(fault)
    async with server.serve():
        yield server


async def connect_error(provider: str, fault: Fault, **options: object) -> ConnectError:
    """``connect()`` against ``fault``: the error it raised (it must raise)."""
    async with within(HANG), hostile(fault) as server:
        with pytest.raises(ConnectError) as info:
            await voiceadapters.connect(
                config_of(provider, server.port, **options), api_key=API_KEY
            )
    return info.value


async def session_events(
    provider: str,
    fault: Fault,
    *,
    before: Callable[[Any], Awaitable[None]] | None = None,
    **options: object,
) -> tuple[list[Event], voiceadapters.Session]:
    """A session against ``fault`` (reconnect off), read to its end: every
    event, and the session."""
    async with within(HANG), hostile(fault) as server:
        # Reconnect off: each row shows how a connection ends (docs/reliability.md;
        # tests/test_reconnect.py shows what reconnecting does instead).
        session = await voiceadapters.connect(
            config_of(provider, server.port, **options), api_key=API_KEY, reconnect=False
        )
        if before is not None:
            await before(session)
        events = [event async for event in session]
        await session.close()
    return events, session


def assert_no_secret(*texts: object) -> None:
    for text in texts:
        rendered = str(text)
        for secret in SECRETS:
            assert secret not in rendered, f"a secret leaked into {rendered[:200]!r}"


def client_log(caplog: pytest.LogCaptureFixture) -> list[str]:
    """The client's log lines (the test server's own access log is not the client's)."""
    return [r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp.")]


def assert_error_clean(exc: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    """No secret in the exception's text, repr, args, anything chained, or the log."""
    assert_no_secret(str(exc), repr(exc), *exc.args, exc.__cause__, exc.__context__)
    assert exc.__cause__ is None and (exc.__context__ is None or exc.__suppress_context__)
    assert_no_secret(*client_log(caplog))


@pytest.fixture(autouse=True)
def _debug_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)


# -- the token endpoint (vatel, binary-pcm) ----------------------------------------------


@pytest.mark.parametrize("provider", TOKEN_PROVIDERS)
@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (400, TokenRequestError),
        (401, AuthenticationError),
        (403, AuthenticationError),
        (404, TokenRequestError),
        (429, TokenRequestError),
        (500, TokenRequestError),
        (503, TokenRequestError),
    ],
)
async def test_token_error_statuses_raise_typed_errors_with_the_status(
    provider: str, status: int, kind: type[TokenRequestError], caplog: pytest.LogCaptureFixture
) -> None:
    fault = Fault(token_status=status, token_body=b'{"error": "no such agent"}')
    exc = await connect_error(provider, fault)
    assert type(exc) is kind and exc.status == status
    assert exc.provider_message == "no such agent" and exc.retry_after is None
    assert_error_clean(exc, caplog)


@pytest.mark.parametrize("provider", TOKEN_PROVIDERS)
@pytest.mark.parametrize("status", [401, 500])
async def test_a_token_endpoint_that_echoes_the_authorization_header_leaks_nothing(
    provider: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    exc = await connect_error(provider, Fault(token_status=status, echo_auth=True))
    assert isinstance(exc, TokenRequestError) and exc.status == status
    assert exc.provider_message == "invalid credentials: ***"
    assert_error_clean(exc, caplog)


@pytest.mark.parametrize("provider", TOKEN_PROVIDERS)
@pytest.mark.parametrize(
    ("status", "header", "expected"),
    [
        (429, "7", 7.0),
        (503, "120", 120.0),
        (429, "Thu, 01 Jan 2015 00:00:00 GMT", 0.0),  # a date in the past: now
    ],
)
async def test_retry_after_is_exposed_on_the_error(
    provider: str, status: int, header: str, expected: float, caplog: pytest.LogCaptureFixture
) -> None:
    fault = Fault(
        token_status=status, token_body=b"slow down", token_headers={"Retry-After": header}
    )
    exc = await connect_error(provider, fault)
    assert isinstance(exc, TokenRequestError) and exc.status == status
    assert exc.retry_after == expected
    assert "Retry-After" in str(exc)


@pytest.mark.parametrize("provider", TOKEN_PROVIDERS)
async def test_a_retry_after_date_in_the_future_is_seconds_from_now(provider: str) -> None:
    import time
    from email.utils import formatdate

    when = formatdate(time.time() + 3600, usegmt=True)
    fault = Fault(token_status=429, token_headers={"Retry-After": when})
    exc = await connect_error(provider, fault)
    assert isinstance(exc, TokenRequestError)
    assert exc.retry_after is not None and 3500 < exc.retry_after <= 3600


@pytest.mark.parametrize("provider", TOKEN_PROVIDERS)
@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b"", "(empty body)"),
        (b"\x00\xff<html>garbage</html>", "bytes of application/octet-stream"),
        (b'{"access": "' + TOKEN.encode() + b'"}', "keys ['access']"),  # tokenless
    ],
    ids=["empty", "garbage", "tokenless"],
)
async def test_a_broken_200_is_a_token_error_that_never_quotes_the_body(
    provider: str, body: bytes, says: str, caplog: pytest.LogCaptureFixture
) -> None:
    exc = await connect_error(provider, Fault(token_body=body))
    assert type(exc) is TokenRequestError and exc.status == 200
    assert says in exc.provider_message
    assert "garbage" not in str(exc)
    assert_error_clean(exc, caplog)


@pytest.mark.parametrize("provider", TOKEN_PROVIDERS)
async def test_a_non_json_200_holding_the_token_is_described_not_quoted(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    body = f"token={TOKEN}; ws_url=ws://127.0.0.1/?token={URL_TOKEN}".encode()
    fault = Fault(token_body=body, token_headers={"Content-Type": "text/plain"})
    exc = await connect_error(provider, fault)
    assert type(exc) is TokenRequestError and exc.status == 200
    assert f"{len(body)} bytes of text/plain" in exc.provider_message
    assert_error_clean(exc, caplog)


@pytest.mark.parametrize("provider", TOKEN_PROVIDERS)
@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
async def test_an_oversized_token_body_is_refused_unread(
    provider: str, chunked: bool, caplog: pytest.LogCaptureFixture
) -> None:
    body = b'{"token": "' + b"x" * 300_000 + b'"}'
    fault = Fault(token_body=body, token_chunked=chunked)
    exc = await connect_error(provider, fault, max_token_body=4096)
    assert type(exc) is TokenRequestError and exc.status == 200
    assert "larger than 4096 bytes (max_token_body)" in str(exc)
    assert_error_clean(exc, caplog)


@pytest.mark.parametrize("provider", TOKEN_PROVIDERS)
async def test_a_token_endpoint_that_never_answers_times_out(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    exc = await connect_error(provider, Fault(token_hang=True), http_timeout=BOUND)
    assert type(exc) is HandshakeTimeout
    assert f"within {BOUND:g} s" in str(exc)
    assert_error_clean(exc, caplog)


# -- the WebSocket (every provider) ---------------------------------------------------------


@pytest.mark.parametrize("provider", AUTH_PROVIDERS)
@pytest.mark.parametrize("status", [401, 403, 404, 500, 503])
async def test_a_refused_upgrade_is_websocket_rejected_and_leaks_nothing(
    provider: str, status: int, caplog: pytest.LogCaptureFixture
) -> None:
    exc = await connect_error(provider, Fault(ws_status=status))
    assert type(exc) is WebSocketRejected and exc.status == status
    assert "refused" in exc.provider_message
    if provider in HEADER_KEY_PROVIDERS:  # the key header was echoed, and masked
        echoed = "api-key=***" if provider == "azure-openai" else "auth=***"
        assert echoed in exc.provider_message
    assert_error_clean(exc, caplog)


@pytest.mark.parametrize("provider", list(HEADER_KEY_PROVIDERS))
async def test_an_openai_style_refusal_that_quotes_the_key_is_masked(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    """OpenAI refuses a bad key with its REST error object (so does the
    plugin's simulator); the real API's message quotes part of the key it was
    given, this one all of it. The object is not a string ``error``, so the
    message is the (masked) body."""
    error = {
        "error": {
            "message": f"Incorrect API key provided: {API_KEY}.",
            "type": "invalid_request_error",
            "code": "invalid_api_key",
            "param": None,
        }
    }
    exc = await connect_error(provider, Fault(ws_status=401, ws_error=error))
    assert type(exc) is WebSocketRejected and exc.status == 401
    assert "invalid_api_key" in exc.provider_message
    assert "Incorrect API key provided: ***." in exc.provider_message
    assert_error_clean(exc, caplog)


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_a_closed_port_is_a_connect_error(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    async with within(HANG):
        with pytest.raises(ConnectError) as info:
            await voiceadapters.connect(config_of(provider, port), api_key=API_KEY)
    assert type(info.value) is ConnectError
    assert "onnect" in str(info.value)  # "Connect call failed", "Cannot connect"
    assert_error_clean(info.value, caplog)


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_an_upgrade_that_is_never_answered_times_out(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    exc = await connect_error(provider, Fault(ws_hang=True), open_timeout=BOUND)
    assert type(exc) is HandshakeTimeout
    assert f"within {BOUND:g} s" in str(exc)
    assert_error_clean(exc, caplog)


@pytest.mark.parametrize("provider", list(HEADER_KEY_PROVIDERS))
@pytest.mark.parametrize("fault", ["upgrade", "session.created"])
async def test_the_openai_timeout_option_bounds_the_opening_and_session_created(
    provider: str, fault: str
) -> None:
    """The plugin's own ``timeout`` (docs/providers/openai.md: seconds for the
    WebSocket opening and for ``session.created``), with no common bound set."""
    if fault == "upgrade":
        exc = await connect_error(provider, Fault(ws_hang=True), timeout=BOUND)
        assert type(exc) is HandshakeTimeout and f"within {BOUND:g} s" in str(exc)
        return
    events, _ = await session_events(provider, Fault(), timeout=BOUND)
    error, *rest = events
    assert isinstance(error, ProviderError) and error.code == "first_message_timeout"
    assert f"{BOUND:g} s" in error.message and rest == timed_out("first_message_timeout")


def timed_out(code: str) -> list[Event]:
    """What a passed receive deadline looks like to the application."""
    return [SessionEnded(reason="timeout", provider_reason=code)]


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_a_socket_that_opens_and_stays_silent_ends_at_the_first_message_deadline(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    events, _ = await session_events(provider, Fault(), first_message_timeout=BOUND)
    error, *rest = events
    assert isinstance(error, ProviderError) and error.fatal
    assert error.code == "first_message_timeout" and f"{BOUND:g} s" in error.message
    assert rest == timed_out("first_message_timeout")
    assert_no_secret(*events, *client_log(caplog))


async def hello_then_stall(ws: web.WebSocketResponse, request: web.Request) -> None:
    await ws.send_str(FIRST_MESSAGE[provider_of(request)])


def provider_of(request: web.Request) -> str:
    path = request.path
    return (
        "deepgram"
        if path.startswith("/v1/agent/")
        else "openai"
        if path == "/v1/realtime"
        else "azure-openai"
        if path.startswith("/openai/")
        else "vatel"
        if path.startswith("/v1/")
        else "binary-pcm"
        if path.startswith("/api/")
        else "nextevi"
    )


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_one_message_then_silence_ends_at_the_idle_deadline(provider: str) -> None:
    fault = Fault(script=hello_then_stall)
    events, _ = await session_events(provider, fault, idle_timeout=BOUND, ping_interval=0)
    started, error, ended = events
    assert started.type == "session_started"
    assert isinstance(error, ProviderError) and error.code == "idle_timeout" and error.fatal
    assert [ended] == timed_out("idle_timeout")


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
@pytest.mark.parametrize("who_pings", ["client", "server"])
async def test_pings_and_pongs_count_as_activity_for_the_idle_deadline(
    provider: str, who_pings: str
) -> None:
    """A silent peer that answers our pings, or pings us, is alive: the idle
    deadline does not fire (receive deadlines reset on any inbound frame)."""

    async def hello_then_wait(ws: web.WebSocketResponse, request: web.Request) -> None:
        await hello_then_stall(ws, request)
        # Silent, but reading: aiohttp answers every ping it reads.
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(drain(ws), 4 * BOUND)
        await ws.close(code=1000)

    if who_pings == "client":
        fault = Fault(script=hello_then_wait)
        keepalive: dict[str, object] = {"ping_interval": BOUND / 3, "ping_timeout": BOUND}
    else:
        fault = Fault(script=hello_then_wait, heartbeat=BOUND / 3)
        keepalive = {"ping_interval": 0}
    events, _ = await session_events(provider, fault, idle_timeout=BOUND, **keepalive)
    assert [e.type for e in events] == ["session_started", "session_ended"]
    assert events[-1] == SessionEnded(reason="completed", close_code=1000)


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_a_peer_that_stops_answering_pings_is_detected_by_keepalive(provider: str) -> None:
    fault = Fault(script=hello_then_stall, autoping=False)
    events, _ = await session_events(provider, fault, ping_interval=BOUND / 3, ping_timeout=BOUND)
    assert events[0].type == "session_started"
    assert events[-1] == SessionEnded(
        reason="error", provider_reason="keepalive ping timeout", close_code=1011
    )


#: Each protocol's close codes and what the session reports
#: (the codecs' close-code maps; unlisted protocols' codes map as RFC 6455).
CLOSE_CODES = [
    ("vatel", 1000, "completed"),
    ("vatel", 1001, "server_shutdown"),
    ("vatel", 1008, "auth_failed"),
    ("vatel", 1011, "error"),
    ("vatel", 1012, "server_shutdown"),
    ("binary-pcm", 1000, "completed"),
    ("binary-pcm", 1001, "server_shutdown"),
    ("binary-pcm", 4001, "timeout"),
    ("binary-pcm", 4002, "auth_failed"),
    ("binary-pcm", 4003, "auth_failed"),
    ("binary-pcm", 4500, "error"),
    ("nextevi", 1000, "completed"),
    ("nextevi", 1001, "server_shutdown"),
    ("nextevi", 1008, "auth_failed"),
    ("nextevi", 1012, "server_shutdown"),
    ("nextevi", 1013, "server_shutdown"),
    ("nextevi", 4001, "auth_failed"),
    ("nextevi", 4500, "error"),
    ("deepgram", 1000, "completed"),
    ("deepgram", 1001, "server_shutdown"),
    ("deepgram", 1008, "auth_failed"),
    ("deepgram", 1011, "error"),
    # OpenAI Realtime documents no close codes of its own (the server has no
    # goodbye message; docs/providers/openai.md): RFC 6455's meanings apply.
    ("openai", 1000, "completed"),
    ("openai", 1001, "server_shutdown"),
    ("openai", 1008, "auth_failed"),
    ("openai", 1011, "error"),
    ("openai", 1012, "server_shutdown"),
    ("azure-openai", 1000, "completed"),
    ("azure-openai", 1008, "auth_failed"),
]


@pytest.mark.parametrize(("provider", "code", "reason"), CLOSE_CODES)
async def test_each_documented_close_code_ends_the_session_with_its_reason(
    provider: str, code: int, reason: str
) -> None:
    async def hello_then_close(ws: web.WebSocketResponse, request: web.Request) -> None:
        await hello_then_stall(ws, request)
        await ws.close(code=code, message=b"bye")

    events, _ = await session_events(provider, Fault(script=hello_then_close))
    assert events[0].type == "session_started"
    assert events[-1] == SessionEnded(reason=reason, provider_reason="bye", close_code=code)  # type: ignore[arg-type]


@pytest.mark.parametrize("provider", AUTH_PROVIDERS)
async def test_a_close_reason_that_echoes_the_credentials_is_masked(provider: str) -> None:
    async def hello_then_echo(ws: web.WebSocketResponse, request: web.Request) -> None:
        await hello_then_stall(ws, request)
        # The credential each protocol sent: vatel's token and NextEVI's key
        # in the URL, binary-pcm's token in its first message, the key itself
        # in a header for the others (OpenAI's Bearer, Azure's api-key).
        echoed = TOKEN if provider == "binary-pcm" else request.query.get("token", API_KEY)
        await ws.close(code=4003, message=f"bad {echoed}".encode())

    events, _ = await session_events(provider, Fault(script=hello_then_echo))
    end = events[-1]
    assert isinstance(end, SessionEnded) and end.close_code == 4003
    assert end.provider_reason == "bad ***"
    assert_no_secret(*events)


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_a_connection_dropped_mid_stream_is_connection_lost(provider: str) -> None:
    async def hello_then_drop(ws: web.WebSocketResponse, request: web.Request) -> None:
        await hello_then_stall(ws, request)
        assert request.transport is not None
        request.transport.abort()

    events, _ = await session_events(provider, Fault(script=hello_then_drop))
    assert events[0].type == "session_started"
    assert events[-1] == SessionEnded(reason="connection_lost", close_code=None)


FLOOD = 5000


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_a_flood_of_messages_is_all_delivered_in_order_and_the_session_ends(
    provider: str,
) -> None:
    async def flood(ws: web.WebSocketResponse, request: web.Request) -> None:
        await hello_then_stall(ws, request)
        for n in range(FLOOD):
            await ws.send_str(json.dumps({"type": "flood", "n": n}))
        await ws.close(code=1000)

    events, _ = await session_events(provider, Fault(script=flood))
    unknown = [e for e in events if isinstance(e, UnknownMessage)]
    assert [e.raw["n"] for e in unknown] == list(range(FLOOD))
    assert events[-1] == SessionEnded(reason="completed", close_code=1000)


@pytest.mark.parametrize("provider", ALL_PROVIDERS)
async def test_a_message_over_the_size_limit_closes_1009_and_says_so(provider: str) -> None:
    async def oversized(ws: web.WebSocketResponse, request: web.Request) -> None:
        await hello_then_stall(ws, request)
        await ws.send_str(json.dumps({"type": "flood", "pad": "x" * 5000}))

    events, _ = await session_events(provider, Fault(script=oversized), max_message_size=4096)
    assert events[0].type == "session_started"
    end = events[-1]
    assert isinstance(end, SessionEnded) and end.reason == "error" and end.close_code == 1009
    assert end.provider_reason is not None and "exceeds limit of 4096 bytes" in end.provider_reason


async def test_audio_held_for_a_provider_that_never_gets_ready_is_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """binary-pcm holds microphone audio until ``connected``: when that never
    comes, the audio is not lost silently — ``stats.unsent_audio_bytes`` says how much."""
    second = b"\x01\x00" * 16000  # 1 s at the default 16 kHz mono input

    async def send(session: voiceadapters.Session) -> None:
        await session.send_audio(second)

    events, session = await session_events(
        "binary-pcm", Fault(), before=send, first_message_timeout=BOUND
    )
    assert events[-1] == SessionEnded(reason="timeout", provider_reason="first_message_timeout")
    assert session.stats.audio_bytes_sent == len(second)
    assert session.stats.unsent_audio_bytes == len(second)


@pytest.mark.parametrize("provider", TOKEN_PROVIDERS)
async def test_the_ws_url_token_and_issued_token_never_reach_a_log_record(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A full session at DEBUG: the binary-pcm ``ws_url`` carries ``?token=``,
    vatel's connection URL carries the issued token; neither is logged."""

    async def hello_then_close(ws: web.WebSocketResponse, request: web.Request) -> None:
        await hello_then_stall(ws, request)
        await ws.close(code=1000)

    async with within(HANG), hostile(Fault(script=hello_then_close)) as server:
        session = await voiceadapters.connect(
            config_of(provider, server.port), api_key=API_KEY, reconnect=False
        )
        events = [event async for event in session]
        await session.close()
    assert events[-1].type == "session_ended"
    wire = server.ws_urls[0]
    assert (URL_TOKEN if provider == "binary-pcm" else TOKEN) in wire, "the URL works on the wire"
    assert_no_secret(repr(session), *events, *client_log(caplog))


@pytest.mark.parametrize("provider", list(HEADER_KEY_PROVIDERS))
async def test_the_key_header_reaches_the_wire_and_no_log_record(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A full session at DEBUG: the key travels in the provider's one header
    (``Authorization: Bearer`` for OpenAI, ``api-key`` for Azure), not in the
    URL nor in the other header, and no log record or event shows it."""

    async def hello_then_close(ws: web.WebSocketResponse, request: web.Request) -> None:
        await hello_then_stall(ws, request)
        await ws.close(code=1000)

    async with within(HANG), hostile(Fault(script=hello_then_close)) as server:
        session = await voiceadapters.connect(
            config_of(provider, server.port), api_key=API_KEY, reconnect=False
        )
        events = [event async for event in session]
        await session.close()
    assert [e.type for e in events] == ["session_started", "session_ended"]
    assert events[-1] == SessionEnded(reason="completed", close_code=1000)
    (headers,) = server.ws_headers
    header = HEADER_KEY_PROVIDERS[provider]
    other = "api-key" if header == "authorization" else "authorization"
    expected = f"Bearer {API_KEY}" if header == "authorization" else API_KEY
    assert headers.get(header) == expected and other not in headers
    assert "openai-beta" not in headers, "the GA client sends no beta header"
    assert_no_secret(server.ws_urls[0], repr(session), *events, *client_log(caplog))


@pytest.mark.parametrize("provider", ["vatel", "nextevi", "openai"])
async def test_tls_to_a_plain_server_says_tls_false_is_the_fix(provider: str) -> None:
    async with within(HANG), hostile(Fault()) as server:
        config = config_of(provider, server.port).replace("?tls=false", "?")
        with pytest.raises(ConnectError) as info:
            await voiceadapters.connect(config, api_key=API_KEY)
    message = str(info.value)
    assert "does not seem to speak TLS" in message and "tls=false" in message
    assert_no_secret(message, repr(info.value))


async def test_a_bound_option_is_checked_when_the_config_is_read() -> None:
    with pytest.raises(voiceadapters.ConfigError, match="idle_timeout"):
        await voiceadapters.connect(
            "nextevi://127.0.0.1:9?tls=false&config_id=c&idle_timeout=soon", api_key=API_KEY
        )


def test_bounds_are_read_the_same_for_every_provider() -> None:
    from voiceadapters.config import parse_config, resolve_config
    from voiceadapters.registry import registry

    for name in AUTH_PROVIDERS:
        url = parse_config(config_of(name, 9, idle_timeout=0.5, max_message_size=2048))
        config = resolve_config(url, registry.get(name), api_key="k", first_message_timeout=0)
        assert config.limits.idle_timeout == 0.5 and config.limits.max_message_size == 2048
        assert config.limits.first_message_timeout == 0, "0: off"
        assert "idle_timeout=0.5" in config.to_string()
