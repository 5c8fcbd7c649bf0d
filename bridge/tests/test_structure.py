"""The bridge package is cheap to import and register: the server, aiohttp's
``web`` and the fronts load on first use (checked in a fresh interpreter)."""

from __future__ import annotations

import json
import subprocess
import sys

import voiceadapters_bridge


def imported_after(code: str) -> set[str]:
    script = code + "\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))\n"
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.strip().splitlines()[-1]))


def test_the_command_line_with_the_bridge_installed_imports_no_server() -> None:
    modules = imported_after("import voiceadapters.cli as c\nc.build_parser()")
    assert "voiceadapters_bridge.cli" in modules, "the bridge registered its commands"
    heavy = sorted(
        m
        for m in modules
        if m in ("aiohttp.web", "voiceadapters.session")
        or m.startswith(("voiceadapters_bridge.server", "voiceadapters_bridge.twilio"))
    )
    assert not heavy, f"building the CLI imported {heavy}"


def test_the_package_exports_load_lazily() -> None:
    modules = imported_after("import voiceadapters_bridge")
    assert not any(m.startswith("voiceadapters_bridge.") for m in modules), sorted(
        m for m in modules if m.startswith("voiceadapters_bridge.")
    )
    for name in voiceadapters_bridge.__all__:
        assert getattr(voiceadapters_bridge, name) is not None
