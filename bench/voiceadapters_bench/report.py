"""Figures: one named value with its unit, the floor beside it, the ratio, the target.

Every result of a bench run becomes a :class:`Figure`; the JSON output is
their list (plus the run's metadata) and the terminal table is printed from
the same list, so the two never disagree.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

__all__ = ["Figure", "Target", "render_table"]


@dataclass(frozen=True)
class Target:
    """An acceptance target: ``metric`` (``value``, ``ratio`` or ``added``) ``op`` ``limit``."""

    metric: Literal["value", "ratio", "added"]
    op: Literal["<=", ">="]
    limit: float
    text: str

    def check(self, fig: Figure) -> bool | None:
        x = {"value": fig.value, "ratio": fig.ratio, "added": fig.added}[self.metric]
        if x is None or (isinstance(x, float) and math.isnan(x)):
            return None
        return x <= self.limit if self.op == "<=" else x >= self.limit


@dataclass
class Figure:
    """One measured figure (see the module docstring).

    ``floor`` is the same quantity for the hand-written floor (``None`` where
    the floor has no such thing), ``ratio`` is ``value / floor`` and
    ``added`` is ``value - floor``.
    """

    name: str
    subject: str
    unit: str
    value: float | None
    floor: float | None = None
    target: Target | None = None
    note: str = ""
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.floor:
            return None
        return self.value / self.floor

    @property
    def added(self) -> float | None:
        if self.value is None or self.floor is None:
            return None
        return self.value - self.floor

    @property
    def met(self) -> bool | None:
        return None if self.target is None else self.target.check(self)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subject": self.subject,
            "unit": self.unit,
            "value": _round(self.value),
            "floor": _round(self.floor),
            "ratio": _round(self.ratio, 3),
            "added": _round(self.added),
            "target": asdict(self.target) if self.target else None,
            "met": self.met,
            "note": self.note,
            "detail": self.detail,
        }


def _round(x: float | None, digits: int = 4) -> float | None:
    if x is None:
        return None
    return float(f"{x:.{digits}g}") if abs(x) < 1 else round(x, digits if abs(x) < 100 else 1)


def _fmt(x: float | None) -> str:
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def render_table(figures: list[Figure]) -> str:
    """A plain-text table: figure, subject, value, floor, ratio, target, met."""
    rows = [("figure", "subject", "value", "floor", "ratio", "target", "met")]
    for f in figures:
        met = {True: "yes", False: "NO", None: ""}[f.met]
        rows.append(
            (
                f.name,
                f.subject,
                f"{_fmt(f.value)} {f.unit}",
                _fmt(f.floor),
                "—" if f.ratio is None else f"{f.ratio:.2f}×",
                f.target.text if f.target else "",
                met,
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = []
    for i, r in enumerate(rows):
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)
