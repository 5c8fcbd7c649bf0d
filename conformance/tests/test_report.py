"""The report: JSON shape, terminal table, and the providers × cases matrix."""

from __future__ import annotations

import json
from functools import cache

from voiceadapters.events import SCHEMA_VERSION
from voiceadapters.registry import registry
from voiceadapters_conformance import (
    CASES,
    Verdict,
    matrix_markdown,
    run_suite,
    select_cases,
    table,
)
from voiceadapters_conformance.runner import Report

from .broken import by_target

ONLY = ("2", "8")  # a few families keep these tests fast


@cache
def example_report() -> Report:
    return run_suite(registry.get("example"), ("codec",), only=ONLY)


@cache
def broken_report() -> Report:
    return run_suite(by_target()["8.1"], ("codec",), only=ONLY)


def test_json_report_shape() -> None:
    data = json.loads(json.dumps(example_report().to_json()))
    assert set(data) == {"provider", "schema_version", "levels", "summary", "results"}
    assert data["schema_version"] == SCHEMA_VERSION  # the event model the cases checked
    assert data["provider"] == "example"
    assert data["levels"] == ["codec"]
    assert set(data["summary"]) == {v.value for v in Verdict}
    assert sum(data["summary"].values()) == len(data["results"])
    assert [r["id"] for r in data["results"]] == [c.id for c in select_cases(ONLY)]
    for result in data["results"]:
        assert set(result) == {
            "id", "title", "family", "level", "verdict", "detail", "notes", "seconds"
        }  # fmt: skip
        case = CASES[result["id"]]
        assert (result["title"], result["family"]) == (case.title, case.family)
        assert result["level"] == "codec"
        assert result["verdict"] in data["summary"]
        assert isinstance(result["notes"], list) and result["seconds"] >= 0
    verdicts = {r["id"]: r["verdict"] for r in data["results"]}
    assert verdicts["2.4"] == "unsupported"  # no agent_ready capability
    assert verdicts["8.1"] == "pass"


def test_failures_carry_their_detail() -> None:
    data = broken_report().to_json()
    failed = [r for r in data["results"] if r["verdict"] == "fail"]
    assert [r["id"] for r in failed] == ["8.1"]
    assert failed[0]["detail"] == "a malformed frame was reported as fatal"
    assert data["summary"]["fail"] == 1


def test_table_shows_verdicts_and_failure_details() -> None:
    text = table(broken_report())
    assert text.splitlines()[0] == (
        f"voiceadapters conformance: broken-8.1-malformed-is-fatal (event schema {SCHEMA_VERSION})"
    )
    assert "8. errors" in text
    assert "8.1 [codec] fail: a malformed frame was reported as fatal" in text
    assert text.splitlines()[-1].startswith("6 pass, 0 non-strict, 1 fail, 1 unsupported")


def test_matrix_has_a_column_per_provider_and_level() -> None:
    text = matrix_markdown([example_report(), broken_report()])
    lines = text.splitlines()
    assert lines[0] == "| case | example (codec) | broken-8.1-malformed-is-fatal (codec) |"
    row = next(line for line in lines if line.startswith("| 8.1 "))
    assert row == "| 8.1 malformed frame is reported and the session goes on | pass | FAIL |"
    assert len([line for line in lines if line.startswith("| ")]) == len(CASES) + 1
