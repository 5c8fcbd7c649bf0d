"""What the ``received`` timestamp costs (docs/metrics.md#what-the-timestamps-cost).

Two figures, best of many repeats, in one process:

* **per event**: building an ``AgentAudio`` (the event a session builds
  ~50 times a second, twice when it re-frames) against a twin class with the
  same fields but no ``received``; the difference is the default's
  thread-local read;
* **per input**: what the driver adds around each message it feeds a codec
  — two clock reads, one :class:`~voiceadapters.events.Received` and the
  stamp's slot set and restored.

Run: ``python tools/stamp_cost.py`` (a few seconds; no network).
"""

from __future__ import annotations

import time
import timeit
from typing import Literal

from pydantic import BaseModel, ConfigDict

from voiceadapters.events import _RECEIVING, AgentAudio, Received
from voiceadapters.format import AudioFormat

FMT = AudioFormat(16000)
PCM = bytes(640)
N = 100_000


class _Unstamped(BaseModel):
    """``AgentAudio``'s fields without ``received``."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    type: Literal["agent_audio"] = "agent_audio"
    pcm: bytes
    format: AudioFormat
    turn_id: str | None = None


def _best(fn: object, rounds: int = 7) -> float:
    return min(timeit.repeat(fn, number=N, repeat=rounds)) / N * 1e6  # type: ignore[arg-type]


def main() -> None:
    def stamped_inside() -> None:
        AgentAudio(pcm=PCM, format=FMT, turn_id="t")

    def unstamped() -> None:
        _Unstamped(pcm=PCM, format=FMT, turn_id="t")

    new, monotonic, wall = tuple.__new__, time.monotonic, time.time

    def driver_input() -> None:  # as in voiceadapters.driver
        rx = _RECEIVING
        previous, rx.stamp = rx.stamp, new(Received, (monotonic(), wall()))
        rx.stamp = previous

    def nothing() -> None:
        return None

    base, inside, free, per_input, empty = [], [], [], [], []
    for _ in range(5):  # interleaved, so that a noisy neighbour hits all alike
        base.append(_best(unstamped))
        _RECEIVING.stamp = Received.now()
        inside.append(_best(stamped_inside))
        _RECEIVING.stamp = None
        free.append(_best(stamped_inside))
        per_input.append(_best(driver_input))
        empty.append(_best(nothing))
    b, i, f, d, e = min(base), min(inside), min(free), min(per_input), min(empty)
    print(f"AgentAudio without received:            {b:.3f} µs")
    print(f"AgentAudio, inside a driver input:      {i:.3f} µs  (+{i - b:.3f} µs per event)")
    print(f"AgentAudio, outside (reads the clocks): {f:.3f} µs  (+{f - b:.3f} µs per event)")
    print(f"driver stamp per input (set, restore):  {d - e:.3f} µs")


if __name__ == "__main__":
    main()
