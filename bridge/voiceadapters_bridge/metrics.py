"""The bridge's counters, in the Prometheus text exposition format (0.0.4).

Plain text written here rather than a client library: a handful of counters
and one gauge need no dependency. Format: Prometheus' *Exposition formats*
page — ``# HELP``, ``# TYPE``, then ``name{label="value"} number`` lines;
label values escape ``\\``, ``"`` and newlines.

Each process counts its own sessions; with ``--workers N`` each worker
serves its own ``/metrics`` (labelled ``pid``), see ``docs/bridge.md#metrics``.
"""

from __future__ import annotations

import os
from collections import defaultdict

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

_PREFIX = "voiceadapters_bridge"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(pairs: tuple[tuple[str, str], ...]) -> str:
    return "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in pairs) + "}"


class Metrics:
    """Counters of one bridge process."""

    def __init__(self) -> None:
        self.pid = str(os.getpid())
        self.open: defaultdict[str, int] = defaultdict(int)
        self.started: defaultdict[str, int] = defaultdict(int)
        self.refused: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.ended: defaultdict[tuple[str, str], int] = defaultdict(int)
        self.audio_seconds: defaultdict[tuple[str, str], float] = defaultdict(float)
        self.draining = False

    def session_opened(self, front: str) -> None:
        self.open[front] += 1
        self.started[front] += 1

    def session_closed(self, front: str, reason: str, *, opened: bool = True) -> None:
        """An accepted connection ended; ``opened``: it had a provider session."""
        if opened:
            self.open[front] -= 1
        self.ended[front, reason] += 1

    def refusal(self, front: str, reason: str) -> None:
        self.refused[front, reason] += 1

    def audio(self, front: str, direction: str, seconds: float) -> None:
        self.audio_seconds[front, direction] += seconds

    @property
    def sessions_open(self) -> int:
        return sum(self.open.values())

    def render(self) -> str:
        """The exposition text."""
        lines: list[str] = []
        pid = ("pid", self.pid)

        def family(
            name: str,
            kind: str,
            help_text: str,
            rows: list[tuple[tuple[tuple[str, str], ...], float]],
        ) -> None:
            full = f"{_PREFIX}_{name}"
            lines.append(f"# HELP {full} {help_text}")
            lines.append(f"# TYPE {full} {kind}")
            for labels, value in rows:
                text = repr(float(value)) if isinstance(value, float) else str(value)
                lines.append(f"{full}{_labels((pid, *labels))} {text}")

        family(
            "sessions_open",
            "gauge",
            "Client connections with a live provider session.",
            [((("front", f),), n) for f, n in sorted(self.open.items())],
        )
        family(
            "sessions_started_total",
            "counter",
            "Provider sessions opened for clients.",
            [((("front", f),), n) for f, n in sorted(self.started.items())],
        )
        family(
            "sessions_refused_total",
            "counter",
            "Client connections refused, by reason.",
            [((("front", f), ("reason", r)), n) for (f, r), n in sorted(self.refused.items())],
        )
        family(
            "sessions_ended_total",
            "counter",
            "Accepted client connections ended, by reason (with or without a provider session).",
            [((("front", f), ("reason", r)), n) for (f, r), n in sorted(self.ended.items())],
        )
        family(
            "audio_seconds_total",
            "counter",
            "Seconds of audio through the bridge: in = client to provider, out = provider to client.",
            [
                ((("front", f), ("direction", d)), s)
                for (f, d), s in sorted(self.audio_seconds.items())
            ],
        )
        family(
            "draining", "gauge", "1 while the process drains (SIGTERM).", [((), int(self.draining))]
        )
        return "\n".join(lines) + "\n"
