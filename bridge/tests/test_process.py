"""``voiceadapters bridge`` as a process: SIGTERM drains live sessions (they
end with a reason, the process exits 0), ``--workers N`` runs under gunicorn,
and the provider key appears in nothing the process wrote or sent."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from voiceadapters.audio import best_alignment, pcm_to_array

from .conftest import (
    BRIDGE_KEY,
    PROVIDER_KEY,
    TwilioCall,
    bridge_process,
    simulator_process,
    speech_8k,
    wait_for,
)

pytestmark = [pytest.mark.network, pytest.mark.slow]


async def _metric(http: aiohttp.ClientSession, url: str, name: str) -> float:
    text = await (await http.get(f"{url}/metrics")).text()
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(f"voiceadapters_bridge_{name}{{")
    )


async def test_sigterm_ends_a_live_session_with_a_reason_and_exits_0(tmp_path: Path) -> None:
    with (
        simulator_process() as config,
        bridge_process(config, tmp_path, "--drain-timeout", "1") as bridge,
    ):
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{bridge.ws}/twilio") as ws:
                call = TwilioCall(ws)
                listener = asyncio.create_task(call.listen())
                await call.start()
                await call.send_pcm(speech_8k()[:16000])
                await wait_for(lambda: True, 0, "")
                deadline = time.monotonic() + 10
                while await _metric(http, bridge.url, "sessions_open") < 1:
                    assert time.monotonic() < deadline, "the session did not open"
                    await asyncio.sleep(0.05)
                bridge.proc.send_signal(signal.SIGTERM)
                sent = time.monotonic()
                await asyncio.wait_for(listener, 20)
                closed_after = time.monotonic() - sent
                code = ws.close_code
            reason = call.close_reason
        assert bridge.proc.wait(timeout=30) == 0
    assert (code, reason) == (1001, "bridge shutting down")
    assert 0.8 < closed_after < 10, f"closed {closed_after:.1f} s after SIGTERM (drain timeout 1 s)"
    log = bridge.log()
    assert "draining 1 live session" in log and "ended (drain)" in log
    assert PROVIDER_KEY not in log and BRIDGE_KEY not in log
    assert all(PROVIDER_KEY not in json.dumps(m) for _, m in call.received)


async def test_a_session_that_finishes_during_the_drain_ends_normally(tmp_path: Path) -> None:
    with (
        simulator_process() as config,
        bridge_process(config, tmp_path, "--drain-timeout", "20") as bridge,
    ):
        async with aiohttp.ClientSession() as http:
            async with http.ws_connect(f"{bridge.ws}/twilio") as ws:
                call = TwilioCall(ws)
                listener = asyncio.create_task(call.listen())
                await call.start()
                await call.send_pcm(speech_8k()[:8000])
                deadline = time.monotonic() + 10
                while await _metric(http, bridge.url, "sessions_open") < 1:
                    assert time.monotonic() < deadline, "the session did not open"
                    await asyncio.sleep(0.05)
                bridge.proc.send_signal(signal.SIGTERM)
                await asyncio.sleep(0.5)
                # Draining: not ready, and a new client is sent elsewhere.
                assert (await http.get(f"{bridge.url}/readyz")).status == 503
                async with http.ws_connect(f"{bridge.ws}/twilio") as late:
                    closing = await late.receive(timeout=10)
                assert (late.close_code, closing.extra) == (
                    1012,
                    "bridge is draining: connect again",
                )
                # Still live while draining: the call hangs up by itself.
                await ws.send_str(
                    json.dumps({"event": "stop", "streamSid": call.stream_sid, "stop": {}})
                )
                await asyncio.wait_for(listener, 20)
                code = ws.close_code
        started = time.monotonic()
        assert bridge.proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 10, "the drain waited although no session was left"
    assert code == 1000
    assert "ended (client_closed)" in bridge.log()


async def test_workers_run_under_gunicorn_and_stop_on_sigterm(tmp_path: Path) -> None:
    pytest.importorskip("gunicorn", reason="the gunicorn extra is not installed")
    speech = speech_8k()
    with simulator_process() as config, bridge_process(config, tmp_path, workers=2) as bridge:
        async with aiohttp.ClientSession() as http:
            deadline = time.monotonic() + 30
            while True:
                try:
                    if (await http.get(f"{bridge.url}/readyz")).status == 200:
                        break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline, bridge.log()
                await asyncio.sleep(0.1)
            async with http.ws_connect(f"{bridge.ws}/twilio") as ws:
                call = TwilioCall(ws)
                listener = asyncio.create_task(call.listen())
                await call.start()
                await call.send_pcm(speech + bytes(2 * 8000 * 2))
                await wait_for(lambda: call.turn_marks(), 15, "the agent's turn")
                await ws.close()
                await asyncio.wait_for(listener, 10)
        bridge.proc.send_signal(signal.SIGTERM)
        assert bridge.proc.wait(timeout=60) == 0
    log = bridge.log()
    assert "aiohttp.GunicornWebWorker" in log or "Booting worker" in log
    assert log.count("Booting worker") == 2, log
    _, ncc = best_alignment(pcm_to_array(speech), pcm_to_array(bytes(call.played)))
    assert ncc >= 0.9
    assert PROVIDER_KEY not in log


def test_bridge_token_mints_a_token_and_bridge_refuses_to_start_without_a_key(
    tmp_path: Path,
) -> None:
    env = {"VOICEADAPTERS_BRIDGE_KEY": BRIDGE_KEY, "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-m", "voiceadapters", "bridge-token", "--ttl", "60"],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("vab1.") and "valid for 60 s" in done.stderr
    no_key = subprocess.run(
        [
            sys.executable,
            "-m",
            "voiceadapters",
            "bridge",
            "vatel://127.0.0.1:9?tls=false&agent_id=a",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert no_key.returncode == 2
    assert "set VOICEADAPTERS_BRIDGE_KEY" in no_key.stderr
    no_provider_key = subprocess.run(
        [
            sys.executable,
            "-m",
            "voiceadapters",
            "bridge",
            "vatel://127.0.0.1:9?tls=false&agent_id=a",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )
    assert no_provider_key.returncode == 2
    assert "VATEL_API_KEY" in no_provider_key.stderr, no_provider_key.stderr
    open_to_all = subprocess.run(
        [
            sys.executable,
            "-m",
            "voiceadapters",
            "bridge",
            "vatel://127.0.0.1:9?tls=false&agent_id=a",
            "--no-auth",
            "--listen",
            "0.0.0.0:0",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert open_to_all.returncode == 2
    assert "--no-auth is for loopback only" in open_to_all.stderr
    no_signing_key = subprocess.run(
        [sys.executable, "-m", "voiceadapters", "bridge-token"],
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin"},
        check=False,
    )
    assert no_signing_key.returncode == 2 and not no_signing_key.stdout
    assert "tokens are signed with the bridge key" in no_signing_key.stderr
    for done_ in (done, no_key, no_provider_key, open_to_all, no_signing_key):
        assert PROVIDER_KEY not in done_.stdout + done_.stderr
