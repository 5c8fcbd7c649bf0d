"""Without the voiceadapters-bench distribution, `voiceadapters bench` says what to install.

The core's command line lists `bench` among the subcommands other
distributions add (`EXTENSION_COMMANDS` in `voiceadapters.cli`). To see the
core as a user without this distribution sees it, a fresh interpreter is
given this environment's site-packages minus the distribution's own files
(its dist-info and its editable-install path file): everything else, the
core and the conformance suite included, is the real installation.
"""

from __future__ import annotations

import site
import subprocess
import sys
from pathlib import Path


def _site_without_bench(tmp_path: Path) -> Path:
    kept = tmp_path / "site-packages"
    kept.mkdir()
    for directory in site.getsitepackages():
        for entry in Path(directory).iterdir():
            if "voiceadapters_bench" in entry.name or (kept / entry.name).exists():
                continue
            (kept / entry.name).symlink_to(entry)
    return kept


def _core_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    kept = _site_without_bench(tmp_path)
    code = (
        "import site, sys; site.addsitedir(sys.argv[1]); "
        "from voiceadapters.cli import main; sys.exit(main(sys.argv[2:]))"
    )
    return subprocess.run(
        [sys.executable, "-S", "-c", code, str(kept), *args],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
        check=False,
    )


def test_without_the_distribution_bench_says_what_to_install(tmp_path: Path) -> None:
    done = _core_cli(tmp_path, "bench", "--quick", "--provider", "example")
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stdout == ""
    assert done.stderr == (
        "voiceadapters: error: 'bench' needs the voiceadapters-bench distribution: "
        "pip install voiceadapters-bench (from a clone: pip install -e bench)\n"
    )


def test_without_the_distribution_the_help_lists_bench_and_what_it_needs(
    tmp_path: Path,
) -> None:
    done = _core_cli(tmp_path, "--help")
    assert done.returncode == 0, done.stderr
    assert "(needs voiceadapters-bench)" in done.stdout


def test_with_the_distribution_bench_is_the_real_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "voiceadapters", "bench", "--help"],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert "--quick" in done.stdout and "--provider" in done.stdout
