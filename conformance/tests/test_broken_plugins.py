"""No case passes vacuously: each broken plugin fails exactly its family.

Every broken plugin (``broken.py``) is a working provider with one defect
aimed at one case. Run through the whole suite, the families with a ``fail``
must be exactly the family of that case, and the case itself must fail.
The well-behaved baselines fail nothing.
"""

from __future__ import annotations

from functools import cache

import pytest

from voiceadapters.errors import UnknownProviderError
from voiceadapters.provider import Provider
from voiceadapters.registry import registry
from voiceadapters_conformance import CASES, FAMILIES, run_suite, table
from voiceadapters_conformance.runner import Report

from .broken import BROKEN, EXTRA, MISSING, NETWORK_ONLY, NOT_TARGETED, PRIMARY, by_target


def failed_families(report: Report) -> set[str]:
    return {r.case.family for r in report.failed}


TARGETS = [p.target for p in BROKEN] + [t for t, _ in MISSING]  # type: ignore[attr-defined]


@cache
def codec_report(target: str) -> Report:
    """The codec-level report of the broken plugin aimed at ``target`` (run once)."""
    return run_suite(by_target()[target], ("codec",))


@pytest.mark.parametrize("target", sorted(TARGETS, key=lambda t: CASES[t].sort_key))
def test_broken_plugin_fails_exactly_its_family(target: str) -> None:
    if target not in by_target():
        pytest.skip(f"the plugin that {target}'s broken plugin derives from is not installed")
    report = codec_report(target)
    family = CASES[target].family
    assert failed_families(report) == {family}, table(report)
    assert target in {r.case.id for r in report.failed}, table(report)


@pytest.mark.network
def test_resilience_fails_alone_at_the_network_level_too(broken_registered: None) -> None:
    """Family 9 has a network-only case (9.3), so its broken plugin runs there too."""
    provider = by_target()[PRIMARY["resilience"]]
    report = run_suite(provider, ("network",))
    assert failed_families(report) == {"resilience"}, table(report)
    assert {r.case.id for r in report.failed} == {PRIMARY["resilience"]}, table(report)


def test_every_family_has_a_broken_plugin() -> None:
    assert set(PRIMARY) == set(FAMILIES.values())
    for family, target in PRIMARY.items():
        assert CASES[target].family == family
        assert target in TARGETS


def test_every_case_fails_for_some_broken_plugin() -> None:
    """Except the cases exempt with a reason in ``broken.NOT_TARGETED``."""
    assert len(TARGETS) == len(set(TARGETS)), "two broken plugins aim at the same case"
    if MISSING:
        pytest.skip(f"base plugins missing for {', '.join(t for t, _ in MISSING)}")
    failing = {r.case.id for target in by_target() for r in codec_report(target).failed}
    assert failing | set(NOT_TARGETED) == set(CASES), sorted(set(CASES) - failing)
    assert not failing & set(NOT_TARGETED), "an exempt case does fail: remove its exemption"


@pytest.mark.parametrize("name", ["example", "vatel", "binary-pcm", "nextevi"])
def test_well_behaved_plugins_fail_nothing(name: str) -> None:
    try:
        provider = registry.get(name)
    except UnknownProviderError:
        pytest.skip(f"the {name} plugin is not installed")
    report = run_suite(provider, ("codec",))
    assert not report.failed, table(report)


@pytest.mark.parametrize("provider", EXTRA, ids=lambda p: p.name)
def test_extra_broken_plugins_fail_exactly_their_family(provider: Provider) -> None:
    """Further defects aimed at an already-targeted case (``broken.EXTRA``)."""
    target: str = provider.target  # type: ignore[attr-defined]
    report = run_suite(provider, ("codec",))
    assert failed_families(report) == {CASES[target].family}, table(report)


@pytest.mark.network
@pytest.mark.parametrize("provider", NETWORK_ONLY, ids=lambda p: p.name)
def test_network_only_broken_plugins_fail_exactly_their_case(
    provider: Provider, broken_registered: None
) -> None:
    """A defect only the network level can see fails its case there, and nothing else."""
    target: str = provider.target  # type: ignore[attr-defined]
    report = run_suite(provider, ("network",))
    assert {r.case.id for r in report.failed} == {target}, table(report)
