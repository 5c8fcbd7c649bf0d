"""Cases, verdicts and the case registry.

A *case* is a plain ``async`` function over a :class:`~.harness.Harness` and a
:class:`CaseContext` — no pytest import (after trio's ``_check_streams``).
It is registered with :func:`case`, which gives it a stable number and title
(``"4.6"``, ``"tool call round trip"``), a *family* (the section), the
capabilities and simulator scenarios it needs, and the levels it runs at.

Verdicts (after Autobahn's grading):

``pass``
    The plugin behaves as the normalized model requires.
``non-strict``
    It works, but deviates from a recommendation (the notes say how).
``fail``
    It breaks the model; the detail says where.
``unsupported``
    The provider's declared capabilities (or its simulator's scenarios) do
    not include what the case needs, so it was not run.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .harness import Harness

__all__ = [
    "CASES",
    "FAMILIES",
    "LEVELS",
    "Case",
    "CaseContext",
    "CaseFailed",
    "CaseUnsupported",
    "Verdict",
    "case",
]

LEVELS = ("codec", "network")

#: Case families (sections), in catalogue order.
FAMILIES: dict[str, str] = {
    "1": "handshake",
    "2": "lifecycle",
    "3": "audio",
    "4": "transcripts and text",
    "5": "interruption",
    "6": "tools",
    "7": "emotion",
    "8": "errors",
    "9": "resilience",
}


class Verdict(str, enum.Enum):
    PASS = "pass"
    NON_STRICT = "non-strict"
    FAIL = "fail"
    UNSUPPORTED = "unsupported"

    def __str__(self) -> str:
        return self.value


class CaseFailed(Exception):
    """Raised by :meth:`CaseContext.check` to end a case with ``fail``."""


class CaseUnsupported(Exception):
    """Raised by :meth:`CaseContext.unsupported` to end a case with ``unsupported``."""


@dataclass
class CaseContext:
    """What a case uses to judge: ``check`` (must), ``prefer`` (should), notes."""

    notes: list[str] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)

    def check(self, condition: object, message: str) -> None:
        """The model requires ``condition``; otherwise the case fails with ``message``."""
        if not condition:
            raise CaseFailed(message)

    def prefer(self, condition: object, message: str) -> None:
        """The model recommends ``condition``; otherwise the verdict is at best ``non-strict``."""
        if not condition:
            self.deviations.append(message)

    def note(self, message: str) -> None:
        self.notes.append(message)

    def unsupported(self, reason: str) -> None:
        raise CaseUnsupported(reason)


CaseFunction = Callable[["Harness", CaseContext], Awaitable[None]]


@dataclass(frozen=True)
class Case:
    """A registered conformance case."""

    id: str
    title: str
    func: CaseFunction
    requires: tuple[str, ...] = ()
    scenarios: tuple[str, ...] = ()
    levels: tuple[str, ...] = LEVELS
    doc: str = ""

    @property
    def family(self) -> str:
        return FAMILIES[self.id.split(".")[0]]

    @property
    def sort_key(self) -> tuple[int, ...]:
        return tuple(int(part) for part in self.id.split("."))

    def __str__(self) -> str:
        return f"{self.id} {self.title}"


#: Every registered case by id, filled by importing :mod:`.cases`.
CASES: dict[str, Case] = {}


def case(
    case_id: str,
    title: str,
    *,
    requires: tuple[str, ...] = (),
    scenarios: tuple[str, ...] = (),
    levels: tuple[str, ...] = LEVELS,
) -> Callable[[CaseFunction], CaseFunction]:
    """Register a case. ``requires`` names capabilities (all must be true);
    ``scenarios`` names simulator scenarios the provider must offer."""

    def register(func: CaseFunction) -> CaseFunction:
        if case_id in CASES:
            raise ValueError(f"case {case_id} is registered twice")
        if case_id.split(".")[0] not in FAMILIES:
            raise ValueError(f"case {case_id} is in no family")
        doc = " ".join((func.__doc__ or "").split())
        CASES[case_id] = Case(case_id, title, func, requires, scenarios, levels, doc)
        return func

    return register
