"""The floor: the least a hand-written client must do per frame, and the framework side.

:class:`FloorSession` is what an engineer would write against one protocol
with no framework: ``websockets`` (with the core's settings: no compression,
the same keepalive and size limit), ``json``, ``base64`` and, where the
application's rate differs from the wire's, one ``soxr.ResampleStream`` per
direction with soxr's own int16 I/O — the cheapest correct streaming
conversion, and the one Pipecat uses. Agent audio is cut into 20 ms
application frames with a ``bytearray``, as the framework delivers it.

:class:`FrameworkSession` is the same interface over
:func:`voiceadapters.connect`, so the harness that drives and times both
(:mod:`voiceadapters.bench.worker`) is one piece of code and the figures are
a like-for-like ratio.
"""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Callable
from typing import Any

import numpy as np
import soxr  # type: ignore[import-untyped]
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from ..events import AgentAudio, UnknownMessage
from ..format import AudioFormat
from ..session import Session, connect
from .wire import API_KEY, WireProfile

__all__ = ["BenchSession", "Deliver", "FloorSession", "FrameworkSession"]

#: Called with each 20 ms frame of agent audio in the application format.
Deliver = Callable[[bytes], None]

#: The core's WebSocket settings (:class:`voiceadapters.handshake.WebSocketRequest`,
#: :class:`voiceadapters.transports.network.NetworkTransport`).
WS_SETTINGS: dict[str, Any] = {
    "compression": None,
    "max_size": 16 * 1024 * 1024,
    "ping_interval": 20.0,
    "ping_timeout": 20.0,
    "open_timeout": 10.0,
    "close_timeout": 5.0,
}


class BenchSession:
    """The interface the harness drives: open, send 20 ms frames, receive, close."""

    async def open(self) -> None:
        raise NotImplementedError

    async def send(self, pcm: bytes) -> None:
        raise NotImplementedError

    async def receive(self, deliver: Deliver) -> None:
        """Deliver agent audio frames until the session ends."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        return {}


async def _post_json(url: str, body: Any) -> dict[str, Any]:
    import aiohttp

    async with (
        aiohttp.ClientSession() as http,
        http.post(url, json=body, headers={"Authorization": f"Bearer {API_KEY}"}) as resp,
    ):
        data = await resp.json(content_type=None)
    assert isinstance(data, dict)
    return data


class FloorSession(BenchSession):
    """A minimal hand-written client for ``profile``; see the module docstring."""

    def __init__(self, profile: WireProfile, host: str, port: int, app_rate: int) -> None:
        self.p = profile
        self.base = f"{host}:{port}"
        self.app_frame = app_rate // 50 * 2
        self.app_rate = app_rate
        self.ws: ClientConnection | None = None
        # Resamplers are made on first use, so an idle floor session is the
        # connection alone (the idle-memory figure's "beyond the socket").
        self.up: Any = None
        self.resample_up = app_rate != profile.wire_in

    async def open(self) -> None:
        p = self.p
        if p.handshake == "token":
            token = (await _post_json(f"http://{self.base}{p.token_path}", {"agent_id": "bench"}))[
                "token"
            ]
            self.ws = await ws_connect(f"ws://{self.base}{p.ws_path}?token={token}", **WS_SETTINGS)
        elif p.handshake == "token_first":
            reply = await _post_json(f"http://{self.base}{p.token_path}", None)
            self.ws = await ws_connect(reply["ws_url"], **WS_SETTINGS)
            await self.ws.send(p.hello.replace("{token}", reply["token"]))
        else:
            url = f"ws://{self.base}{p.ws_path}?api_key={API_KEY}&config_id=bench-config"
            self.ws = await ws_connect(url, **WS_SETTINGS)
            await self.ws.send(p.hello)

    async def send(self, pcm: bytes) -> None:
        ws = self.ws
        assert ws is not None
        if self.resample_up:
            if self.up is None:
                self.up = soxr.ResampleStream(self.app_rate, self.p.wire_in, 1, dtype="int16")
            pcm = self.up.resample_chunk(np.frombuffer(pcm, np.int16)).tobytes()
            if not pcm:
                return
        if self.p.audio_in == "binary":
            await ws.send(pcm)
        else:
            await ws.send(self.p.in_prefix + base64.b64encode(pcm).decode() + self.p.in_suffix)

    async def receive(self, deliver: Deliver) -> None:
        ws = self.ws
        assert ws is not None
        p = self.p
        fb = self.app_frame
        buf = bytearray()
        binary = p.audio_out == "binary"
        field = p.out_field
        resample = self.app_rate != p.wire_out
        down: Any = None
        async for message in ws:
            if binary:
                if isinstance(message, str):
                    continue  # control messages
                pcm = message
            else:
                if isinstance(message, bytes):
                    continue
                m = json.loads(message)
                if m.get("type") != p.out_type:
                    continue
                node = m
                for key in field:
                    node = node[key]
                pcm = base64.b64decode(node)
            if resample:
                if down is None:
                    down = soxr.ResampleStream(p.wire_out, self.app_rate, 1, dtype="int16")
                pcm = down.resample_chunk(np.frombuffer(pcm, np.int16)).tobytes()
            buf += pcm
            while len(buf) >= fb:
                deliver(bytes(buf[:fb]))
                del buf[:fb]

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()


class FrameworkSession(BenchSession):
    """The same interface over :func:`voiceadapters.connect`."""

    def __init__(self, config: str, app_rate: int, max_buffered_audio: float = 30.0) -> None:
        self.config = config
        self.app_rate = app_rate
        self.max_buffered_audio = max_buffered_audio
        self.session: Session | None = None
        #: The consumer waits on this before each read; cleared = a stalled application.
        self.gate = asyncio.Event()
        self.gate.set()
        self.markers: list[int] = []
        self.other_events = 0

    async def open(self) -> None:
        self.session = await connect(
            self.config,
            api_key=API_KEY,
            input_format=AudioFormat(self.app_rate),
            max_buffered_audio=self.max_buffered_audio,
        )

    async def send(self, pcm: bytes) -> None:
        assert self.session is not None
        await self.session.send_audio(pcm)

    async def receive(self, deliver: Deliver) -> None:
        assert self.session is not None
        gate = self.gate
        async for event in self.session:  # as an application reads
            if isinstance(event, AgentAudio):
                deliver(event.pcm)
            else:
                seq = _marker(event.raw) if isinstance(event, UnknownMessage) else None
                if seq is not None:
                    self.markers.append(seq)
                else:
                    self.other_events += 1
            if not gate.is_set():
                await gate.wait()

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()

    def stats(self) -> dict[str, Any]:
        if self.session is None:
            return {}
        s = self.session.stats
        return {
            "dropped_audio_events": s.dropped_audio_events,
            "dropped_audio_bytes": s.dropped_audio_bytes,
            "max_queued_audio_bytes": getattr(s, "max_queued_audio_bytes", None),
        }


def _marker(raw: Any) -> int | None:
    """The sequence number of the stall test's ``bench_marker`` message, if ``raw`` is one."""
    if isinstance(raw, dict) and raw.get("type") == "bench_marker":
        seq = (raw.get("data") or {}).get("seq")
        return seq if isinstance(seq, int) else None
    return None
