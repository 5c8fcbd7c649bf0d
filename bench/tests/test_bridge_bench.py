"""`voiceadapters bench --only bridge`: the bridge's figures are produced and sane.

One quick run of the section (two Twilio calls through a bridge process,
two direct sessions, the per-frame Twilio leg) is shared by the tests.
Nothing here asserts a speed or a ratio: `--quick` figures mean little and
the machines are noisy (docs/benchmarks.md); only that each figure is there,
positive, with its floor beside it, and that the audio went through.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
from pathlib import Path
from typing import Any

import pytest

from voiceadapters_bench import register_cli
from voiceadapters_bench.runner import run_bench
from voiceadapters_bench.twilioleg import (
    PipecatUnavailable,
    find_pipecat,
    measure_ours,
    measure_twilio_leg,
    recorded_call,
)
from voiceadapters_bridge.g711 import ulaw_to_pcm16

pytestmark = [pytest.mark.network, pytest.mark.slow]

BRIDGE_FIGURES = {
    "bridge_cpu_per_session_second": "ms/s",
    "bridge_sessions_per_core": "sessions",
    "bridge_latency_recv_p99": "ms",
}


@pytest.fixture(scope="module")
def section(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, str]:
    path = tmp_path_factory.mktemp("bridge-bench") / "bench.json"
    out = io.StringIO()
    doc = run_bench(quick=True, providers=["vatel"], json_path=path, out=out, only="bridge")
    return doc, path, out.getvalue()


def test_only_the_bridge_section_runs(section: tuple[dict[str, Any], Path, str]) -> None:
    doc, path, out = section
    assert json.loads(path.read_text()) == doc
    assert doc["sections"] == ["bridge"]
    assert doc["plan"]["bridge"]["sessions"] >= 1
    names = {f["name"] for f in doc["figures"]}
    assert names == {*BRIDGE_FIGURES, "twilio_frame_in", "twilio_frame_out"}
    assert "bridge_cpu_per_session_second" in out and "bench took" in out


def test_sessions_through_the_bridge_beside_direct_sessions(
    section: tuple[dict[str, Any], Path, str],
) -> None:
    figures = {f["name"]: f for f in section[0]["figures"] if f["name"] in BRIDGE_FIGURES}
    for name, unit in BRIDGE_FIGURES.items():
        f = figures[name]
        assert f["subject"] == "twilio → vatel" and f["unit"] == unit
        assert f["value"] > 0 and f["floor"] > 0 and f["ratio"] > 0, f
    runs = figures["bridge_cpu_per_session_second"]["detail"]["runs"]
    assert len(runs["bridge"]) == len(runs["direct"]) >= 1
    for r in runs["bridge"]:
        # Every call reached the provider and audio flowed both ways through the bridge.
        assert r["sessions"] == r["sessions_open_in_bridge"] == 2, r
        assert r["failed_sessions"] == 0 and not r["errors"], r
        assert r["cpu_s"] > 0
        assert r["bridge_in_ratio"] > 0.5 and r["bridge_out_ratio"] > 0.5, r
        assert r["received_ratio"] > 0.5, r
    for r in runs["direct"]:
        assert r["sessions"] == 2 and r["cpu_s"] > 0 and r["received_ratio"] > 0.5, r


def test_the_twilio_leg_beside_pipecat_or_skipped_with_the_reason(
    section: tuple[dict[str, Any], Path, str],
) -> None:
    doc = section[0]
    leg = [f for f in doc["figures"] if f["name"].startswith("twilio_frame_")]
    assert {f["subject"] for f in leg} == {
        "TwilioFront (8 kHz, no resampling)",
        "TwilioFront + StreamConverter (16 kHz)",
    }
    assert all(f["unit"] == "µs/frame" and f["value"] > 0 for f in leg)
    skipped = {s["subject"]: s["reason"] for s in doc["skipped"]}
    if "pipecat TwilioFrameSerializer" in skipped:
        assert "pipecat" in skipped["pipecat TwilioFrameSerializer"].lower()
        assert all(f["floor"] is None for f in leg)
    else:
        assert all(f["floor"] > 0 and f["ratio"] > 0 for f in leg)
        (at_8k,) = [
            f
            for f in leg
            if f["name"] == "twilio_frame_in" and f["subject"].startswith("TwilioFront (8")
        ]
        # Like for like: at 8 kHz both sides turn the same frames into the same audio.
        assert "same audio both sides" in at_8k["note"], at_8k["note"]


def test_our_leg_decodes_what_twilio_sent() -> None:
    messages, frames = recorded_call(0.5)
    assert len(messages) == len(frames) == 25
    expected = b"".join(
        ulaw_to_pcm16(base64.b64decode(json.loads(m)["media"]["payload"])) for m in messages
    )
    r = measure_ours(messages, frames, 8000, 1)
    assert r["in_sha256"] == hashlib.sha256(expected).hexdigest()
    assert r["in_us"] > 0 and r["out_us"] > 0 and r["frames"] == 25
    r16 = measure_ours(messages, frames, 16000, 1)
    assert r16["in_us"] > 0 and r16["out_us"] > 0


def test_without_pipecat_and_without_setup_the_reason_is_a_sentence(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    try:
        python, how = find_pipecat(setup=False)
    except PipecatUnavailable as exc:
        reason = str(exc)
        assert "not set up" in reason and str(tmp_path) in reason
        assert "--setup-pipecat" in reason
        leg = measure_twilio_leg(quick=True, setup_pipecat=False)
        assert not leg["pipecat"] and leg["pipecat_note"] == reason
        assert all(row["pipecat"] is None for row in leg["rows"])
    else:  # pipecat-ai importable in this interpreter
        assert "importable" in how and python


def test_the_cli_has_the_focused_section() -> None:
    parser = argparse.ArgumentParser(prog="voiceadapters")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "--only", "bridge", "--quick"])
    assert args.only == "bridge" and args.quick
    with pytest.raises(SystemExit):
        parser.parse_args(["bench", "--only", "nothing"])
    with pytest.raises(ValueError, match="unknown section"):
        run_bench(quick=True, only="nothing", out=io.StringIO())
