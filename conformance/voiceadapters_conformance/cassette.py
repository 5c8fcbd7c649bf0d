"""Conformance against a cassette: ``voiceadapters conformance P --cassette FILE``.

The simulator cases prove a plugin against the simulator its authors wrote;
a cassette proves it against recorded provider traffic (docs/cassettes.md).
The cassette is served as the provider (:class:`voiceadapters.cassette.CassetteServer`)
and the plugin's adapter is run against it (:func:`voiceadapters.cassette.replay`).
Two checks, each ``pass`` or ``fail``:

* ``events``: the adapter produces the normalized events the cassette
  records — type, order, every field, agent audio length within one frame;
* ``client``: the adapter's handshake and messages match the recorded
  client side, field by field.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voiceadapters.cassette import load, replay
from voiceadapters.cassette.compare import Difference, ReplayReport
from voiceadapters.events import SCHEMA_VERSION
from voiceadapters.provider import Provider

__all__ = ["CassetteCheck", "CassetteRun", "run_cassette"]


@dataclass
class CassetteCheck:
    name: str
    verdict: str
    differences: list[Difference] = field(default_factory=list)


@dataclass
class CassetteRun:
    provider: str
    cassette: str
    schema_version: str
    recorded_schema_version: str
    report: ReplayReport
    checks: list[CassetteCheck] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(c.verdict == "fail" for c in self.checks)

    def lines(self) -> list[str]:
        out = [
            f"voiceadapters conformance: {self.provider} against cassette {self.cassette} "
            f"(event schema {self.schema_version}; recorded with {self.recorded_schema_version})"
        ]
        for check in self.checks:
            out.append(f"  {check.name:<8} {check.verdict}")
            out.extend(f"      {d}" for d in check.differences)
        out.extend(f"  note: {n}" for n in self.report.notes)
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "cassette": self.cassette,
            "schema_version": self.schema_version,
            "recorded_schema_version": self.recorded_schema_version,
            "checks": [
                {
                    "name": c.name,
                    "verdict": c.verdict,
                    "differences": [d.to_json() for d in c.differences],
                }
                for c in self.checks
            ],
            "report": self.report.to_json(),
        }


def run_cassette(provider: Provider, path: str | Path, *, pace: str = "fast") -> CassetteRun:
    """Run ``provider``'s adapter against the cassette at ``path``."""
    cassette = load(path)
    notes = []
    if cassette.provider not in (provider.name, *provider.aliases):
        notes.append(f"the cassette was recorded with provider {cassette.provider!r}")
        cassette.header["provider"] = provider.name
    report = asyncio.run(replay(cassette, pace=pace))
    report.notes[:0] = notes
    events = [d for d in report.differences if d.where.startswith("event")]
    client = [d for d in report.differences if not d.where.startswith("event")]
    run = CassetteRun(
        provider.name,
        str(path),
        SCHEMA_VERSION,
        str(cassette.header.get("schema_version", "unknown")),
        report,
    )
    run.checks.append(CassetteCheck("events", "fail" if events else "pass", events))
    run.checks.append(CassetteCheck("client", "fail" if client else "pass", client))
    if not cassette.events():
        run.checks[0].verdict = "unsupported"  # nothing recorded to compare with
    return run
