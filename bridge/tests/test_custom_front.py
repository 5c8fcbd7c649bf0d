"""A front is one module: a minimal third front, written here, plugged into
``create_app`` with its own route, subprotocol, credential and audio format;
and the bridge mounted under a prefix in someone else's aiohttp app."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping, Sequence
from typing import ClassVar

import aiohttp
import pytest
from aiohttp import web

from voiceadapters.audio import StreamConverter, best_alignment, pcm_to_array
from voiceadapters.commands import SendAudio
from voiceadapters.events import AgentAudio, Event, SessionEnded
from voiceadapters.format import AudioFormat
from voiceadapters.frames import Frame
from voiceadapters.secrets import Secret
from voiceadapters.testing import serve_simulator, speech_sample
from voiceadapters_bridge import BridgeSettings, Front, OpenSession, create_app
from voiceadapters_bridge.server import FRONTS

from .conftest import BRIDGE_KEY, PROVIDER_KEY

pytestmark = pytest.mark.network

HIFI = AudioFormat(24000)


class RawFront(Front):
    """Binary PCM 24 kHz in and out; the key rides in a subprotocol."""

    name: ClassVar[str] = "raw"
    route: ClassVar[str] = "/raw"
    audio_format = HIFI
    subprotocols: ClassVar[tuple[str, ...]] = ("raw.v1",)

    @classmethod
    def credential_from_request(
        cls, headers: Mapping[str, str], protocols: Sequence[str]
    ) -> str | None:
        keys = [p.removeprefix("raw-key.") for p in protocols if p.startswith("raw-key.")]
        return keys[0] if keys else None

    def connection_opened(self) -> None:
        self._act(OpenSession())

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            self._act(SendAudio(pcm=frame))

    def _on_event(self, event: Event) -> None:
        if isinstance(event, AgentAudio):
            self._send(event.pcm)
        elif isinstance(event, SessionEnded):
            self._close(1000, event.reason)


async def test_a_front_of_ones_own_behind_a_prefix() -> None:
    pcm16k, fmt = speech_sample()
    conv = StreamConverter(fmt, HIFI)
    speech = conv.convert(pcm16k) + conv.flush()
    async with serve_simulator("vatel", api_key=PROVIDER_KEY, pace=0) as (_, config, _sim):
        bridge = create_app(
            BridgeSettings(config, api_key=Secret(PROVIDER_KEY), bridge_key=Secret(BRIDGE_KEY)),
            fronts=(*FRONTS, RawFront),
        )
        outer = web.Application()
        outer.add_subapp("/voice", bridge)
        runner = web.AppRunner(outer, access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        await web.SockSite(runner, sock).start()
        base = f"127.0.0.1:{sock.getsockname()[1]}/voice"
        try:
            async with aiohttp.ClientSession() as http:
                ready = await http.get(f"http://{base}/readyz")
                assert ready.status == 200
                page = await http.get(f"http://{base}/", allow_redirects=False)
                assert page.headers["Location"] == "page/"
                # No credential in the subprotocols: refused like any other client.
                async with http.ws_connect(f"ws://{base}/raw", protocols=("raw.v1",)) as ws:
                    await ws.receive(timeout=10)
                    assert ws.close_code == 1008
                async with http.ws_connect(
                    f"ws://{base}/raw", protocols=("raw.v1", f"raw-key.{BRIDGE_KEY}")
                ) as ws:
                    assert ws.protocol == "raw.v1"
                    chunk = HIFI.bytes_for(0.1)  # 43 messages: under the rate limit's burst
                    audio = speech + bytes(HIFI.bytes_for(1.0))  # then quiet: the turn ends
                    for i in range(0, len(audio), chunk):
                        await ws.send_bytes(audio[i : i + chunk])
                    heard = bytearray()

                    async def listen() -> None:
                        while len(heard) < len(speech):
                            message = await ws.receive()
                            if message.type is not aiohttp.WSMsgType.BINARY:
                                return
                            heard.extend(message.data)

                    await asyncio.wait_for(listen(), 20)
        finally:
            await runner.cleanup()
    _, ncc = best_alignment(pcm_to_array(speech), pcm_to_array(bytes(heard)))
    assert ncc >= 0.9, ncc
