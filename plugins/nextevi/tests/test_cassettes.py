"""The cassettes this plugin ships replay green (docs/cassettes.md): one
recorded from the simulator (tools/record_cassettes.py), one hand-made from
the provider's documented examples (tools/make_doc_cassettes.py).

Each is served on 127.0.0.1 by a real CassetteServer and the plugin's
adapter runs against it: same events (type, order, text, audio length within
a frame), same client messages."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from voiceadapters.cassette import load, replay

CASSETTES = sorted((Path(__file__).parent / "cassettes").glob("*.jsonl"))


def test_the_plugin_ships_cassettes() -> None:
    assert {load(p).header["source"] for p in CASSETTES} == {"recorded", "hand-made"}


@pytest.mark.network
@pytest.mark.parametrize("path", CASSETTES, ids=lambda p: p.name)
def test_a_shipped_cassette_replays_green(path: Path) -> None:
    cassette = load(path)
    assert cassette.provider == "nextevi"
    report = asyncio.run(replay(cassette, timeout=30))
    assert report.ok, "\n".join(report.lines())
    assert report.events == len(cassette.events())
