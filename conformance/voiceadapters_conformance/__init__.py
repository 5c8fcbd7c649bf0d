"""The voiceadapters conformance suite: numbered, capability-gated, graded cases.

Run it with ``voiceadapters conformance PROVIDER``, from Python with
:func:`run_suite`, or adopt it in a plugin's tests with
:func:`voiceadapters_conformance.pytest_plugin.conformance_tests`.
"""

from .framework import CASES, FAMILIES, LEVELS, Case, CaseContext, Verdict, case
from .harness import CodecHarness, Harness, NetworkHarness
from .report import catalogue_markdown, matrix_markdown, table
from .runner import Report, Result, run_case, run_suite, select_cases

__all__ = [
    "CASES",
    "FAMILIES",
    "LEVELS",
    "Case",
    "CaseContext",
    "CodecHarness",
    "Harness",
    "NetworkHarness",
    "Report",
    "Result",
    "Verdict",
    "case",
    "catalogue_markdown",
    "matrix_markdown",
    "run_case",
    "run_suite",
    "select_cases",
    "table",
]
