"""The command line, run as a user runs it: in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from voiceadapters.audio import best_alignment, pcm_to_array, read_wav, write_wav

from .conftest import SECRET_KEY, speech_sample
from .test_events import EVENT_TYPES

pytestmark = pytest.mark.network


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "voiceadapters", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=full_env,
    )


def test_providers_lists_vatel_with_capabilities() -> None:
    out = cli("providers")
    assert out.returncode == 0, out.stderr
    assert "vatel" in out.stdout and "tool_calls" in out.stdout
    data = json.loads(cli("providers", "--json").stdout)
    vatel = next(p for p in data if p["name"] == "vatel")
    assert vatel["capabilities"]["tool_calls"] is True
    assert vatel["api_key_env"] == "VATEL_API_KEY"


def test_check_shows_the_handshake_with_the_key_masked() -> None:
    out = cli("check", "vatel://?agent_id=abc", env={"VATEL_API_KEY": SECRET_KEY})
    assert out.returncode == 0, out.stderr
    assert "POST https://api.vatel.ai/v1/session-token" in out.stdout
    assert "***" in out.stdout
    assert SECRET_KEY not in out.stdout + out.stderr


def test_check_with_the_key_in_the_string_never_echoes_it() -> None:
    out = cli("check", f"vatel://?agent_id=abc&api_key={SECRET_KEY}", env={"VATEL_API_KEY": ""})
    assert out.returncode == 0, out.stderr
    assert SECRET_KEY not in out.stdout + out.stderr


def test_check_unknown_provider_lists_installed_ones() -> None:
    out = cli("check", "acme://")
    assert out.returncode == 2
    assert "unknown provider 'acme'" in out.stderr and "vatel" in out.stderr


def test_check_insecure_remote_is_refused() -> None:
    out = cli("check", "vatel://example.com?tls=false&agent_id=a")
    assert out.returncode == 2 and "allow_insecure" in out.stderr


def test_check_without_key_says_which_variable_to_set() -> None:
    out = cli("check", "vatel://?agent_id=abc", env={"VATEL_API_KEY": ""})
    assert out.returncode == 1 and "VATEL_API_KEY" in out.stdout


def test_simulate_prints_the_config_first_then_serves_a_run(tmp_path: Path) -> None:
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voiceadapters",
            "simulate",
            "vatel",
            "--api-key",
            SECRET_KEY,
            "--pace",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert sim.stdout is not None
        config = sim.stdout.readline().strip()
        assert config.startswith("vatel://127.0.0.1:") and "tls=false" in config
        pcm, fmt = speech_sample()
        wav_in = tmp_path / "in.wav"
        write_wav(wav_in, pcm, fmt)
        out = cli(
            "run",
            config,
            "--input",
            str(wav_in),
            "--output",
            str(tmp_path / "out.wav"),
            "--events",
            str(tmp_path / "events.jsonl"),
            "--fast",
            env={"VATEL_API_KEY": SECRET_KEY},
        )
        assert out.returncode == 0, out.stderr
        assert SECRET_KEY not in out.stdout + out.stderr
    finally:
        sim.terminate()
        _, err = sim.communicate(timeout=10)
    assert sim.returncode == 0
    assert SECRET_KEY not in err
    lines = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    assert lines[0]["type"] == "session_started" and lines[-1]["type"] == "session_ended"
    assert {line["type"] for line in lines} <= EVENT_TYPES
    audio_lines = [line for line in lines if line["type"] == "agent_audio"]
    assert audio_lines and all(
        "bytes" in a and "duration_ms" in a and "pcm" not in a for a in audio_lines
    )
    agent, _ = read_wav(tmp_path / "out.wav")
    assert best_alignment(pcm_to_array(pcm), pcm_to_array(agent))[1] >= 0.9


def test_simulate_rejects_an_unknown_scenario() -> None:
    out = cli("simulate", "vatel", "--scenario", "nope")
    assert out.returncode == 2 and "echo" in out.stderr


def test_demo_runs_end_to_end_and_writes_a_faithful_echo(tmp_path: Path) -> None:
    started = time.monotonic()
    out = cli("demo", "vatel", "--fast", "--output-dir", str(tmp_path))
    assert out.returncode == 0, out.stdout + out.stderr
    assert time.monotonic() - started < 60
    lines = out.stdout.splitlines()
    event_lines = [line for line in lines if "s  " in line and not line.startswith("demo")]
    assert "session_started" in event_lines[0] and "session_ended" in event_lines[-1]
    pcm, fmt = speech_sample()
    agent, agent_fmt = read_wav(tmp_path / "demo-vatel-agent.wav")
    assert agent_fmt == fmt
    lag, ncc = best_alignment(pcm_to_array(pcm), pcm_to_array(agent))
    assert ncc >= 0.9
    events = (tmp_path / "demo-vatel-events.jsonl").read_text().splitlines()
    assert json.loads(events[0])["type"] == "session_started"
    assert np.isfinite(lag)


def test_simulate_stops_cleanly_when_terminated_right_after_the_config_line() -> None:
    sim = subprocess.Popen(
        [sys.executable, "-m", "voiceadapters", "simulate", "vatel"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert sim.stdout is not None
    assert sim.stdout.readline().startswith("vatel://")
    sim.terminate()  # at once: the handlers must already be installed
    sim.communicate(timeout=10)
    assert sim.returncode == 0
