"""Adopt the whole conformance suite in a plugin's own tests, in a few lines::

    # tests/test_conformance.py
    from voiceadapters_conformance.pytest_plugin import conformance_tests

    test_conformance = conformance_tests("myprovider")

Every case becomes one test per level (ids like ``codec-4.6-tool-call-round-trip``):
``pass`` passes, ``non-strict`` passes with a :class:`ConformanceWarning`,
``unsupported`` is skipped with the reason, ``fail`` fails with the detail.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterable

import pytest

from voiceadapters.provider import Provider
from voiceadapters.registry import registry

from .framework import CASES, LEVELS, Verdict
from .runner import run_case, select_cases

__all__ = ["ConformanceWarning", "conformance_tests"]


def pytest_configure(config: pytest.Config) -> None:
    """Registered through the ``pytest11`` entry point: declares the
    ``network`` marker the network-level cases carry (so ``--strict-markers``
    accepts them in any project that adopts the suite)."""
    config.addinivalue_line("markers", "network: uses real sockets on 127.0.0.1")


class ConformanceWarning(UserWarning):
    """A case passed non-strictly: the plugin deviates from a recommendation."""


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def conformance_tests(
    provider: str | Provider,
    *,
    levels: Iterable[str] = LEVELS,
    only: Iterable[str] | None = None,
    transport: str | None = None,
) -> Callable[[str, str], None]:
    """A parametrized pytest test function running every case for ``provider``
    (a registered name, or a :class:`~voiceadapters.provider.Provider`) over
    ``transport`` (``None``: the provider's default)."""
    params = [
        pytest.param(
            case.id,
            level,
            id=f"{level}-{case.id}-{_slug(case.title)}",
            # Network cases open sockets on 127.0.0.1: `-m "not network"` skips them.
            marks=[pytest.mark.network] if level == "network" else [],
        )
        for level in levels
        for case in select_cases(only)
        if level in case.levels
    ]

    @pytest.mark.parametrize(("case_id", "level"), params)
    def test_conformance(case_id: str, level: str) -> None:
        chosen = registry.get(provider) if isinstance(provider, str) else provider
        case = CASES[case_id]
        result = run_case(chosen, case, level, transport)
        if result.verdict is Verdict.UNSUPPORTED:
            pytest.skip(f"{case} [{level}]: {result.detail}")
        if result.verdict is Verdict.FAIL:
            pytest.fail(f"{case} [{level}]: {result.detail}", pytrace=False)
        if result.verdict is Verdict.NON_STRICT:
            warnings.warn(ConformanceWarning(f"{case} [{level}]: {result.detail}"), stacklevel=1)

    return test_conformance
