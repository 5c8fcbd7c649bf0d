"""The bench server: a provider's steady state on the wire, and nothing else.

The simulators (:mod:`voiceadapters.simulator`) are faithful providers with
a scripted agent that answers utterances; they never stream agent audio
continuously, and their aiohttp host costs more CPU than the client being
measured. Density figures need a peer that is *not* the bottleneck and that
treats the floor and the framework identically, so the bench has its own:

* one ``asyncio.Protocol`` per TCP connection, stdlib only, no HTTP or
  WebSocket library (a few µs per frame: the server must keep up with
  hundreds of clients while running on the other core);
* every ``POST`` (any path) answers ``{"token": …, "ws_url": …}`` (the
  ``ws_url`` ends in the profile's ``ws_path``): a profile's handshake takes
  what it needs from it;
* every WebSocket upgrade (any path) is accepted, the profile's opening
  messages are sent (``on_first`` ones only after the client's first
  message, for protocols whose server answers an authentication message), and then,
  in ``stream`` mode, one pre-encoded agent-audio frame is written every
  20 ms on a drift-free schedule. Connections are spread over 10 phase slots
  2 ms apart, so that sessions opened together do not burst together;
* client frames are parsed just enough to skip them (masked payloads are
  never unmasked), count their bytes, answer pings and close frames;
* ``GET /bench/stats`` returns (and ``?reset=1`` resets) the server's own
  figures: tick lateness, CPU load, frames written and dropped, bytes
  received. The bench uses them to prove the server was not the bottleneck.
  ``GET /bench/mode?set=MODE`` switches the mode for connections opened
  from then on.

Modes: ``stream`` (audio), ``idle`` (opening messages only), ``stall``
(audio plus a ``bench_marker`` JSON text frame every ``marker_every``
seconds, default 2, with a sequence number, to prove a session never drops
non-audio events).

When ``uvloop`` is importable the server runs on it (the client under test
never does); ``/bench/stats`` says which loop ran.

The file imports nothing from :mod:`voiceadapters`, so it starts fast and
can run as a script: ``python server.py SPEC_JSON`` where the spec (built by
:func:`voiceadapters_bench.profile.server_spec`) holds the frames to play. It
prints ``PORT <n>`` on its first stdout line and serves until its stdin
closes (the parent died or finished) or it gets SIGTERM.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import signal
import struct
import sys
import time
from typing import Any, cast

__all__ = ["BenchServer", "encode_frame", "main"]

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TICK = 0.02
_SLOTS = 10
#: Above this many bytes waiting in a connection's write buffer, frames are
#: dropped (and counted) instead of growing the server's memory.
_HIGH_WATER = 1 << 20
#: Default seconds between two ``bench_marker`` messages in ``stall`` mode.
MARKER_EVERY = 2.0


def encode_frame(payload: bytes, *, text: bool, opcode: int | None = None) -> bytes:
    """One unmasked (server → client) WebSocket frame, FIN set."""
    op = opcode if opcode is not None else (0x1 if text else 0x2)
    n = len(payload)
    if n < 126:
        header = bytes((0x80 | op, n))
    elif n < 65536:
        header = bytes((0x80 | op, 126)) + struct.pack(">H", n)
    else:
        header = bytes((0x80 | op, 127)) + struct.pack(">Q", n)
    return header + payload


def _frames(items: list[list[Any]]) -> list[bytes]:
    """``[[is_text, base64_payload], …]`` from the spec → encoded frames."""
    return [encode_frame(base64.b64decode(p), text=bool(t)) for t, p in items]


class _Stats:
    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.cpu0 = time.process_time()
        self.wall0 = time.monotonic()
        self.lateness: list[float] = []
        self.frames_sent = 0
        self.frames_dropped = 0
        self.bytes_received = 0
        self.messages_received = 0
        self.markers_sent = 0


class BenchServer:
    """Holds the spec, the connections and the 2 ms slot ticker."""

    def __init__(self, spec: dict[str, Any], mode: str) -> None:
        self.mode = mode
        self.open_frames = _frames(spec.get("open", []))
        self.first_frames = _frames(spec.get("on_first", []))
        audio_text, audio_b64 = spec["audio"]
        self.audio_frame = encode_frame(base64.b64decode(audio_b64), text=bool(audio_text))
        self.ws_path: str = spec.get("ws_path", "/ws")
        self.token: str = spec.get("token", "bench-token")
        self.marker_every: float = spec.get("marker_every", MARKER_EVERY)
        self.port = 0
        self.slots: list[set[_Connection]] = [set() for _ in range(_SLOTS)]
        self.stats = _Stats()
        self.connections: set[_Connection] = set()
        self._marker_seq = 0

    def token_body(self) -> bytes:
        body = {
            "token": self.token,
            "ws_url": f"ws://127.0.0.1:{self.port}{self.ws_path}",
        }
        return json.dumps(body).encode()

    def stats_body(self, reset: bool) -> bytes:
        late = sorted(self.stats.lateness)
        n = len(late)
        body = {
            "connections": len(self.connections),
            "ticks": n,
            "tick_lateness_p99_ms": late[min(n - 1, int(n * 0.99))] * 1000 if n else 0.0,
            "tick_lateness_max_ms": late[-1] * 1000 if n else 0.0,
            "frames_sent": self.stats.frames_sent,
            "frames_dropped": self.stats.frames_dropped,
            "bytes_received": self.stats.bytes_received,
            "messages_received": self.stats.messages_received,
            "markers_sent": self.stats.markers_sent,
            "loop": type(asyncio.get_running_loop()).__module__.split(".")[0],
            "cpu_load": (time.process_time() - self.stats.cpu0)
            / max(1e-9, time.monotonic() - self.stats.wall0),
        }
        if reset:
            self.stats.reset()
        return json.dumps(body).encode()

    def start_streaming(self, conn: _Connection) -> None:
        conn.mode = self.mode
        if self.mode != "idle":
            conn.slot = random.randrange(_SLOTS)
            self.slots[conn.slot].add(conn)

    def forget(self, conn: _Connection) -> None:
        self.connections.discard(conn)
        if conn.slot is not None:
            self.slots[conn.slot].discard(conn)

    async def ticker(self) -> None:
        """Every 2 ms, write one audio frame to each connection of that slot.

        Deadlines are absolute (``t0 + k * 2 ms``), so a late wake-up is
        followed by immediate catch-up, never by drift.
        """
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        k = 0
        frame = self.audio_frame
        stats = self.stats
        marker_every = max(1, round(self.marker_every / (_TICK / _SLOTS)))
        while True:
            k += 1
            due = t0 + k * (_TICK / _SLOTS)
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            stats.lateness.append(max(0.0, loop.time() - due))
            slot = self.slots[k % _SLOTS]
            for conn in slot:
                transport = conn.transport
                if transport is None or transport.is_closing():
                    continue
                if transport.get_write_buffer_size() > _HIGH_WATER:
                    stats.frames_dropped += 1
                    continue
                transport.write(frame)
                stats.frames_sent += 1
            if self.mode == "stall" and k % marker_every == 0:
                self._send_markers()

    def _send_markers(self) -> None:
        self._marker_seq += 1
        msg = json.dumps({"type": "bench_marker", "data": {"seq": self._marker_seq}})
        frame = encode_frame(msg.encode(), text=True)
        for conn in self.connections:
            if (
                conn.mode == "stall"
                and conn.transport is not None
                and not conn.transport.is_closing()
            ):
                conn.transport.write(frame)
                self.stats.markers_sent += 1


class _Connection(asyncio.Protocol):
    """One TCP connection: HTTP request, then possibly a WebSocket."""

    def __init__(self, server: BenchServer) -> None:
        self.server = server
        self.transport: asyncio.Transport | None = None
        self.buf = bytearray()
        self.ws = False
        self.streaming = False
        self.got_first = False
        self.slot: int | None = None
        self.mode = "stream"

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.server.connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        self.server.forget(self)
        self.transport = None

    def data_received(self, data: bytes) -> None:
        if self.ws:
            self._ws_data(data)
            return
        self.buf += data
        end = self.buf.find(b"\r\n\r\n")
        if end < 0:
            return
        head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
        method, target, *_ = [*head[0].split(" "), "", ""]
        headers = {}
        for line in head[1:]:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        length = int(headers.get("content-length", "0") or 0)
        if len(self.buf) < end + 4 + length:
            return
        rest = bytes(self.buf[end + 4 + length :])
        self.buf.clear()
        if headers.get("upgrade", "").lower() == "websocket":
            self._upgrade(headers, rest)
        else:
            self._http(method, target)

    def _http(self, method: str, target: str) -> None:
        assert self.transport is not None
        if target.startswith("/bench/stats"):
            body = self.server.stats_body(reset="reset=1" in target)
        elif target.startswith("/bench/mode?set="):
            self.server.mode = target.split("=", 1)[1]
            body = json.dumps({"mode": self.server.mode}).encode()
        elif method == "POST":
            body = self.server.token_body()
        else:
            body = b'{"error":"not found"}'
        status = "200 OK" if method == "POST" or target.startswith("/bench/") else "404 Not Found"
        self.transport.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        self.transport.close()

    def _upgrade(self, headers: dict[str, str], rest: bytes) -> None:
        assert self.transport is not None
        key = headers.get("sec-websocket-key", "").encode()
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest()).decode()
        self.transport.write(
            (
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Accept: {accept}\r\n\r\n"
            ).encode()
        )
        self.ws = True
        for frame in self.server.open_frames:
            self.transport.write(frame)
        if not self.server.first_frames:
            self._begin()
        if rest:
            self._ws_data(rest)

    def _begin(self) -> None:
        self.streaming = True
        self.server.start_streaming(self)

    def _ws_data(self, data: bytes) -> None:
        buf = self.buf
        buf += data
        pos = 0
        n = len(buf)
        stats = self.server.stats
        while n - pos >= 2:
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            head = 2
            if length == 126:
                if n - pos < 4:
                    break
                length = (buf[pos + 2] << 8) | buf[pos + 3]
                head = 4
            elif length == 127:
                if n - pos < 10:
                    break
                length = struct.unpack_from(">Q", buf, pos + 2)[0]
                head = 10
            mask_at = pos + head
            if b1 & 0x80:
                head += 4
            end = pos + head + length
            if end > n:
                break
            opcode = b0 & 0x0F
            if opcode in (0x0, 0x1, 0x2):
                stats.bytes_received += length
                stats.messages_received += 1
                if not self.got_first:
                    self.got_first = True
                    if self.server.first_frames and self.transport is not None:
                        for frame in self.server.first_frames:
                            self.transport.write(frame)
                        self._begin()
            elif opcode in (0x8, 0x9):
                payload = _unmask(buf, mask_at, pos + head, end, bool(b1 & 0x80))
                self._control(opcode, payload)
            pos = end
        del buf[:pos]

    def _control(self, opcode: int, payload: bytes) -> None:
        transport = self.transport
        if transport is None or transport.is_closing():
            return
        if opcode == 0x9:  # ping → pong
            transport.write(encode_frame(payload, text=False, opcode=0xA))
            return
        # close: echo the code, then close the TCP connection.
        transport.write(encode_frame(payload[:2], text=False, opcode=0x8))
        self.server.forget(self)
        transport.close()


def _unmask(buf: bytearray, mask_at: int, start: int, end: int, masked: bool) -> bytes:
    data = bytes(buf[start:end])
    if not masked:
        return data
    mask = buf[mask_at : mask_at + 4]
    return bytes(b ^ mask[i % 4] for i, b in enumerate(data))


async def _serve(spec: dict[str, Any], mode: str) -> None:
    loop = asyncio.get_running_loop()
    server = BenchServer(spec, mode)
    tcp = await loop.create_server(
        lambda: _Connection(server), "127.0.0.1", 0, backlog=4096, reuse_address=True
    )
    server.port = tcp.sockets[0].getsockname()[1]
    sys.stdout.write(f"PORT {server.port}\n")
    sys.stdout.flush()
    ticker = loop.create_task(server.ticker())
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    # The parent holds our stdin: EOF means it is gone or done.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    eof = loop.create_task(reader.read())
    waiter = loop.create_task(stop.wait())
    await asyncio.wait({eof, waiter}, return_when=asyncio.FIRST_COMPLETED)
    ticker.cancel()
    tcp.close()
    for conn in list(server.connections):
        if conn.transport is not None:
            conn.transport.abort()


def main(argv: list[str] | None = None) -> None:
    """``server.py SPEC_JSON MODE [CPU]``: serve until stdin closes."""
    args = sys.argv[1:] if argv is None else argv
    spec = json.loads(args[0])
    mode = args[1] if len(args) > 1 else "stream"
    if len(args) > 2 and args[2] != "-" and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {int(args[2])})
    try:
        # Optional: uvloop roughly halves the server's own CPU per frame, which
        # keeps it off the critical path for the densest (binary) protocols.
        # Only the server uses it; the client under test keeps asyncio's loop.
        import uvloop  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        asyncio.run(_serve(spec, mode))
    else:
        uvloop.run(_serve(spec, mode))


if __name__ == "__main__":
    main()
