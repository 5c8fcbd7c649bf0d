"""Replay: a cassette served as a provider, on loopback (docs/cassettes.md#replay).

:class:`CassetteServer` answers the client's handshake from the recording
(each HTTP request with the next recorded response, each WebSocket upgrade
with the next recorded connection) and plays the recorded provider side:

* a provider message recorded after the client's *n*-th message is sent once
  the client's *n*-th message has arrived (or ``wait_timeout`` passed, which
  is reported), so the replay keeps the recording's causality whatever the
  client's speed;
* ``pace="recorded"`` keeps the recorded gaps (from that client message, or
  from the previous provider message); ``pace="fast"`` sends at once;
* URLs of the recorded hosts inside response bodies (a ``ws_url`` the token
  endpoint returns) are rewritten to the replay server.

Every client request and message is compared with the recording
(:mod:`voiceadapters.cassette.compare`); the differences collect in
:attr:`CassetteServer.report`.

:func:`replay` also runs the adapter as the client — the cassette's
provider, fed the recorded microphone audio — and compares the normalized
events it produces with the recorded ones::

    report = await replay(load("session.jsonl"))
    assert report.ok, "\\n".join(report.lines())
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import socket
import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import WSMsgType, web

from ..config import parse_config
from ..errors import ConnectError
from .compare import Difference, ReplayReport, compare_events, compare_message, diff_json
from .format import Cassette, Connection, Message
from .scrub import Scrubber, find_audio

if TYPE_CHECKING:
    from ..registry import Registry

__all__ = ["REPLAY_KEY", "CassetteServer", "replay"]

#: The API key a replay client uses (the recording's was scrubbed).
REPLAY_KEY = "replay-key"
#: Request headers that describe the client, not the protocol: not compared.
_UNCOMPARED = frozenset(
    {
        "host",
        "user-agent",
        "content-length",
        "accept",
        "accept-encoding",
        "connection",
        "upgrade",
        "origin",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-extensions",
    }
)
_PACES = ("recorded", "fast")


class CassetteServer:
    """Serve ``cassette`` on ``host:port`` (port 0: any free port).

    ``provider_ignore`` adds the provider's
    :attr:`~voiceadapters.provider.Provider.cassette_ignore` to the
    cassette's own ``ignore``; ``audio_fields`` its declared audio paths.
    """

    def __init__(
        self,
        cassette: Cassette,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        pace: str = "fast",
        wait_timeout: float = 5.0,
        audio_fields: tuple[str, ...] = (),
        provider_ignore: tuple[str, ...] = (),
        on_difference: Callable[[Difference], None] | None = None,
    ) -> None:
        if pace not in _PACES:
            raise ValueError(f"pace must be 'recorded' or 'fast', not {pace!r}")
        self.cassette = cassette
        self.host = host
        self._port = port
        self.pace = pace
        self.wait_timeout = wait_timeout
        self.audio_fields = audio_fields
        self.ignore = (*cassette.ignore, *provider_ignore)
        self.report = ReplayReport()
        self._on_difference = on_difference
        self._http = cassette.http_steps()
        self._conns = cassette.connections()
        self._next_http = 0
        self._next_conn = 0
        self._open_tasks = 0
        self._runner: web.AppRunner | None = None
        self._scrub = Scrubber()
        self._scrub.learn(REPLAY_KEY)
        #: Set when every recorded connection has been played to its end.
        self.finished = asyncio.Event()
        #: Set when every recorded provider message has been sent (the client's
        #: own close may still be awaited).
        self.played = asyncio.Event()
        self._played = 0
        if not self._conns:
            self.finished.set()
            self.played.set()
        self._origins = self._recorded_origins()

    # -- lifecycle ------------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._runner is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def config(self) -> str:
        """The cassette's config string, pointed at this server (no TLS, no key)."""
        url = parse_config(self.cassette.config or f"{self.cassette.provider}://")
        options = {k: v for k, v in url.options.items() if k not in ("tls", "allow_insecure")}
        replaced = url.model_copy(
            update={
                "provider": self.cassette.provider or url.provider,
                "host": self.host,
                "port": self.port,
                "options": {"tls": "false", **options},
                "api_key": None,
            }
        )
        return replaced.render()

    async def start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, access_log=None, handle_signals=False, shutdown_timeout=0.5
        )
        await self._runner.setup()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for conn in self._conns[self._next_conn :]:
            self._differ(
                Difference(f"connection {conn.conn}", "", note="recorded but never opened")
            )

    async def __aenter__(self) -> CassetteServer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def _differ(self, difference: Difference) -> None:
        self.report.differences.append(difference)
        if self._on_difference is not None:
            self._on_difference(difference)

    # -- URLs -------------------------------------------------------------------------

    def _recorded_origins(self) -> list[str]:
        origins: list[str] = []
        for line in self.cassette.lines:
            if line["k"] in ("http_request", "ws_open") and isinstance(line.get("url"), str):
                netloc = urlsplit(line["url"]).netloc
                if netloc and netloc not in origins:
                    origins.append(netloc)
        return origins

    def _rewrite(self, text: str) -> str:
        for netloc in self._origins:
            pattern = re.compile(r"(https?|wss?)://" + re.escape(netloc), re.IGNORECASE)
            text = pattern.sub(
                lambda m: (
                    ("ws" if m.group(1).lower().startswith("ws") else "http")
                    + f"://{self.host}:{self.port}"
                ),
                text,
            )
        return text

    # -- requests ------------------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.headers.get("Upgrade", "").lower() == "websocket":
            return await self._websocket(request)
        return await self._http_step(request)

    def _compare_request(self, where: str, recorded: dict[str, Any], request: web.Request) -> None:
        recorded_url = urlsplit(str(recorded.get("url", "")))
        kind = "ws_open" if recorded["k"] == "ws_open" else "http"
        ignore = {i.removeprefix(f"{kind}.") for i in self.ignore if i.startswith(f"{kind}.")}
        if "path" not in ignore and recorded_url.path != request.path:
            self._differ(Difference(where, "path", recorded_url.path, request.path))
        rec_query = dict(parse_qsl(recorded_url.query, keep_blank_values=True))
        got_query = dict(
            parse_qsl(urlsplit(self._scrub.url(str(request.rel_url))).query, keep_blank_values=True)
        )
        for p, e, a in diff_json(rec_query, got_query, path=("query",)):
            name = p.removeprefix("$.")
            if name not in ignore:
                self._differ(Difference(where, name, e, a))
        rec_headers = {k.lower(): v for k, v in (recorded.get("headers") or {}).items()}
        got_headers = {k.lower(): self._scrub.header(k, v) for k, v in request.headers.items()}
        for name, value in rec_headers.items():
            if name in _UNCOMPARED or f"headers.{name}" in ignore:
                continue
            if got_headers.get(name) != value:
                self._differ(Difference(where, f"headers.{name}", value, got_headers.get(name)))

    async def _http_step(self, request: web.Request) -> web.StreamResponse:
        where = f"HTTP request #{self._next_http + 1} ({request.method} {request.path})"
        if self._next_http >= len(self._http):
            self._differ(Difference(where, "", note="not in the recording"))
            return web.json_response({"error": "not in the cassette"}, status=404)
        recorded, response = self._http[self._next_http]
        self._next_http += 1
        where = f"HTTP request #{self._next_http} (line {recorded['_line']})"
        if recorded.get("method") != request.method:
            self._differ(Difference(where, "method", recorded.get("method"), request.method))
        self._compare_request(where, recorded, request)
        body = await request.read() if request.can_read_body else b""
        if "json" in recorded:
            try:
                got = self._scrub.body_json(json.loads(body), learn=False)
            except ValueError:
                got = body.decode("utf-8", "replace")
            for p, e, a in diff_json(recorded["json"], got, path=("body",)):
                self._differ(Difference(where, p.removeprefix("$."), e, a))
        if response is None:
            # Recorded without an answer (the request failed): drop it.
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=599)
        headers = {
            k: v
            for k, v in (response.get("headers") or {}).items()
            if k.lower() not in ("content-encoding", "content-length")
        }
        if "json" in response:
            payload = self._rewrite(json.dumps(response["json"])).encode()
        elif "text" in response:
            payload = self._rewrite(str(response["text"])).encode()
        else:
            payload = bytes(int(response.get("bytes", 0)))
        return web.Response(status=int(response["status"]), body=payload, headers=headers)

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        if self._next_conn >= len(self._conns):
            self._differ(Difference("WebSocket", "", note="one more connection than recorded"))
            return web.json_response({"error": "not in the cassette"}, status=404)
        conn = self._conns[self._next_conn]
        self._next_conn += 1
        where = f"WebSocket connection {conn.conn} (line {conn.open['_line']})"
        self._compare_request(where, conn.open, request)
        rejected = next(
            (
                ln
                for ln in self.cassette.lines
                if ln["k"] == "ws_rejected" and ln.get("conn") == conn.conn
            ),
            None,
        )
        if rejected is not None:
            self._played_one()
            self._done_one()
            return web.json_response(
                {"error": rejected.get("error", "")}, status=int(rejected.get("status") or 503)
            )
        ws = web.WebSocketResponse(max_msg_size=64 * 1024 * 1024, compress=False, autoping=True)
        await ws.prepare(request)
        try:
            await _Play(self, conn, ws, request).run()
        finally:
            self._done_one()
        return ws

    def _played_one(self) -> None:
        self._played += 1
        if self._played >= len(self._conns):
            self.played.set()

    def _done_one(self) -> None:
        if self._next_conn >= len(self._conns):
            self.finished.set()


class _Play:
    """One recorded connection played to one client."""

    def __init__(
        self,
        server: CassetteServer,
        conn: Connection,
        ws: web.WebSocketResponse,
        request: web.Request,
    ) -> None:
        self.server = server
        self.conn = conn
        self.ws = ws
        self.request = request
        self.expected = conn.sent()
        self.received = 0
        self.arrived: list[float] = []
        self.client_closed = False
        self.wake = asyncio.Event()
        #: A wait timed out: the rest of the script plays without waiting
        #: (what the client never sent is reported at the end).
        self.lagging = False

    async def run(self) -> None:
        reader = asyncio.create_task(self._read())
        try:
            try:
                await self._play()
            finally:
                self.server._played_one()
            if not self.client_closed and self._client_closes():
                # The recording ends with the client closing: wait for it.
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(reader), self.server.wait_timeout)
        finally:
            if not reader.done():
                if not self.ws.closed:
                    with contextlib.suppress(Exception):
                        await self.ws.close()
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(reader, 2.0)
        for missing in self.expected[self.received :]:
            self.server._differ(
                Difference(missing.label, "", note="recorded, but the client did not send it")
            )

    def _client_closes(self) -> bool:
        for line in self.conn.lines:
            if line["k"] in ("close", "abort"):
                return True
            if line["k"] == "closed":
                return False
        return False

    async def _read(self) -> None:
        server = self.server
        async for msg in self.ws:
            if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            index = self.received
            self.received += 1
            self.arrived.append(time.monotonic())
            server.report.client_messages += 1
            if index < len(self.expected):
                for diff in compare_message(
                    self.expected[index],
                    msg.data,
                    audio_fields=server.audio_fields,
                    ignore=server.ignore,
                ):
                    server._differ(diff)
            else:
                server._differ(
                    Difference(
                        f"client message #{index + 1} (connection {self.conn.conn})",
                        "",
                        note="not in the recording (an extra message)",
                    )
                )
            self.wake.set()
        self.client_closed = True
        self.wake.set()

    async def _wait_for(self, count: int) -> bool:
        """Until ``count`` client messages arrived; False if the client closed
        or ``wait_timeout`` passed first (reported)."""
        deadline = time.monotonic() + self.server.wait_timeout
        while self.received < count:
            if self.client_closed:
                return False
            if self.lagging:
                return True
            left = deadline - time.monotonic()
            if left <= 0:
                self.lagging = True
                missing = (
                    self.expected[self.received] if self.received < len(self.expected) else None
                )
                label = missing.label if missing else f"client message #{count}"
                self.server._differ(
                    Difference(
                        label,
                        "",
                        note=f"not received within {self.server.wait_timeout:g} s; "
                        "playing the rest without waiting",
                    )
                )
                return True
            self.wake.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), left)
        return True

    async def _play(self) -> None:
        sends = 0
        # The anchor of the pacing: its recorded time and when it happened in
        # this replay; first the WebSocket's opening.
        last_t = float(self.conn.open.get("t", 0.0))
        last_at = time.monotonic()
        client_done = False
        for line in self.conn.lines:
            k = line["k"]
            if k == "send":
                sends += 1
                continue
            if k in ("close", "abort"):
                client_done = True
                continue
            if k == "recv":
                message: Message = line["_message"]
                if sends and not await self._wait_for(sends):
                    return
                if sends and sends <= len(self.arrived) and self.conn_time(sends) > last_t:
                    last_t, last_at = self.conn_time(sends), self.arrived[sends - 1]
                if self.server.pace == "recorded":
                    delay = (message.t - last_t) - (time.monotonic() - last_at)
                    if delay > 0:
                        await asyncio.sleep(delay)
                last_t, last_at = message.t, time.monotonic()
                if self.client_closed or self.ws.closed:
                    return
                payload = message.payload()
                try:
                    if isinstance(payload, bytes):
                        await self.ws.send_bytes(payload)
                    else:
                        await self.ws.send_str(
                            self.server._rewrite(payload) if "://" in payload else payload
                        )
                except (ConnectionResetError, RuntimeError):
                    return
                self.server.report.server_messages += 1
            elif k == "closed" and not client_done:
                if sends and not await self._wait_for(sends):
                    return
                code = line.get("code")
                if code is None:  # the connection dropped
                    if self.request.transport is not None:
                        self.request.transport.abort()
                else:
                    await self.ws.close(
                        code=int(code), message=str(line.get("reason", "")).encode()
                    )
                return

    def conn_time(self, sends: int) -> float:
        return self.expected[sends - 1].t


async def replay(
    cassette: Cassette,
    *,
    pace: str = "fast",
    registry: Registry | None = None,
    timeout: float = 60.0,
    wait_timeout: float = 5.0,
    tool_output: Any = None,
    on_difference: Callable[[Difference], None] | None = None,
) -> ReplayReport:
    """Serve ``cassette``, run its provider's adapter against it, and report
    every difference (client messages, handshake, events).

    The client sends the recorded microphone audio (silence where the
    cassette kept only a length), in the wire format, message by message,
    each once the provider messages recorded before it have arrived; it
    answers tool calls with ``tool_output`` (default: the header's
    ``tool_output``, else ``{"ok": true}``, what ``voiceadapters record`` answers).
    """
    from ..events import ToolCall
    from ..registry import registry as default_registry
    from ..session import connect
    from .record import Recorder

    reg = registry or default_registry
    provider = reg.get(cassette.provider)
    audio_fields = tuple(provider.wire_audio_fields)
    server = CassetteServer(
        cassette,
        pace=pace,
        wait_timeout=wait_timeout,
        audio_fields=audio_fields,
        provider_ignore=tuple(provider.cassette_ignore),
        on_difference=on_difference,
    )
    recorder = Recorder(None, audio="marker")
    report = server.report
    if tool_output is None:
        tool_output = cassette.header.get("tool_output", {"ok": True})
    answer = tool_output
    conns = cassette.connections()
    opened = any(ln["k"] == "ws_open" for ln in cassette.lines) and not any(
        ln["k"] in ("ws_rejected", "http_failed") for ln in cassette.lines
    )

    async def run() -> None:
        try:
            session = await connect(
                server.config,
                api_key=REPLAY_KEY,
                input_format=provider.wire_input,
                output_format=provider.wire_output,
                output_frame_ms=None,
                record=recorder,
                reconnect=len(conns) > 1,
                registry=reg,
            )
        except ConnectError as exc:
            if opened:
                report.differences.append(
                    Difference("handshake", "", note=f"the connection failed: {exc}")
                )
            else:
                report.notes.append(f"the connection failed, as recorded: {exc}")
            return
        try:
            stop = asyncio.Event()

            async def consume() -> None:
                async for event in session:
                    if isinstance(event, ToolCall):
                        with contextlib.suppress(Exception):
                            await session.send_tool_result(event.call_id, answer)
                stop.set()

            consumer = asyncio.create_task(consume())
            for conn in conns:
                before = 0
                for line in conn.lines:
                    if line["k"] == "recv":
                        before += 1
                    if line["k"] != "send":
                        continue
                    pcm = _audio_of(line["_message"], audio_fields)
                    if pcm is None:
                        continue
                    deadline = time.monotonic() + wait_timeout
                    while recorder.received(conn.conn) < before and time.monotonic() < deadline:
                        if session.ended is not None:
                            break
                        await asyncio.sleep(0.002)
                    if session.ended is not None:
                        break
                    with contextlib.suppress(Exception):
                        await session.send_audio(pcm)
            finished = asyncio.create_task(server.played.wait())
            await asyncio.wait([finished, consumer], return_when=asyncio.FIRST_COMPLETED)
            finished.cancel()
            # Let the last messages and the close reach the codec.
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(consumer), 0.3)
            await session.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(consumer, 5.0)
        finally:
            await session.close()

    async with server:
        try:
            await asyncio.wait_for(run(), timeout)
        except asyncio.TimeoutError:
            report.differences.append(
                Difference("replay", "", note=f"did not finish within {timeout:g} s")
            )
    recorded = cassette.events()
    replayed = [ln for ln in recorder.lines if ln.get("k") == "event"]
    report.events = len(replayed)
    if recorded:
        messages = {(m.conn, m.n): m for m in cassette.messages() if m.direction == "recv"}
        report.differences.extend(compare_events(recorded, replayed, server_messages=messages))
    else:
        report.notes.append("the cassette records no events; only messages were compared")
    return report


def _audio_of(message: Message, audio_fields: tuple[str, ...]) -> bytes | None:
    """The microphone audio a recorded client message carried (silence where
    the cassette kept only its length), or ``None`` for a control message."""
    import base64

    if message.binary:
        return message.data + bytes(message.size - len(message.data))
    if message.audio:
        first = message.audio[0]
        return first.kept + bytes(first.size - len(first.kept))
    try:
        decoded = json.loads(message.text)
    except ValueError:
        return None
    found = find_audio(decoded, audio_fields)
    if not found:
        return None
    obj = decoded
    path = found[0][0]
    for part in path:
        obj = obj[part]
    return base64.b64decode(obj)
