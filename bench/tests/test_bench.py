"""`voiceadapters bench`: the command runs and its JSON names every figure.

The quick bench is run once in-process (Vatel only, to keep the suite fast)
and its document is checked for structure: names, units, the floor beside
each value and the ratio. Nothing here asserts a timing or a target: CI
machines are noisy and `--quick` figures mean little (docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest

from voiceadapters.hookspecs import hookimpl
from voiceadapters.registry import registry
from voiceadapters_bench import ENTRY_POINT_GROUP, BenchProfile, register_cli, tone_frame
from voiceadapters_bench.profile import load_profile, server_spec
from voiceadapters_bench.report import Figure, Target, render_table
from voiceadapters_bench.runner import SCHEMA, run_bench
from voiceadapters_bench.server import encode_frame
from voiceadapters_example.provider import ExampleProvider

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


class _UnprofiledProvider(ExampleProvider):
    """An installed provider whose plugin declares no bench profile."""

    name = "unprofiled-parrot"
    aliases = ()


class _UnprofiledPlugin:
    @hookimpl
    def voiceadapters_providers(self) -> list[Any]:
        return [_UnprofiledProvider()]


@pytest.fixture(scope="module")
def unprofiled() -> Iterator[str]:
    """A provider registered by name in the process-wide registry, with no profile."""
    plugin = _UnprofiledPlugin()
    registry.register_plugin(plugin)
    try:
        yield _UnprofiledProvider.name
    finally:
        registry.unregister(plugin)


@pytest.fixture(scope="module")
def quick(
    tmp_path_factory: pytest.TempPathFactory, unprofiled: str
) -> tuple[dict[str, Any], Path, str]:
    import io

    path = tmp_path_factory.mktemp("bench") / "bench.json"
    out = io.StringIO()
    providers = ["vatel", "no-such-provider", unprofiled]
    # The bridge's section has its own quick run (test_bridge_bench.py).
    doc = run_bench(quick=True, providers=providers, json_path=path, out=out, skip=["bridge"])
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


def test_import_time_of_the_core_with_the_first_benched_plugin(
    quick: tuple[dict[str, Any], Path, str],
) -> None:
    (fig,) = [
        f
        for f in quick[0]["figures"]
        if f["name"] == "import_time" and f["subject"] == "voiceadapters + vatel"
    ]
    assert fig["unit"] == "ms"
    assert isinstance(fig["value"], float) and isinstance(fig["floor"], float)
    assert math.isclose(fig["ratio"], fig["value"] / fig["floor"], rel_tol=0.01, abs_tol=1e-3)
    assert "voiceadapters.get_provider('vatel')" in fig["note"]


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


def test_an_unknown_provider_and_a_skipped_section_are_reported_as_skipped(
    quick: tuple[dict[str, Any], Path, str],
) -> None:
    skipped = {s["subject"]: s["reason"] for s in quick[0]["skipped"]}
    assert "no-such-provider" in skipped
    assert "skipped no-such-provider: " in quick[2]
    assert skipped["bridge"] == "--skip bridge"


def test_an_installed_provider_without_a_profile_is_skipped_with_a_clear_line(
    quick: tuple[dict[str, Any], Path, str], unprofiled: str
) -> None:
    doc, _, out = quick
    assert unprofiled not in doc["providers"]
    (reason,) = [s["reason"] for s in doc["skipped"] if s["subject"] == unprofiled]
    assert reason.startswith("no bench profile: no entry point 'unprofiled-parrot' in the group")
    assert ENTRY_POINT_GROUP in reason
    assert f"skipped {unprofiled}: no bench profile" in out
    assert not any(f["subject"] == unprofiled for f in doc["figures"])


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
        [sys.executable, "-m", "voiceadapters_bench", "--help"],
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


def _installed_profiles() -> dict[str, BenchProfile]:
    found = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        profile = load_profile(ep.name)
        assert isinstance(profile, BenchProfile), profile
        found[ep.name] = profile
    return found


def test_every_first_party_plugin_declares_a_profile() -> None:
    assert {"vatel", "binary-pcm", "nextevi", "example", "deepgram", "openai"} <= set(
        _installed_profiles()
    )


def test_server_frames_and_specs() -> None:
    assert encode_frame(b"hi", text=True) == b"\x81\x02hi"
    assert encode_frame(bytes(200), text=False)[:4] == b"\x82\x7e\x00\xc8"
    for profile in _installed_profiles().values():
        spec = server_spec(profile)
        assert {"open", "on_first", "audio", "ws_path", "token"} <= set(spec)
        json.dumps(spec)  # it crosses to the server process as JSON


@pytest.mark.parametrize(
    "name", ["vatel", "binary-pcm", "nextevi", "example", "deepgram", "openai"]
)
def test_the_floor_finds_the_audio_the_server_plays(name: str) -> None:
    """A profile's two halves agree: the agent audio the bench server repeats
    is where the floor looks for it, and the opening messages hold none."""
    profile = _installed_profiles()[name]
    pcm = tone_frame(profile.wire_out)
    assert profile.agent_pcm(profile.agent_audio(pcm)) == pcm
    for message in (*profile.open_messages, *profile.first_messages):
        assert profile.agent_pcm(message) is None
    mic = profile.mic_audio(tone_frame(profile.wire_in))
    assert isinstance(mic, (str, bytes)) and mic


def test_a_missing_profile_is_a_sentence() -> None:
    reason = load_profile("no-such-provider")
    assert isinstance(reason, str)
    assert "no bench profile" in reason and ENTRY_POINT_GROUP in reason


def test_the_command_benches_the_example_plugin(tmp_path: Path) -> None:
    """`voiceadapters bench --provider example --quick`, as a user types it."""
    report = tmp_path / "bench.json"
    command = "-m voiceadapters bench --provider example --quick --skip bridge --json"
    done = subprocess.run(
        [sys.executable, *command.split(), str(report)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    doc = json.loads(report.read_text())
    assert doc["providers"] == ["example"]
    subjects = {(f["name"], f["subject"]) for f in doc["figures"]}
    for name in PROVIDER_FIGURES:
        assert (name, "example") in subjects
    assert ("import_time", "voiceadapters + example") in subjects
    assert "bench took" in done.stdout


def test_the_focused_run_prints_both_sides(capsys: pytest.CaptureFixture[str]) -> None:
    """`python -m voiceadapters_bench.focus`: one line per run and the medians of each side."""
    from voiceadapters_bench.focus import main

    assert main(["example", "--reps", "1", "--sessions", "2", "--mode", "idle"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["idle", "floor"], ["idle", "framework"]] * 2
    assert "median cpu" in lines[2] and "median cpu" in lines[3]


def test_density_searches_run_floor_framework_framework_floor_and_the_better_counts() -> None:
    """Two rounds (the full plan's): the second in the reverse order, so a
    steady drift of the host cancels; each side's better search is the figure."""
    from dataclasses import replace

    from voiceadapters import get_provider
    from voiceadapters_bench.runner import QUICK, _Run

    lines: list[str] = []
    run = _Run(replace(QUICK, density_rounds=2), lines.append)
    provider = get_provider("example")
    profile = load_profile(provider.name)
    assert not isinstance(profile, str)
    run.provider(provider, profile)
    searches = [line.split(": ", 1)[1].split()[0] for line in lines if "density" in line]
    assert searches == ["floor", "framework", "framework", "floor"]
    (density,) = [f for f in run.figures if f.name == "density"]
    for side in ("floor", "framework"):
        detail = density.detail[side]
        assert len(detail["searches"]) == 2
        assert detail["sessions"] == max(detail["searches"])
    assert density.value == density.detail["framework"]["sessions"]
