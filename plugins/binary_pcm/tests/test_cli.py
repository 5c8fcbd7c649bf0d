"""The command line with the binary-PCM provider, run as a user runs it: in a subprocess.

Nothing in ``cli.py`` knows this provider: ``demo``, ``simulate``, ``run``,
``check`` and ``providers`` work through the provider's ``make_simulator`` /
``simulator_config`` and the entry points.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from voiceadapters.audio import best_alignment, pcm_to_array, read_wav, write_wav
from voiceadapters.testing import speech_sample

pytestmark = pytest.mark.network

SECRET_KEY = "sk-bpcm-cli-DO-NOT-LEAK-5e2d"


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voiceadapters", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def test_demo_runs_end_to_end_and_writes_a_faithful_echo(tmp_path: Path) -> None:
    out = cli("demo", "binary-pcm", "--fast", "--output-dir", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    events = [line for line in lines if "s  " in line and not line.startswith("demo")]
    assert "session_started" in events[0] and "agent_ready" in events[1]
    assert "session_ended" in events[-1] and "client_closed" in events[-1]
    pcm, fmt = speech_sample()
    agent, agent_fmt = read_wav(tmp_path / "demo-binary-pcm-agent.wav")
    assert agent_fmt == fmt
    _, ncc = best_alignment(pcm_to_array(pcm), pcm_to_array(agent))
    assert ncc >= 0.9
    logged = [
        json.loads(x) for x in (tmp_path / "demo-binary-pcm-events.jsonl").read_text().splitlines()
    ]
    assert [e["type"] for e in logged[:2]] == ["session_started", "agent_ready"]


def test_providers_lists_the_alias_and_what_the_protocol_cannot_do() -> None:
    out = cli("providers", "--json")
    assert out.returncode == 0, out.stderr
    (entry,) = [p for p in json.loads(out.stdout) if p["name"] == "binary-pcm"]
    assert entry["aliases"] == ["workbuddy"]
    assert entry["api_key_env"] == "BINARY_PCM_API_KEY"
    assert [k for k, v in entry["capabilities"].items() if v] == ["agent_ready", "end_reasons"]
    assert entry["wire_input"] == entry["wire_output"] == "pcm_s16le 16000 Hz mono"


def test_check_shows_the_token_request_with_the_key_masked() -> None:
    out = cli("check", "workbuddy://", env={"BINARY_PCM_API_KEY": SECRET_KEY})
    assert out.returncode == 0, out.stderr
    assert "POST https://api.getworkbuddy.com/api/v1/sdk/token" in out.stdout
    assert "Authorization: ***" in out.stdout
    assert SECRET_KEY not in out.stdout + out.stderr


def test_simulate_prints_the_config_first_then_serves_a_run(tmp_path: Path) -> None:
    sim = subprocess.Popen(
        [sys.executable, "-m", "voiceadapters", "simulate", "binary-pcm",
         "--api-key", SECRET_KEY, "--pace", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert sim.stdout is not None
        config = sim.stdout.readline().strip()
        assert config.startswith("binary-pcm://127.0.0.1:") and config.endswith("?tls=false")
        pcm, fmt = speech_sample()
        write_wav(tmp_path / "in.wav", pcm, fmt)
        out = cli(
            "run", config, "--input", str(tmp_path / "in.wav"),
            "--output", str(tmp_path / "out.wav"),
            "--events", str(tmp_path / "events.jsonl"), "--fast",
            env={"BINARY_PCM_API_KEY": SECRET_KEY},
        )  # fmt: skip
        assert out.returncode == 0, out.stdout + out.stderr
        assert SECRET_KEY not in out.stdout + out.stderr
    finally:
        sim.terminate()
        _, err = sim.communicate(timeout=10)
    assert SECRET_KEY not in err
    agent, _ = read_wav(tmp_path / "out.wav")
    assert best_alignment(pcm_to_array(pcm), pcm_to_array(agent))[1] >= 0.9


def test_simulate_rejects_an_unknown_scenario_listing_the_real_ones() -> None:
    out = cli("simulate", "binary-pcm", "--scenario", "nope")
    assert out.returncode == 2
    assert "end_room_closed" in out.stderr and "setup_failed" in out.stderr
