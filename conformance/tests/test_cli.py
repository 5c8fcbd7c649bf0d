"""``voiceadapters conformance PROVIDER [--level …] [--report FILE]``: output and exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from voiceadapters.cli import main


def test_cli_passes_the_example_plugin(tmp_path: Path) -> None:
    """The command as a user types it, in a subprocess: exit 0 and a JSON report."""
    report = tmp_path / "r.json"
    command = "-m voiceadapters conformance example --level codec --report"
    done = subprocess.run(
        [sys.executable, *command.split(), str(report)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("voiceadapters conformance: example (event schema ")
    assert f"wrote {report}" in done.stdout
    assert "1.1   " in done.stderr  # per-case progress goes to stderr
    data = json.loads(report.read_text())
    assert data["provider"] == "example" and data["levels"] == ["codec"]
    assert data["summary"]["fail"] == 0 and data["summary"]["pass"] > 0


def test_cli_exits_1_on_any_fail(
    broken_registered: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A broken plugin, registered at run time, run through the CLI in-process."""
    report = tmp_path / "r.json"
    args = "conformance broken-8.1-malformed-is-fatal --level codec --only 8 --quiet --report"
    code = main([*args.split(), str(report)])
    out, err = capsys.readouterr()
    assert code == 1
    assert err == ""  # --quiet: no progress
    assert "8.1 [codec] fail: a malformed frame was reported as fatal" in out
    data = json.loads(report.read_text())
    assert [r["verdict"] for r in data["results"]] == ["fail", "pass", "pass"]


def test_cli_only_selects_cases_and_families(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["conformance", "example", "--level", "codec", "--only", "2.1", "--only", "9"])
    out, err = capsys.readouterr()
    assert code == 0
    ran = [line.split()[1] for line in err.splitlines()]
    assert ran == ["2.1", "9.1", "9.2"]  # 9.3 runs at the network level only
    assert "3 pass" in out


def test_cli_unknown_provider_fails_with_the_installed_list(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code = main(["conformance", "no-such-provider", "--level", "codec"])
    assert code != 0
    err = capsys.readouterr().err
    assert "no-such-provider" in err and "example" in err
