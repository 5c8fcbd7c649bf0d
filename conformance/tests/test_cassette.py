"""``voiceadapters conformance P --cassette FILE``: a plugin against recorded traffic."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from voiceadapters.cli import main
from voiceadapters.events import SCHEMA_VERSION
from voiceadapters.registry import registry
from voiceadapters_conformance.cassette import run_cassette

ROOT = Path(__file__).resolve().parent.parent.parent
DOCS = ROOT / "plugins" / "vatel" / "tests" / "cassettes" / "docs-examples.jsonl"


@pytest.mark.network
def test_a_plugin_passes_its_own_cassette(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "r.json"
    assert main(["conformance", "vatel", "--cassette", str(DOCS), "--report", str(report)]) == 0
    out = capsys.readouterr().out
    assert f"vatel against cassette {DOCS} (event schema {SCHEMA_VERSION}" in out
    assert "events   pass" in out and "client   pass" in out
    data = json.loads(report.read_text())
    assert data["schema_version"] == SCHEMA_VERSION
    assert [c["verdict"] for c in data["checks"]] == ["pass", "pass"]


@pytest.mark.network
def test_an_edited_cassette_fails_naming_the_message_and_field(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = tmp_path / "edited.jsonl"
    edited.write_text(DOCS.read_text().replace("book a table", "book a tablet", 1))
    assert main(["conformance", "vatel", "--cassette", str(edited)]) == 1
    out = capsys.readouterr().out
    assert "events   fail" in out and "client   pass" in out
    assert "event #3 (user_transcript) after server message #3" in out
    assert "$.data.transcript" in out


@pytest.mark.network
def test_run_cassette_reports_both_schema_versions() -> None:
    example = ROOT / "plugins" / "example" / "tests" / "cassettes" / "docs-examples.jsonl"
    run = run_cassette(registry.get("example"), example)
    assert not run.failed
    assert run.schema_version == SCHEMA_VERSION  # what this core checks
    recorded = run.recorded_schema_version  # what the cassette was made with
    assert run.lines()[0].endswith(f"(event schema {SCHEMA_VERSION}; recorded with {recorded})")
