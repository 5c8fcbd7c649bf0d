"""The Sans-I/O WebSocket connection against aiohttp's WebSocket server on 127.0.0.1.

aiohttp is a WebSocket implementation nobody on the team wrote: what it
sends (fragments, pings, closes) and how it judges what we send is the
check that the connection speaks RFC 6455, not just to our own simulators.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import WSMsgType, web
from websockets.asyncio.server import ServerConnection
from websockets.asyncio.server import serve as ws_serve

from voiceadapters.errors import ConnectError, WebSocketRejected
from voiceadapters.handshake import Frame, WebSocketRequest
from voiceadapters.secrets import Secret
from voiceadapters.transports.base import TransportClosed
from voiceadapters.transports.network import NetworkTransport
from voiceadapters.transports.websocket import SansIOWebSocket, open_sansio_websocket

pytestmark = pytest.mark.network

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def server(handler: Handler) -> AsyncIterator[str]:
    """``handler`` at ``/ws`` on a free port; yields the base ``ws://`` URL."""
    app = web.Application()
    app.router.add_get("/ws", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    try:
        yield f"ws://127.0.0.1:{port}/ws"
    finally:
        await runner.cleanup()


async def connect(url: str, **kwargs: float | None) -> SansIOWebSocket:
    return await asyncio.wait_for(
        open_sansio_websocket(
            url,
            headers={},
            max_size=2**20,
            ping_interval=kwargs.get("ping_interval", 20.0),
            ping_timeout=kwargs.get("ping_timeout", 20.0),
            logger=logging.getLogger("test.websocket"),
        ),
        5,
    )


class Collector:
    """A :class:`~voiceadapters.transports.base.Receiver` that records everything."""

    def __init__(self) -> None:
        self.frames: list[Frame] = []
        self.closed: asyncio.Future[tuple[int | None, str]] = (
            asyncio.get_running_loop().create_future()
        )

    def frame_received(self, frame: Frame) -> None:
        self.frames.append(frame)

    def connection_closed(self, code: int | None, reason: str) -> None:
        assert not self.closed.done(), "connection_closed must be called once"
        self.closed.set_result((code, reason))


async def test_fragmented_messages_arrive_whole_and_in_order() -> None:
    # websockets' server sends an iterable as one fragmented message
    # (RFC 6455 §5.4): first frame, continuation frames, FIN on the last.
    async def handler(ws: ServerConnection) -> None:
        await ws.send(['{"type":', ' "frag', 'mented ✓"}'])
        await ws.send([b"\x00\x01", b"\x02", b"\x03\x04"])
        await ws.send("whole")
        await ws.close(1000, "done")

    async with ws_serve(handler, "127.0.0.1", 0) as srv:
        port = next(iter(srv.sockets)).getsockname()[1]
        conn = await connect(f"ws://127.0.0.1:{port}/")
        got = Collector()
        assert conn.set_receiver(got)
        assert await asyncio.wait_for(got.closed, 5) == (1000, "done")
    assert got.frames == ['{"type": "fragmented ✓"}', b"\x00\x01\x02\x03\x04", "whole"]


async def test_text_and_binary_messages_keep_their_kind_and_bytes() -> None:
    payload = bytes(range(256)) * 40  # 10 KiB, every byte value

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("héllo ✓")
        await ws.send_bytes(payload)
        async for msg in ws:  # echo what the client sends, then close
            if msg.type is WSMsgType.TEXT:
                await ws.send_str("echo:" + msg.data)
            elif msg.type is WSMsgType.BINARY:
                await ws.send_bytes(msg.data[::-1])
                await ws.close(code=4000, message=b"bye")
        return ws

    async with server(handler) as url:
        conn = await connect(url)
        got = Collector()
        assert conn.set_receiver(got)
        await conn.send("ping?")
        await conn.send(b"\x01\x02\x03")
        code, reason = await asyncio.wait_for(got.closed, 5)
    assert got.frames == ["héllo ✓", payload, "echo:ping?", b"\x03\x02\x01"]
    assert (code, reason) == (4000, "bye")


async def test_recv_mode_returns_messages_then_raises_the_close_every_time() -> None:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str("one")
        await ws.send_bytes(b"two")
        await ws.close(code=1001, message=b"going away")
        return ws

    async with server(handler) as url:
        conn = await connect(url)
        assert await conn.recv() == "one"
        assert await conn.recv() == b"two"
        for _ in range(2):
            with pytest.raises(TransportClosed) as info:
                await asyncio.wait_for(conn.recv(), 5)
            assert (info.value.code, info.value.reason) == (1001, "going away")


async def test_messages_received_before_the_receiver_is_set_are_not_lost() -> None:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        for i in range(5):
            await ws.send_str(f"m{i}")
        await ws.receive()  # wait for the client's close
        return ws

    async with server(handler) as url:
        conn = await connect(url)
        await asyncio.sleep(0.2)  # everything has arrived, nobody is listening yet
        got = Collector()
        conn.set_receiver(got)
        assert got.frames == [f"m{i}" for i in range(5)]
        await conn.close(1000, "done")
        assert (await asyncio.wait_for(got.closed, 5))[0] == 1000


async def test_client_close_completes_the_closing_handshake() -> None:
    seen: list[tuple[WSMsgType, object]] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            seen.append((msg.type, msg.data))
        seen.append((WSMsgType.CLOSE, ws.close_code))
        return ws

    async with server(handler) as url:
        conn = await connect(url)
        got = Collector()
        conn.set_receiver(got)
        await conn.send("last words")
        await asyncio.wait_for(conn.close(4001, "client done"), 5)
        # What is reported is the close the server sent back (aiohttp answers
        # with 1000 rather than echoing the code, which RFC 6455 §5.5.1 allows).
        assert (await asyncio.wait_for(got.closed, 5))[0] == 1000
        with pytest.raises(TransportClosed):
            await conn.send("too late")
    assert seen == [(WSMsgType.TEXT, "last words"), (WSMsgType.CLOSE, 4001)]


async def test_server_pings_are_answered() -> None:
    pongs: list[bytes] = []

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)
        await ws.prepare(request)
        await ws.ping(b"are you there")
        msg = await ws.receive()
        if msg.type is WSMsgType.PONG:
            pongs.append(msg.data)
        await ws.close()
        return ws

    async with server(handler) as url:
        conn = await connect(url)
        got = Collector()
        conn.set_receiver(got)
        await asyncio.wait_for(got.closed, 5)
    assert pongs == [b"are you there"]


async def test_keepalive_pings_keep_a_live_connection_open() -> None:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()  # autoping: aiohttp answers our pings
        await ws.prepare(request)
        await ws.receive()
        return ws

    async with server(handler) as url:
        conn = await connect(url, ping_interval=0.05, ping_timeout=0.1)
        got = Collector()
        conn.set_receiver(got)
        await asyncio.sleep(0.6)  # a dozen ping/pong rounds
        assert not got.closed.done()
        await conn.close()
        assert (await asyncio.wait_for(got.closed, 5))[0] == 1000


async def test_a_peer_that_stops_answering_pings_fails_the_connection() -> None:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(autoping=False)  # reads pings, never answers
        await ws.prepare(request)
        async for _ in ws:
            pass
        return ws

    async with server(handler) as url:
        conn = await connect(url, ping_interval=0.05, ping_timeout=0.1)
        got = Collector()
        conn.set_receiver(got)
        closed = await asyncio.wait_for(got.closed, 5)
    # Failed by us (RFC 6455 §7.1.7): the close we sent is the one reported.
    assert closed == (1011, "keepalive ping timeout")


async def test_a_message_over_max_size_is_reported_as_the_1009_the_client_sent() -> None:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_bytes(b"x" * (2**20 + 1))  # connect() allows 2**20
        async for _ in ws:
            pass
        return ws

    async with server(handler) as url:
        conn = await connect(url)
        got = Collector()
        conn.set_receiver(got)
        closed = await asyncio.wait_for(got.closed, 5)
    assert got.frames == []
    assert closed == (1009, f"frame with {2**20 + 1} bytes exceeds limit of {2**20} bytes")


async def test_send_waits_while_the_peer_does_not_read() -> None:
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        await release.wait()  # read nothing: the socket buffers fill up
        return ws

    async with server(handler) as url:
        conn = await connect(url)
        chunk = bytes(1 << 20)
        blocked = False
        for _ in range(64):  # far more than the kernel's and asyncio's buffers
            try:
                await asyncio.wait_for(conn.send(chunk), 0.5)
            except asyncio.TimeoutError:
                blocked = True
                break
        release.set()
        await conn.abort()
    assert blocked, "send() never waited: writes would pile up in memory without bound"


async def test_send_nowait_sends_text_and_binary_in_order_with_send() -> None:
    got: list[object] = []
    done = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        async for msg in ws:
            got.append(msg.data)
            if len(got) == 4:
                done.set()
        return ws

    async with server(handler) as url:
        conn = await connect(url)
        assert conn.send_nowait("one")
        await conn.send(b"\x02")
        assert conn.send_nowait(b"\x03\x03")
        assert conn.send_nowait("four ✓")
        await asyncio.wait_for(done.wait(), 5)
        await conn.close()
    assert got == ["one", b"\x02", b"\x03\x03", "four ✓"]


async def test_send_nowait_declines_while_the_peer_does_not_read_and_once_closed() -> None:
    """Paused for flow control, it sends nothing and says so (the driver then
    awaits send(), which waits); after the close, too (send() raises)."""
    release = asyncio.Event()

    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        await release.wait()  # read nothing: the socket buffers fill up
        return ws

    async with server(handler) as url:
        conn = await connect(url)
        chunk = bytes(1 << 20)
        declined = False
        for _ in range(64):  # far more than the kernel's and asyncio's buffers
            if not conn.send_nowait(chunk):
                declined = True
                break
            await asyncio.sleep(0)
        release.set()
        await conn.abort()
        await asyncio.sleep(0.05)
        assert not conn.send_nowait(b"after the end")
        with pytest.raises(TransportClosed):
            await conn.send(b"after the end")
    assert declined, "send_nowait() kept writing into a socket that does not drain"


async def test_a_refused_upgrade_is_websocket_rejected_with_the_body() -> None:
    async def handler(request: web.Request) -> web.Response:
        return web.json_response({"error": "bad token"}, status=403)

    async with server(handler) as url:
        request = WebSocketRequest(url=url, query=(("token", Secret("tok-SECRET-1")),))
        with pytest.raises(WebSocketRejected) as info:
            await NetworkTransport().websocket(request, provider="toy")
    assert info.value.status == 403
    assert "bad token" in str(info.value)
    assert "tok-SECRET-1" not in str(info.value)


async def test_a_configured_proxy_is_honoured(monkeypatch: pytest.MonkeyPatch) -> None:
    async def handler(request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.close()
        return ws

    async with server(handler) as url:
        # A proxy on a port nobody listens on: a direct connection would
        # succeed, so failing proves the proxy route was taken.
        for name in ("no_proxy", "NO_PROXY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
        with pytest.raises(ConnectError):
            await NetworkTransport().websocket(WebSocketRequest(url=url), provider="toy")
        # ...and NO_PROXY sends it straight to the server again.
        monkeypatch.setenv("no_proxy", "127.0.0.1")
        conn = await NetworkTransport().websocket(WebSocketRequest(url=url), provider="toy")
        await conn.abort()
