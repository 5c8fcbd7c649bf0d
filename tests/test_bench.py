"""`voiceadapters bench`: the command runs and its JSON names every figure.

The quick bench is run once (Vatel only, to keep the suite fast) and its
document is checked for structure: names, units, the floor beside each value
and the ratio. Nothing here asserts a timing or a target: CI machines are
noisy and `--quick` figures mean little (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from voiceadapters.bench import register_cli
from voiceadapters.bench.report import Figure, Target, render_table
from voiceadapters.bench.runner import SCHEMA, run_bench
from voiceadapters.bench.server import encode_frame
from voiceadapters.bench.wire import PROFILES, server_spec

pytestmark = [pytest.mark.network, pytest.mark.slow]

PROVIDER_FIGURES = {
    "cpu_per_session_second": "ms/s",
    "density": "sessions",
    "latency_send_p99": "ms",
    "latency_recv_p99": "ms",
    "memory_idle_session": "KiB",
    "memory_stalled_consumer": "KiB",
    "path_send": "µs/frame",
    "path_recv": "µs/frame",
}
#: Figures that always have a floor beside them.
WITH_FLOOR = {
    "cpu_per_session_second",
    "density",
    "latency_send_p99",
    "latency_recv_p99",
    "memory_idle_session",
    "import_time",
    "resampler_cost",
    "path_send",
    "path_recv",
}
FIGURE_KEYS = {
    "name",
    "subject",
    "unit",
    "value",
    "floor",
    "ratio",
    "added",
    "target",
    "met",
    "note",
    "detail",
}


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, Any], Path, str]:
    import io

    path = tmp_path_factory.mktemp("bench") / "bench.json"
    out = io.StringIO()
    doc = run_bench(quick=True, providers=["vatel", "no-such-provider"], json_path=path, out=out)
    return doc, path, out.getvalue()


def test_document_header(quick: tuple[dict[str, Any], Path, str]) -> None:
    doc, path, _ = quick
    assert json.loads(path.read_text()) == doc
    assert doc["schema"] == SCHEMA
    assert doc["mode"] == "quick"
    assert doc["providers"] == ["vatel"]
    assert {"python", "platform", "cpus", "versions"} <= set(doc["machine"])
    assert isinstance(doc["duration_s"], float)


def test_every_figure_is_named_with_unit_floor_and_ratio(
    quick: tuple[dict[str, Any], Path, str],
) -> None:
    figures = quick[0]["figures"]
    assert figures
    for f in figures:
        assert set(f) == FIGURE_KEYS, f["name"]
        assert f["name"] and f["subject"] and f["unit"], f
        assert f["value"] is None or isinstance(f["value"], float), f
        if f["name"] in WITH_FLOOR:
            assert isinstance(f["value"], float), f
            assert isinstance(f["floor"], float), f
            assert isinstance(f["ratio"], float), f
            assert math.isclose(f["ratio"], f["value"] / f["floor"], rel_tol=0.01, abs_tol=1e-3)
        if f["target"] is not None:
            assert set(f["target"]) == {"metric", "op", "limit", "text"}
            assert f["met"] in (True, False)


def test_provider_figures_present(quick: tuple[dict[str, Any], Path, str]) -> None:
    units = {(f["name"], f["subject"]): f["unit"] for f in quick[0]["figures"]}
    for name, unit in PROVIDER_FIGURES.items():
        assert units[(name, "vatel")] == unit
    assert units[("import_time", "voiceadapters")] == "ms"


def test_resampler_figures_cover_every_quality_and_mark_the_default(
    quick: tuple[dict[str, Any], Path, str],
) -> None:
    subjects = {f["subject"] for f in quick[0]["figures"] if f["name"].startswith("resampler_")}
    expected = [f"{q} minimum" for q in ("LQ", "MQ", "HQ", "VHQ")] + ["HQ linear", "VHQ linear"]
    for filt in expected:
        for direction in ("16->24 kHz", "24->16 kHz"):
            assert any(s.startswith(f"{filt} {direction}") for s in subjects), filt
    defaults = [s for s in subjects if s.endswith("(default)")]
    assert sorted(defaults) == [
        "HQ minimum 16->24 kHz (default)",
        "HQ minimum 24->16 kHz (default)",
    ]
    names = {f["name"] for f in quick[0]["figures"] if f["subject"] in defaults}
    assert names == {
        "resampler_cost",
        "resampler_delay_mean",
        "resampler_delay_worst",
        "resampler_alias_rejection",
        "resampler_passband_ripple",
        "resampler_pause_loss",
    }


def test_unknown_provider_and_missing_pipecat_are_reported_as_skipped(
    quick: tuple[dict[str, Any], Path, str],
) -> None:
    skipped = {s["subject"]: s["reason"] for s in quick[0]["skipped"]}
    assert "no-such-provider" in skipped
    try:
        import pipecat  # type: ignore[import-not-found]  # noqa: F401
    except ImportError:
        assert "pipecat" in skipped


def test_stalled_consumer_drops_audio_only(quick: tuple[dict[str, Any], Path, str]) -> None:
    (stall,) = [f for f in quick[0]["figures"] if f["name"] == "memory_stalled_consumer"]
    detail = stall["detail"]
    # Correctness, not timing: audio was dropped and counted, no marker event was lost.
    assert detail["dropped_audio_events"] > 0
    assert detail["markers_received"] > 0
    assert detail["marker_gaps"] == 0


def test_table_is_printed(quick: tuple[dict[str, Any], Path, str]) -> None:
    out = quick[2]
    assert "figure" in out and "cpu_per_session_second" in out and "bench took" in out


def test_register_cli_adds_the_bench_subcommand() -> None:
    parser = argparse.ArgumentParser(prog="voiceadapters")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["bench", "--quick", "--json", "x.json", "--provider", "vatel"])
    assert args.quick and args.json == "x.json" and args.provider == ["vatel"]
    assert callable(args.func)


def test_module_entry_point_help() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "voiceadapters.bench", "--help"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert "--quick" in proc.stdout and "--json" in proc.stdout


def test_figure_ratio_added_and_target() -> None:
    f = Figure("x", "s", "ms", 3.0, 2.0, Target("ratio", "<=", 1.25, "≤ 1.25×"))
    assert f.ratio == 1.5 and f.added == 1.0 and f.met is False
    assert Figure("y", "s", "dB", 120.0, None, Target("value", ">=", 100, "")).met is True
    assert Figure("z", "s", "ms", None, 1.0).to_json()["ratio"] is None
    assert "x" in render_table([f])


def test_server_frames_and_specs() -> None:
    assert encode_frame(b"hi", text=True) == b"\x81\x02hi"
    assert encode_frame(bytes(200), text=False)[:4] == b"\x82\x7e\x00\xc8"
    for profile in PROFILES.values():
        spec = server_spec(profile)
        assert {"open", "on_first", "audio", "ws_path"} <= set(spec)
