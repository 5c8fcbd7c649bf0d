"""Acceptance: the bridge page in headless Chromium with a fake microphone
holds a session through the bridge against the vatel simulator.

Chromium is Debian's (``apt-get install -y chromium``; ``.ci/install-chromium``
does it in CI). It is driven with the Chrome DevTools Protocol over a
WebSocket (``websockets``, already a core dependency): no Node.js, no
browser download. The test is skipped, saying why, only where no Chromium
binary can be found.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import logging
import os
import shutil
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
import pytest
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from voiceadapters.audio import best_alignment, pcm_to_array, write_wav
from voiceadapters.testing import speech_sample

from .conftest import BRIDGE_KEY, PROVIDER_KEY, bridge_in_process

pytestmark = [pytest.mark.network, pytest.mark.slow]

CHROMIUM = next(
    (
        p
        for p in (
            os.environ.get("CHROMIUM"),
            shutil.which("chromium"),
            shutil.which("chromium-browser"),
        )
        if p
    ),
    None,
)

#: /work/.library-style flags for a root, headless, offline Chromium, plus the fake media devices.
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--autoplay-policy=no-user-gesture-required",
    "--remote-debugging-port=0",
]


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page session."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.session: str | None = None

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        ident = next(self.ids)
        message: dict[str, Any] = {"id": ident, "method": method, "params": params}
        if self.session is not None:
            message["sessionId"] = self.session
        await self.ws.send(json.dumps(message))
        while True:
            reply = json.loads(await asyncio.wait_for(self.ws.recv(), 30))
            if reply.get("id") == ident:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    async def evaluate(self, expression: str, *, gesture: bool = False) -> Any:
        result = await self.call(
            "Runtime.evaluate",
            expression=expression,
            awaitPromise=True,
            returnByValue=True,
            userGesture=gesture,
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")


@contextlib.asynccontextmanager
async def chromium(tmp_path: Path, fake_mic: Path) -> AsyncIterator[DevTools]:
    """Chromium with a fresh profile; its DevTools endpoint is read from the
    ``DevToolsActivePort`` file it writes there (port 0: any free port)."""
    assert CHROMIUM is not None
    profile = tmp_path / "profile"
    log = (tmp_path / "chromium.log").open("wb")
    proc = await asyncio.create_subprocess_exec(
        CHROMIUM,
        *FLAGS,
        f"--user-data-dir={profile}",
        f"--use-file-for-fake-audio-capture={fake_mic}%noloop",
        "about:blank",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=log,
    )
    try:
        active = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 60
        while not (active.exists() and len(active.read_text().split()) == 2):
            assert proc.returncode is None, "Chromium exited"
            assert time.monotonic() < deadline, "Chromium did not open its DevTools endpoint"
            await asyncio.sleep(0.1)
        port, path = active.read_text().split()
        async with ws_connect(f"ws://127.0.0.1:{port}{path}", max_size=64 * 1024 * 1024) as ws:
            tools = DevTools(ws)
            target = await tools.call("Target.createTarget", url="about:blank")
            attached = await tools.call(
                "Target.attachToTarget", targetId=target["targetId"], flatten=True
            )
            tools.session = attached["sessionId"]
            await tools.call("Runtime.enable")
            yield tools
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()
        log.close()


@pytest.mark.skipif(
    CHROMIUM is None,
    reason="no Chromium binary (apt-get install -y chromium; .ci/install-chromium)",
)
async def test_the_page_holds_a_session_in_headless_chromium(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="voiceadapters.bridge")
    pcm, fmt = speech_sample()
    fake_mic = tmp_path / "mic.wav"
    # A second of quiet, the speech, then quiet: the agent's turn detection ends the turn.
    write_wav(fake_mic, bytes(fmt.bytes_for(1.0)) + pcm + bytes(fmt.bytes_for(6.0)), fmt)
    async with bridge_in_process(scenario="echo") as bridge, aiohttp.ClientSession() as http:
        minted = await http.post(
            f"{bridge.url}/tokens",
            headers={"Authorization": f"Bearer {BRIDGE_KEY}"},
            json={"ttl": 120},
        )
        token = (await minted.json())["token"]
        page_files = [
            await (await http.get(f"{bridge.url}/page/{name}")).text()
            for name in ("", "app.js", "worklet.js")
        ]
        async with chromium(tmp_path, fake_mic) as page:
            await page.call("Page.enable")
            await page.call("Page.navigate", url=f"{bridge.url}/page/#token={token}&aec=0")
            await _until(page, "document.readyState === 'complete' && !!window.bridgePage", 20)
            await page.evaluate("document.getElementById('start').click()", gesture=True)
            await _until(page, "window.bridgePage.ready !== null", 20)
            await _until(
                page,
                "window.bridgePage.transcript.some(t => t.who === 'user') && window.bridgePage.playedSamples > 16000 * 2.5",
                40,
            )
            await asyncio.sleep(1.5)  # the rest of the reply
            state = await page.evaluate(
                "({transcript: bridgePage.transcript, events: bridgePage.events.map(e => e.type),"
                " played: bridgePage.playedSamples, sent: bridgePage.sentFrames, status: bridgePage.status,"
                " reports: bridgePage.playReports})"
            )
            played_b64 = await page.evaluate(
                "(() => { const n = bridgePage.played.reduce((a, c) => a + c.length, 0);"
                " const all = new Int16Array(n); let at = 0;"
                " for (const c of bridgePage.played) { all.set(c, at); at += c.length; }"
                " const bytes = new Uint8Array(all.buffer); let s = '';"
                " for (let i = 0; i < bytes.length; i += 8192) s += String.fromCharCode(...bytes.subarray(i, i + 8192));"
                " return btoa(s); })()"
            )
            html = await page.evaluate("document.documentElement.outerHTML")
            await page.evaluate("document.getElementById('stop').click()", gesture=True)
            await _until(page, "window.bridgePage.closed !== null", 10)
            closed = await page.evaluate("window.bridgePage.closed")
    assert state["sent"] > 100, state
    assert "bridge.ready" in state["events"] and "user_transcript" in state["events"], state
    assert any(t["who"] == "user" and t["text"] for t in state["transcript"]), state
    assert any(t["who"] == "agent" for t in state["transcript"]), state
    played = np.frombuffer(base64.b64decode(played_b64), dtype="<i2")
    assert played.size > 16000 * 2.5
    _, ncc = best_alignment(pcm_to_array(pcm), played)
    # Through Chromium's capture (the fake device, resampled to the page's
    # 16 kHz context), the bridge, the simulator, and back into the player.
    print(f"page echo cross-correlation {ncc:.3f}, {played.size / 16000:.2f} s played")
    assert ncc >= 0.9, f"played audio vs the microphone's speech: {ncc:.3f}"
    assert closed["code"] == 1000, closed
    # The page told the bridge how far it had played (one report per 0.5 s at most).
    assert state["reports"] >= 3, state
    await asyncio.sleep(0.5)  # the bridge's side of the close
    ended = [r.getMessage() for r in caplog.records if "connection ended" in r.getMessage()]
    assert ended and f"{state['reports']} playback report(s)" in ended[0], ended
    for text in (html, *page_files, json.dumps(state)):
        assert PROVIDER_KEY not in text


async def _until(page: DevTools, condition: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not await page.evaluate(f"!!({condition})"):
        if time.monotonic() > deadline:
            status = await page.evaluate(
                "window.bridgePage && JSON.stringify({s: bridgePage.status, e: bridgePage.events.map(e => e.type), p: bridgePage.playedSamples, f: bridgePage.sentFrames})"
            )
            raise AssertionError(f"timed out after {timeout} s waiting for {condition}: {status}")
        await asyncio.sleep(0.1)
