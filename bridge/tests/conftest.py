"""Shared pieces of the bridge tests: a first-party simulator on loopback, the
bridge in front of it (in this process, or as a ``voiceadapters bridge``
subprocess), and a Twilio-protocol client.

Everything runs on 127.0.0.1 over real sockets, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from openai.types.realtime import RealtimeServerEvent, RealtimeSessionCreateResponse
from pydantic import BaseModel, TypeAdapter

from voiceadapters.audio import StreamConverter
from voiceadapters.format import AudioFormat
from voiceadapters.secrets import Secret
from voiceadapters.testing import serve_simulator, speech_sample
from voiceadapters_bridge.g711 import pcm16_to_ulaw, ulaw_to_pcm16
from voiceadapters_bridge.server import BridgeSettings, create_app

#: The provider key the simulator accepts: every test scans what it saw for it.
PROVIDER_KEY = "sk-provider-secret-4f1d9c"
BRIDGE_KEY = "bridge-key-7a2e"
PHONE = AudioFormat(8000)


def speech_8k() -> bytes:
    """The bundled speech sample, resampled to 8 kHz."""
    pcm, fmt = speech_sample()
    conv = StreamConverter(fmt, PHONE)
    return conv.convert(pcm) + conv.flush()


# -- the openai SDK's GA models, applied strictly -------------------------------------------

_SERVER: TypeAdapter[Any] = TypeAdapter(RealtimeServerEvent)


def _extras(model: Any, path: str, skip: frozenset[str] = frozenset()) -> list[str]:
    """Every field an SDK model did not declare, anywhere below ``model``."""
    found: list[str] = []
    if isinstance(model, BaseModel):
        for key in model.model_extra or {}:
            if f"{path}.{key}".lstrip(".") not in skip:
                found.append(f"{path}.{key}".lstrip("."))
        for name in type(model).model_fields:
            if f"{path}.{name}".lstrip(".") not in skip:
                found += _extras(getattr(model, name), f"{path}.{name}", skip)
    elif isinstance(model, list | tuple):
        for i, item in enumerate(model):
            found += _extras(item, f"{path}[{i}]", skip)
    elif isinstance(model, dict):
        for key, item in model.items():
            found += _extras(item, f"{path}.{key}", skip)
    return found


def judge(data: dict[str, Any]) -> Any:
    """Validate a server event with the SDK's GA union, refusing undeclared
    fields; a session object by the model of the session the server returns."""
    event = _SERVER.validate_python(data)
    skip: frozenset[str] = frozenset()
    if data["type"] in ("session.created", "session.updated"):
        skip = frozenset({"session"})
        session = RealtimeSessionCreateResponse.model_validate(data["session"])
        extra = _extras(session, "session")
        assert not extra, f"{data['type']}: fields the SDK does not declare: {extra}"
    extra = _extras(event, "", skip)
    assert not extra, f"{data['type']}: fields the SDK does not declare: {extra}"
    if data["type"] == "error":
        assert set(data) == {"type", "event_id", "error"}
        assert set(data["error"]) == {"type", "code", "message", "param", "event_id"}
    return event


@dataclass
class RunningBridge:
    url: str  # http://127.0.0.1:PORT
    config: str
    simulator: Any = None

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://", 1)


@contextlib.asynccontextmanager
async def bridge_in_process(
    *,
    provider: str = "vatel",
    scenario: str = "echo",
    pace: float = 1.0,
    simulator_key: str = PROVIDER_KEY,
    **overrides: Any,
) -> AsyncIterator[RunningBridge]:
    """A first-party simulator and the bridge in front of it, both in this process
    (the bridge holds ``PROVIDER_KEY``; the simulator accepts ``simulator_key``)."""
    async with serve_simulator(provider, api_key=simulator_key, scenario=scenario, pace=pace) as (
        _,
        config,
        simulator,
    ):
        settings = BridgeSettings(
            provider_config=config,
            api_key=Secret(PROVIDER_KEY),
            bridge_key=Secret(BRIDGE_KEY),
            **overrides,
        )
        app = create_app(settings)
        runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
        await runner.setup()
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        await web.SockSite(runner, sock).start()
        try:
            yield RunningBridge(f"http://127.0.0.1:{port}", config, simulator)
        finally:
            await runner.cleanup()


@dataclass
class TwilioCall:
    """A Twilio Media Streams client, as Twilio's side of a ``<Connect><Stream>``."""

    ws: aiohttp.ClientWebSocketResponse
    stream_sid: str = "MZ0123456789abcdef0123456789abcdef"
    received: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    played: bytearray = field(default_factory=bytearray)
    echo_marks: bool = True
    close_reason: str | None = None

    async def start(self, token: str | None = BRIDGE_KEY, **params: str) -> None:
        await self.ws.send_str(
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )
        custom = dict(params)
        if token is not None:
            custom["token"] = token
        await self.ws.send_str(
            json.dumps(
                {
                    "event": "start",
                    "sequenceNumber": "1",
                    "streamSid": self.stream_sid,
                    "start": {
                        "streamSid": self.stream_sid,
                        "accountSid": "AC0",
                        "callSid": "CA0",
                        "tracks": ["inbound"],
                        "customParameters": custom,
                        "mediaFormat": {
                            "encoding": "audio/x-mulaw",
                            "sampleRate": 8000,
                            "channels": 1,
                        },
                    },
                }
            )
        )

    async def send_pcm(self, pcm: bytes, *, realtime: bool = True) -> None:
        """Stream 8 kHz PCM as μ-law media messages of 20 ms."""
        frame = 320
        next_at = time.monotonic()
        for i in range(0, len(pcm), frame):
            payload = base64.b64encode(pcm16_to_ulaw(pcm[i : i + frame])).decode()
            await self.ws.send_str(
                json.dumps(
                    {
                        "event": "media",
                        "streamSid": self.stream_sid,
                        "media": {
                            "track": "inbound",
                            "chunk": str(i // frame),
                            "timestamp": str(i // 16),
                            "payload": payload,
                        },
                    }
                )
            )
            if realtime:
                next_at += 0.02
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)

    async def listen(self) -> None:
        """Record every message; echo marks (as if played at once); decode media."""
        while True:
            message = await self.ws.receive()
            if message.type is aiohttp.WSMsgType.CLOSE:
                self.close_reason = str(message.extra or "")
                return
            if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return
            if message.type is not aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            self.received.append((time.monotonic(), data))
            if data.get("event") == "media":
                self.played += ulaw_to_pcm16(base64.b64decode(data["media"]["payload"]))
            elif data.get("event") == "mark" and self.echo_marks:
                await self.ws.send_str(
                    json.dumps(
                        {
                            "event": "mark",
                            "streamSid": self.stream_sid,
                            "sequenceNumber": "9",
                            "mark": data["mark"],
                        }
                    )
                )

    def turn_marks(self) -> list[str]:
        """Names of the marks that end an agent turn (``turn-…``)."""
        return [
            m["mark"]["name"] for m in self.events("mark") if m["mark"]["name"].startswith("turn")
        ]

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m for _, m in self.received if m.get("event") == kind]


async def wait_for(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)


# -- a bridge subprocess -----------------------------------------------------------------------

SIMULATOR = """
import asyncio, sys
from voiceadapters.testing import serve_simulator

async def main():
    async with serve_simulator("vatel", api_key=sys.argv[1], scenario=sys.argv[2], pace=1.0) as (_, config, _s):
        print(config, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""


@dataclass
class BridgeProcess:
    proc: subprocess.Popen[str]
    url: str
    log_path: Path

    @property
    def ws(self) -> str:
        return self.url.replace("http://", "ws://", 1)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


@contextlib.contextmanager
def simulator_process(scenario: str = "echo") -> Iterator[str]:
    sim = subprocess.Popen(
        [sys.executable, "-c", SIMULATOR, PROVIDER_KEY, scenario],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        config = sim.stdout.readline().strip()
        assert "://" in config, "the simulator did not start"
        yield config
    finally:
        assert sim.stdin is not None
        sim.stdin.close()
        sim.wait(timeout=30)


@contextlib.contextmanager
def bridge_process(
    config: str, tmp_path: Path, *args: str, workers: int = 1
) -> Iterator[BridgeProcess]:
    """``voiceadapters bridge CONFIG --listen 127.0.0.1:0 ARGS`` with the keys in
    its environment; stderr goes to a file the test can scan."""
    env = dict(os.environ, VATEL_API_KEY=PROVIDER_KEY, VOICEADAPTERS_BRIDGE_KEY=BRIDGE_KEY)
    log_path = tmp_path / f"bridge-{time.monotonic_ns()}.log"
    port = 0
    if workers > 1:
        with socket.socket() as s:  # gunicorn prints its port only in its log
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voiceadapters",
                "bridge",
                config,
                "--listen",
                f"127.0.0.1:{port}",
                "--workers",
                str(workers),
                *args,
            ],
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            env=env,
        )
    try:
        if workers > 1:
            url = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with (
                    contextlib.suppress(OSError),
                    socket.create_connection(("127.0.0.1", port), 0.5),
                ):
                    break
                time.sleep(0.1)
        else:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("bridge: listening on "), (line, log_path.read_text())
            url = line.removeprefix("bridge: listening on ")
        yield BridgeProcess(proc, url, log_path)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
