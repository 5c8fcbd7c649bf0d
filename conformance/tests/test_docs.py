"""The "Writing an adapter" guide quotes the example plugin; the quotes must match.

Each code block in the guide preceded by ``<!-- excerpt: PATH -->`` must
appear, verbatim, in that file of the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "writing-an-adapter.md"
EXCERPT = re.compile(r"<!-- excerpt: (?P<path>\S+) -->\n```\w*\n(?P<code>.*?)\n```", re.DOTALL)


def excerpts() -> list[tuple[str, str]]:
    return [(m["path"], m["code"]) for m in EXCERPT.finditer(GUIDE.read_text(encoding="utf-8"))]


def test_the_guide_has_excerpts() -> None:
    assert len(excerpts()) >= 10


@pytest.mark.parametrize(("path", "code"), excerpts(), ids=lambda v: v.splitlines()[0][:40])
def test_excerpt_matches_the_file(path: str, code: str) -> None:
    source = (ROOT / path).read_text(encoding="utf-8")
    assert code in source, f"the guide's excerpt of {path} no longer matches the file"
