"""The published catalogue is generated from the cases and cannot drift from them."""

from __future__ import annotations

from pathlib import Path

from voiceadapters_conformance import CASES, FAMILIES, catalogue_markdown

CATALOGUE = Path(__file__).resolve().parents[2] / "docs" / "conformance" / "catalogue.md"


def test_docs_catalogue_is_generated_from_the_cases() -> None:
    assert CATALOGUE.read_text(encoding="utf-8") == catalogue_markdown(), (
        "docs/conformance/catalogue.md is stale; regenerate it with "
        "`python -m voiceadapters_conformance.catalogue > docs/conformance/catalogue.md`"
    )


def test_catalogue_lists_every_case_and_family() -> None:
    text = catalogue_markdown()
    for case in CASES.values():
        assert f"### {case.id} {case.title}\n" in text
        assert case.doc, f"case {case.id} has no docstring to publish"
    for number, family in FAMILIES.items():
        assert f"## {number}. {family.capitalize()}\n" in text
