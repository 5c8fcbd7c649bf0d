"""The command line with the NextEVI plugin, run as a user runs it: in a subprocess."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import voiceadapters
from voiceadapters.audio import best_alignment, pcm_to_array, read_wav
from voiceadapters.testing import speech_sample

pytestmark = pytest.mark.network

KEY = "oak_cli_DO-NOT-LEAK_4411"


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voiceadapters", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


def test_demo_nextevi_runs_end_to_end_and_writes_a_faithful_echo(tmp_path: Path) -> None:
    out = cli("demo", "nextevi", "--fast", "--output-dir", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "demo: config nextevi://127.0.0.1:" in out.stdout and "config_id=" in out.stdout
    assert "emotion" in out.stdout and "agent_audio_done" in out.stdout
    pcm, fmt = speech_sample()
    agent, agent_fmt = read_wav(tmp_path / "demo-nextevi-agent.wav")
    assert agent_fmt == fmt
    assert best_alignment(pcm_to_array(pcm), pcm_to_array(agent))[1] >= 0.9
    lines = (tmp_path / "demo-nextevi-events.jsonl").read_text().splitlines()
    assert json.loads(lines[0])["type"] == "session_started"
    assert json.loads(lines[-1])["type"] == "session_ended"


def test_check_shows_the_websocket_url_with_the_key_masked() -> None:
    out = cli("check", "nextevi://?config_id=cfg-1&project_id=p-1", env={"NEXTEVI_API_KEY": KEY})
    assert out.returncode == 0, out.stderr
    assert "WS wss://api.nextevi.com/ws/voice/voice_" in out.stdout
    assert "?api_key=***&config_id=cfg-1&project_id=p-1" in out.stdout
    assert KEY not in out.stdout + out.stderr


def test_check_with_the_key_in_the_string_never_echoes_it() -> None:
    out = cli("check", f"nextevi://?config_id=c&api_key={KEY}", env={"NEXTEVI_API_KEY": ""})
    assert out.returncode == 0, out.stderr
    assert KEY not in out.stdout + out.stderr


async def _hello(config: str) -> list[str]:
    async with voiceadapters.connect(config, api_key=KEY) as session:
        await session.send_text("hello")
        kinds = []
        while "agent_text" not in kinds:
            event = await asyncio.wait_for(session.next_event(), 10)
            assert event is not None
            kinds.append(event.type)
    return kinds


def test_simulate_prints_the_config_string_first_then_serves_it() -> None:
    sim = subprocess.Popen(
        [sys.executable, "-m", "voiceadapters", "simulate", "nextevi", "--api-key", KEY],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        config = sim.stdout.readline().strip()
        assert asyncio.run(_hello(config))[0] == "session_started"
    finally:
        sim.terminate()
        _, err = sim.communicate(timeout=10)
    assert config.startswith("nextevi://127.0.0.1:") and config.endswith(
        "?tls=false&config_id=cfg-simulator"
    )
    assert sim.returncode == 0 and KEY not in config + err


def test_simulate_rejects_the_scenario_nextevi_does_not_have() -> None:
    out = cli("simulate", "nextevi", "--scenario", "tool_call")
    assert out.returncode == 2 and "wav_chunks" in out.stderr
