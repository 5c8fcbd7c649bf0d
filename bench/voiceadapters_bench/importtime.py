"""Import time of ``voiceadapters`` (alone, and with one plugin), in fresh interpreters.

Each sample is a new ``python -X importtime -c "import voiceadapters"``, and
the same with ``voiceadapters.get_provider(NAME)`` for the first provider
benched (the core plus one plugin, as an application that uses it pays).
The figure is the median, over the samples, of the sum of the self times
that the interpreter's own import profiler reports for every module the
statement brought in (pydantic, numpy, soxr, …) beyond those a bare
interpreter loads at start-up — so start-up itself is not counted and the
figure does not depend on process-creation noise. The wall-clock difference
between that process and a bare ``python -c pass`` is reported beside it.

The floor is the import of what a hand-written client needs:
``websockets.asyncio.client``, ``numpy``, ``soxr``, ``json`` and ``base64``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from typing import Any

__all__ = ["FLOOR_IMPORTS", "measure_import", "plugin_statement"]

FLOOR_IMPORTS = "import json, base64, numpy, soxr, websockets.asyncio.client"


def _profile(code: str) -> tuple[float, dict[str, float]]:
    """Wall seconds of ``python -X importtime -c code`` and each module's self time (µs)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code],
        capture_output=True,
        text=True,
        check=True,
    )
    wall = time.perf_counter() - t0
    selfs: dict[str, float] = {}
    for line in proc.stderr.splitlines():
        # "import time: self [us] | cumulative | imported package"
        parts = line.split("|")
        if len(parts) == 3 and line.startswith("import time:"):
            try:
                selfs[parts[2].strip()] = float(parts[0].split(":")[1])
            except ValueError:
                continue  # the header line
    return wall, selfs


def measure_import(samples: int, provider: str | None = None) -> dict[str, Any]:
    """Median import figures over ``samples`` fresh interpreters (ms).

    A run's import time is the sum of the self times of every module the
    statement imported beyond what a bare interpreter imports at start-up.
    With ``provider``, the same is measured for the core plus that plugin
    (``import voiceadapters; voiceadapters.get_provider(provider)``) under
    the ``provider_*`` keys.
    """
    statements = {"ours": "import voiceadapters", "floor": FLOOR_IMPORTS}
    if provider is not None:
        statements["provider"] = plugin_statement(provider)
    bare_wall: list[float] = []
    walls: dict[str, list[float]] = {k: [] for k in statements}
    sums: dict[str, list[float]] = {k: [] for k in statements}
    heaviest: dict[str, dict[str, float]] = {}
    for _ in range(samples):
        wall, startup = _profile("pass")
        bare_wall.append(wall)
        for key, code in statements.items():
            wall, selfs = _profile(code)
            walls[key].append(wall)
            extra = {k: v for k, v in selfs.items() if k not in startup}
            sums[key].append(sum(extra.values()))
            heaviest[key] = extra
    b = statistics.median(bare_wall)

    def top(key: str) -> dict[str, float]:
        ranked = sorted(heaviest[key].items(), key=lambda kv: -kv[1])[:8]
        return {k: round(v / 1000, 2) for k, v in ranked}

    out: dict[str, Any] = {
        "samples": samples,
        "import_ms": statistics.median(sums["ours"]) / 1000,
        "floor_import_ms": statistics.median(sums["floor"]) / 1000,
        "wall_minus_bare_ms": 1000 * (statistics.median(walls["ours"]) - b),
        "floor_wall_minus_bare_ms": 1000 * (statistics.median(walls["floor"]) - b),
        "floor_imports": FLOOR_IMPORTS,
        "heaviest_modules_ms": top("ours"),
    }
    if provider is not None:
        out |= {
            "provider": provider,
            "provider_statement": statements["provider"],
            "provider_import_ms": statistics.median(sums["provider"]) / 1000,
            "provider_wall_minus_bare_ms": 1000 * (statistics.median(walls["provider"]) - b),
            "provider_heaviest_modules_ms": top("provider"),
        }
    return out


def plugin_statement(provider: str) -> str:
    """The statement whose import time is the core's plus ``provider``'s plugin."""
    return f"import voiceadapters; voiceadapters.get_provider({provider!r})"
