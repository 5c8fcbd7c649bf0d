"""Render reports: a terminal table, JSON, and the Markdown pages in docs/."""

from __future__ import annotations

from collections.abc import Sequence

from voiceadapters.events import SCHEMA_VERSION

from .framework import CASES, LEVELS
from .runner import Report, select_cases

__all__ = ["catalogue_markdown", "matrix_markdown", "table"]

_MARK = {"pass": "pass", "non-strict": "non-strict", "fail": "FAIL", "unsupported": "–"}


def table(report: Report) -> str:
    """A terminal table: one row per case, one column per level."""
    by_key = {(r.case.id, r.level): r for r in report.results}
    ids = [c.id for c in select_cases() if any((c.id, lv) in by_key for lv in report.levels)]
    width = max((len(CASES[i].title) for i in ids), default=10)
    head = f"{'case':<6} {'':<{width}}  " + "  ".join(f"{lv:<11}" for lv in report.levels)
    lines = [
        f"voiceadapters conformance: {report.provider} (event schema {SCHEMA_VERSION})",
        head,
        "-" * len(head),
    ]
    family = None
    for case_id in ids:
        case = CASES[case_id]
        if case.family != family:
            family = case.family
            lines.append(f"{case_id.split('.')[0]}. {family}")
        cells = []
        for lv in report.levels:
            r = by_key.get((case_id, lv))
            cells.append(f"{(_MARK[r.verdict.value] if r else ''):<11}")
        lines.append(f"{case_id:<6} {case.title:<{width}}  " + "  ".join(cells))
    failures = [r for r in report.results if r.verdict.value in ("fail", "non-strict")]
    if failures:
        lines.append("")
        for r in failures:
            lines.append(f"{r.case.id} [{r.level}] {r.verdict.value}: {r.detail}")
    counts = report.counts()
    lines.append("")
    lines.append(", ".join(f"{n} {v}" for v, n in counts.items()))
    return "\n".join(lines)


def catalogue_markdown() -> str:
    """The case catalogue, generated from the registered cases."""
    out = [
        "# Conformance case catalogue",
        "",
        "Generated from the cases themselves (`python -m voiceadapters_conformance.catalogue`);",
        "do not edit by hand.",
        "",
    ]
    family = None
    for case in select_cases():
        if case.family != family:
            family = case.family
            number = case.id.split(".")[0]
            out += [f"## {number}. {family.capitalize()}", ""]
        gates = []
        if case.requires:
            gates.append("capabilities: " + ", ".join(f"`{c}`" for c in case.requires))
        if case.scenarios:
            gates.append("simulator scenarios: " + ", ".join(f"`{s}`" for s in case.scenarios))
        gates.append("levels: " + ", ".join(case.levels))
        out += [f"### {case.id} {case.title}", "", case.doc, "", "*" + "; ".join(gates) + "*", ""]
    return "\n".join(out).rstrip() + "\n"


def matrix_markdown(reports: Sequence[Report]) -> str:
    """Providers × cases, one column per provider and level."""
    columns = [(r.provider, lv) for r in reports for lv in LEVELS if lv in r.levels]
    by_key = {(r.provider, res.level, res.case.id): res for r in reports for res in r.results}
    head = "| case | " + " | ".join(f"{p} ({lv})" for p, lv in columns) + " |"
    rule = "|---|" + "---|" * len(columns)
    rows = [head, rule]
    for case in select_cases():
        cells = []
        for p, lv in columns:
            res = by_key.get((p, lv, case.id))
            cells.append("" if res is None else _MARK[res.verdict.value])
        rows.append(f"| {case.id} {case.title} | " + " | ".join(cells) + " |")
    legend = (
        "`pass`: behaves as the model requires; `non-strict`: works but deviates from a "
        "recommendation; `FAIL`: breaks the model; `–`: unsupported (the capability or "
        "scenario is absent); empty: the case does not run at that level."
    )
    return "\n".join(rows) + "\n\n" + legend + "\n"
