"""The floor: the least a hand-written client must do per frame, and the framework side.

:class:`FloorSession` is what an engineer would write against one protocol
with no framework. The protocol's own steps — handshake, how microphone
audio is framed on the wire, where agent audio is in a server message — come
from the plugin's :class:`~voiceadapters_bench.profile.BenchProfile`; the
rest is common to every protocol: ``websockets`` (with the core's settings: no compression,
the same keepalive and size limit), ``json``, ``base64`` and, where the
application's rate differs from the wire's, one ``soxr.ResampleStream`` per
direction with soxr's own int16 I/O — the cheapest correct streaming
conversion, and the one Pipecat uses. Agent audio is cut into 20 ms
application frames with a ``bytearray``, as the framework delivers it.

:class:`FrameworkSession` is the same interface over
:func:`voiceadapters.connect`, so the harness that drives and times both
(:mod:`voiceadapters_bench.worker`) is one piece of code and the figures are
a like-for-like ratio.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import numpy as np
import soxr  # type: ignore[import-untyped]
from websockets.asyncio.client import ClientConnection

from voiceadapters import AgentAudio, AudioFormat, Session, UnknownMessage
from voiceadapters import connect as va_connect

from .profile import API_KEY, BenchProfile, Peer

__all__ = ["BenchSession", "Deliver", "FloorSession", "FrameworkSession"]

#: Called with each 20 ms frame of agent audio in the application format.
Deliver = Callable[[bytes], None]


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


class FloorSession(BenchSession):
    """A minimal hand-written client for ``profile``; see the module docstring.

    The protocol's own steps come from the profile (handshake, how microphone
    audio is framed, where agent audio is in a message); the rest is what
    every hand-written client does: resample, send, cut into 20 ms frames.
    """

    def __init__(self, profile: BenchProfile, host: str, port: int, app_rate: int) -> None:
        self.p = profile
        self.peer = Peer(host, port, API_KEY)
        self.app_frame = app_rate // 50 * 2
        self.app_rate = app_rate
        self.ws: ClientConnection | None = None
        # Resamplers are made on first use, so an idle floor session is the
        # connection alone (the idle-memory figure's "beyond the socket").
        self.up: Any = None
        self.resample_up = app_rate != profile.wire_in
        self.mic_audio = profile.mic_audio

    async def open(self) -> None:
        self.ws = await self.p.handshake(self.peer)

    async def send(self, pcm: bytes) -> None:
        ws = self.ws
        assert ws is not None
        if self.resample_up:
            if self.up is None:
                self.up = soxr.ResampleStream(self.app_rate, self.p.wire_in, 1, dtype="int16")
            pcm = self.up.resample_chunk(np.frombuffer(pcm, np.int16)).tobytes()
            if not pcm:
                return
        await ws.send(self.mic_audio(pcm))

    async def receive(self, deliver: Deliver) -> None:
        ws = self.ws
        assert ws is not None
        p = self.p
        agent_pcm = p.agent_pcm
        fb = self.app_frame
        buf = bytearray()
        resample = self.app_rate != p.wire_out
        down: Any = None
        async for message in ws:
            pcm = agent_pcm(message)
            if pcm is None:
                continue  # control messages
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
        self.session = await va_connect(
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
