"""Import time of ``voiceadapters``, in fresh interpreters.

Each sample is a new ``python -X importtime -c "import voiceadapters"``.
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

__all__ = ["FLOOR_IMPORTS", "measure_import"]

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


def measure_import(samples: int) -> dict[str, Any]:
    """Median import figures over ``samples`` fresh interpreters (ms).

    A run's import time is the sum of the self times of every module the
    statement imported beyond what a bare interpreter imports at start-up.
    """
    bare_wall, ours, floor, ours_wall, floor_wall = [], [], [], [], []
    heaviest: dict[str, float] = {}
    for _ in range(samples):
        wall, startup = _profile("pass")
        bare_wall.append(wall)
        wall, selfs = _profile("import voiceadapters")
        ours_wall.append(wall)
        ours.append(sum(v for k, v in selfs.items() if k not in startup))
        heaviest = {k: v for k, v in selfs.items() if k not in startup}
        wall, selfs = _profile(FLOOR_IMPORTS)
        floor_wall.append(wall)
        floor.append(sum(v for k, v in selfs.items() if k not in startup))
    b = statistics.median(bare_wall)
    top = sorted(heaviest.items(), key=lambda kv: -kv[1])[:8]
    return {
        "samples": samples,
        "import_ms": statistics.median(ours) / 1000,
        "floor_import_ms": statistics.median(floor) / 1000,
        "wall_minus_bare_ms": 1000 * (statistics.median(ours_wall) - b),
        "floor_wall_minus_bare_ms": 1000 * (statistics.median(floor_wall) - b),
        "floor_imports": FLOOR_IMPORTS,
        "heaviest_modules_ms": {k: round(v / 1000, 2) for k, v in top},
    }
