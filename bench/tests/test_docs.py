"""docs/benchmarks.md shows the example plugin's bench profile as it is."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_plugin_section_quotes_the_example_profile_verbatim() -> None:
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    section = page.split("## Benchmarking your plugin\n", 1)[1].split("\n## ", 1)[0]
    code = section.split("```python\n", 1)[1].split("```\n", 1)[0]
    source = ROOT / "plugins" / "example" / "voiceadapters_example" / "bench.py"
    assert code == source.read_text()


def test_the_plugin_section_quotes_the_example_entry_point() -> None:
    page = (ROOT / "docs" / "benchmarks.md").read_text()
    pyproject = (ROOT / "plugins" / "example" / "pyproject.toml").read_text()
    for line in (
        'bench = ["voiceadapters-bench"]',
        '[project.entry-points."voiceadapters.bench_profiles"]',
        'example = "voiceadapters_example.bench:PROFILE"',
    ):
        assert line in pyproject and line in page
