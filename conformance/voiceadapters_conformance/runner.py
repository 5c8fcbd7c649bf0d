"""Run cases against a provider and collect graded results."""

from __future__ import annotations

import asyncio
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from voiceadapters.events import SCHEMA_VERSION
from voiceadapters.provider import Provider

from . import cases as _cases  # noqa: F401  (registers every case)
from .framework import CASES, LEVELS, Case, CaseContext, CaseFailed, CaseUnsupported, Verdict
from .harness import make_harness

__all__ = ["CASE_TIMEOUT", "Report", "Result", "run_case", "run_suite", "select_cases"]

#: Longest a single case may take (network cases stream real audio).
CASE_TIMEOUT = 90.0


@dataclass
class Result:
    case: Case
    level: str
    verdict: Verdict
    detail: str = ""
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.case.id,
            "title": self.case.title,
            "family": self.case.family,
            "level": self.level,
            "verdict": self.verdict.value,
            "detail": self.detail,
            "notes": self.notes,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class Report:
    provider: str
    levels: tuple[str, ...]
    results: list[Result] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        counts = {v.value: 0 for v in Verdict}
        for r in self.results:
            counts[r.verdict.value] += 1
        return counts

    @property
    def failed(self) -> list[Result]:
        return [r for r in self.results if r.verdict is Verdict.FAIL]

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "schema_version": SCHEMA_VERSION,
            "levels": list(self.levels),
            "summary": self.counts(),
            "results": [r.to_json() for r in self.results],
        }


def gate(provider: Provider, case: Case) -> str | None:
    """Why ``case`` does not apply to ``provider`` (``None``: it applies)."""
    missing = [c for c in case.requires if not getattr(provider.capabilities, c)]
    if missing:
        return f"capability {', '.join(missing)} is false"
    scenarios = [s for s in case.scenarios if s not in provider.scenarios]
    if scenarios:
        return f"the simulator has no scenario {', '.join(scenarios)}"
    return None


async def _run(provider: Provider, case: Case, level: str, transport: str | None = None) -> Result:
    reason = gate(provider, case)
    if reason is None and level == "codec" and transport not in (None, provider.transports[0]):
        # The codec level pairs a codec with a sans-I/O simulator over
        # messages; a media transport's audio needs a media stack.
        reason = f"transport {transport} runs at network level only"
    if reason is not None:
        return Result(case, level, Verdict.UNSUPPORTED, reason)
    harness = make_harness(level, provider, transport=transport)
    ctx = CaseContext()
    started = time.perf_counter()
    try:
        await asyncio.wait_for(case.func(harness, ctx), CASE_TIMEOUT)
        verdict = Verdict.NON_STRICT if ctx.deviations else Verdict.PASS
        detail = "; ".join(ctx.deviations)
    except CaseFailed as exc:
        verdict, detail = Verdict.FAIL, str(exc)
    except CaseUnsupported as exc:
        verdict, detail = Verdict.UNSUPPORTED, str(exc)
    except asyncio.TimeoutError:
        verdict, detail = Verdict.FAIL, f"the case did not finish within {CASE_TIMEOUT:g} s"
    except Exception as exc:  # the plugin raised where it must not
        frame = traceback.extract_tb(exc.__traceback__)[-1]
        where = f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno}"
        verdict, detail = Verdict.FAIL, f"raised {type(exc).__name__}: {exc} (at {where})"
    finally:
        try:
            await asyncio.wait_for(harness.shutdown(), 10)
        except Exception as exc:  # a failure to clean up is reported, not raised
            ctx.note(f"shutdown failed: {type(exc).__name__}: {exc}")
    return Result(case, level, verdict, detail, ctx.notes, time.perf_counter() - started)


def run_case(provider: Provider, case: Case, level: str, transport: str | None = None) -> Result:
    """Run one case at one level (over ``transport``, ``None``: the
    provider's default), in its own event loop."""
    return asyncio.run(_run(provider, case, level, transport))


def select_cases(only: Iterable[str] | None = None) -> list[Case]:
    """Cases in catalogue order; ``only`` keeps ids or family numbers (``"4"``, ``"4.2"``)."""
    chosen = sorted(CASES.values(), key=lambda c: c.sort_key)
    if only:
        wanted = set(only)
        chosen = [c for c in chosen if c.id in wanted or c.id.split(".")[0] in wanted]
    return chosen


def run_suite(
    provider: Provider,
    levels: Iterable[str] = LEVELS,
    *,
    only: Iterable[str] | None = None,
    progress: Any = None,
    transport: str | None = None,
) -> Report:
    """Run every case at every level; ``progress(result)`` is called after
    each. ``transport`` picks one of the provider's transports (``None``: its
    default); the report is then named ``provider+transport``."""
    levels = tuple(levels)
    for level in levels:
        if level not in LEVELS:
            raise ValueError(f"unknown level {level!r}; choose from {', '.join(LEVELS)}")
    name = (
        provider.name
        if transport in (None, provider.transports[0])
        else (f"{provider.name}+{transport}")
    )
    report = Report(name, levels)
    for level in levels:
        for case in select_cases(only):
            if level not in case.levels:
                continue
            result = run_case(provider, case, level, transport)
            report.results.append(result)
            if progress is not None:
                progress(result)
    return report
