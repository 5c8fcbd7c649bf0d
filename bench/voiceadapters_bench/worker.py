"""The client process of a measurement: drives N real-time sessions and times them.

Run by the orchestrator (:mod:`voiceadapters_bench.runner`) as
``python -m voiceadapters_bench.worker JOB_JSON``, pinned to one core, with
the bench server in another process on the other core. It prints one JSON
object (the job's result) as its last stdout line.

Every session, floor or framework alike, runs two tasks:

* a **sender** that sends one 20 ms application frame per tick on an
  absolute, drift-free schedule (``t0 + k * 20 ms``, ``t0`` jittered over
  the first 20 ms so that sessions opened together do not tick together);
* a **receiver** that takes agent audio as 20 ms application frames.

Frame latency, as every figure uses it
--------------------------------------
*send latency*
    for each tick, the time from the tick's due time to the return of the
    ``send`` call for its frame (framework: ``await session.send_audio()``;
    floor: conversion, encoding and ``await ws.send()``). It is the event
    loop's scheduling delay plus the whole per-frame send path, until the
    bytes are in the kernel's socket buffer.
*receive latency*
    for the m-th application frame delivered, ``v_m = t_m - m * 20 ms``,
    minus the smallest ``v`` of that session (taken after its first 25
    frames): how far a frame arrives behind the ideal 50 frames/s schedule
    that the server keeps. It includes the resampler's block-wise output
    (soxr releases some 20 ms wire frames as 0 or 2 application frames),
    which is why the density criterion subtracts the single-session value.

A level of load *holds* when p99 send latency ≤ 20 ms, p99 receive latency
exceeds its single-session value by ≤ 20 ms, and ≥ 95 % of the expected
agent audio arrived. A level that fails is measured again (up to ``tries`` times) and
the better try counts: on a shared machine, another process's burst on this
core can stall the loop for a scheduler tick or more, which says nothing
about the code under test.

CPU is ``time.process_time()`` of this process over the measurement window.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import math
import os
import random
import resource
import sys
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from voiceadapters import AudioFormat
from voiceadapters.audio import StreamConverter
from voiceadapters.testing import speech_sample

from .floor import BenchSession, FloorSession, FrameworkSession
from .profile import load_profile

__all__ = ["Harness", "main", "percentile", "rss_bytes"]

TICK = 0.02
#: Frames at the start of a schedule that do not set a receive baseline.
_BASELINE_SKIP = 25


def percentile(values: list[float], q: float) -> float:
    """The ``q`` quantile (0..1) by nearest rank; 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def rss_bytes() -> int:
    """Resident set size of this process now (Linux ``/proc``; else the peak from getrusage)."""
    try:
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError):
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return int(peak if sys.platform == "darwin" else peak * 1024)


@dataclass
class _Slot:
    """One session under test, with its tasks and receive bookkeeping."""

    session: BenchSession
    tasks: list[asyncio.Task[None]] = field(default_factory=list)
    epoch: int = -1
    m: int = 0
    t_anchor: float = 0.0
    base: float = math.inf
    window: list[float] = field(default_factory=list)
    failed: str | None = None


class Harness:
    """N sessions of one kind against one server; see the module docstring."""

    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        profile = load_profile(job["provider"])
        if isinstance(profile, str):
            raise RuntimeError(f"{job['provider']}: {profile}")
        self.profile = profile
        self.host: str = job.get("host", "127.0.0.1")
        self.port: int = job["port"]
        self.app_rate: int = job.get("app_rate", 16000)
        self.slots: list[_Slot] = []
        self.epoch = 0
        self.recording = False
        self.send_lat: list[float] = []
        self.errors: list[str] = []
        pcm, fmt = speech_sample()
        if fmt.sample_rate != self.app_rate:
            conv = StreamConverter(fmt, AudioFormat(self.app_rate))
            pcm = conv.convert(pcm) + conv.flush()
        fb = self.app_rate // 50 * 2
        self.frames = [pcm[i : i + fb] for i in range(0, len(pcm) - fb + 1, fb)]
        self.loop = asyncio.get_running_loop()

    # -- sessions --------------------------------------------------------------

    def _make(self) -> BenchSession:
        if self.job["impl"] == "floor":
            return FloorSession(self.profile, self.host, self.port, self.app_rate)
        return FrameworkSession(
            self.job["config"],
            self.app_rate,
            self.job.get("stall", {}).get("max_buffered_audio", 30.0),
        )

    async def add(self, n: int, *, send: bool = True, concurrency: int = 16) -> None:
        """Open ``n`` more sessions (``concurrency`` handshakes at a time) and start them."""
        sem = asyncio.Semaphore(concurrency)

        async def one() -> None:
            async with sem:
                slot = _Slot(self._make())
                try:
                    await slot.session.open()
                except Exception as exc:
                    self.errors.append(f"open: {type(exc).__name__}: {exc}")
                    return
                self.slots.append(slot)
                slot.tasks.append(self.loop.create_task(self._receiver(slot)))
                if send:
                    slot.tasks.append(self.loop.create_task(self._sender(slot)))

        await asyncio.gather(*(one() for _ in range(n)))

    async def remove(self, n: int) -> None:
        """Close the ``n`` most recently opened sessions."""
        victims, self.slots = self.slots[len(self.slots) - n :], self.slots[: len(self.slots) - n]

        async def one(slot: _Slot) -> None:
            for task in slot.tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(slot.session.close(), 5.0)

        await asyncio.gather(*(one(s) for s in victims))

    async def resize(self, n: int) -> None:
        if n > len(self.slots):
            await self.add(n - len(self.slots))
        elif n < len(self.slots):
            await self.remove(len(self.slots) - n)

    def reanchor(self) -> None:
        """Start every session's schedules afresh (after a change of load),
        so that a backlog from an overloaded level is not counted in the next."""
        self.epoch += 1

    async def _sender(self, slot: _Slot) -> None:
        loop = self.loop
        frames = self.frames
        nframes = len(frames)
        session = slot.session
        epoch = -1
        t0 = 0.0
        k = 0
        i = random.randrange(nframes)
        try:
            while True:
                if epoch != self.epoch:
                    epoch = self.epoch
                    t0 = loop.time() + random.random() * TICK
                    k = 0
                due = t0 + k * TICK
                # A late tick still yields once, as a capture callback would:
                # catching up in one task step would starve every other session.
                await asyncio.sleep(max(0.0, due - loop.time()))
                await session.send(frames[i % nframes])
                if self.recording:
                    self.send_lat.append(loop.time() - due)
                k += 1
                i += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            slot.failed = f"send: {type(exc).__name__}: {exc}"

    async def _receiver(self, slot: _Slot) -> None:
        loop = self.loop

        def deliver(pcm: bytes) -> None:
            now = loop.time()
            if slot.epoch != self.epoch:
                slot.epoch = self.epoch
                slot.m = 0
                slot.t_anchor = now
                slot.base = math.inf
            v = now - slot.t_anchor - slot.m * TICK
            slot.m += 1
            if slot.m > _BASELINE_SKIP and v < slot.base:
                slot.base = v
            if self.recording:
                slot.window.append(v)

        try:
            await slot.session.receive(deliver)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            slot.failed = f"receive: {type(exc).__name__}: {exc}"

    # -- measuring -------------------------------------------------------------

    async def server_stats(self, reset: bool = False) -> dict[str, Any]:
        """The bench server's own figures (``GET /bench/stats``)."""
        reader, writer = await asyncio.open_connection(self.host, self.port)
        target = "/bench/stats?reset=1" if reset else "/bench/stats"
        writer.write(f"GET {target} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        data = await reader.read()
        writer.close()
        body = data.split(b"\r\n\r\n", 1)[1]
        result: dict[str, Any] = json.loads(body)
        return result

    async def measure(self, window: float) -> dict[str, Any]:
        """Record ``window`` seconds of the current load; return its figures."""
        await self.server_stats(reset=True)
        self.send_lat = []
        for slot in self.slots:
            slot.window = []
        n = len(self.slots)
        pauses = _GcPauses()
        gc.callbacks.append(pauses)
        cpu0, t0 = time.process_time(), time.perf_counter()
        self.recording = True
        try:
            await asyncio.sleep(window)
        finally:
            self.recording = False
            cpu1, t1 = time.process_time(), time.perf_counter()
            gc.callbacks.remove(pauses)
        server = await self.server_stats()
        recv: list[float] = []
        frames = 0
        for slot in self.slots:
            frames += len(slot.window)
            base = slot.base if slot.base != math.inf else min(slot.window, default=0.0)
            recv.extend(v - base for v in slot.window)
        elapsed = t1 - t0
        expected = n * elapsed / TICK
        failed = [s.failed for s in self.slots if s.failed]
        return {
            "sessions": n,
            "window_s": round(elapsed, 3),
            "cpu_s": cpu1 - cpu0,
            "cpu_ms_per_session_second": 1000 * (cpu1 - cpu0) / (n * elapsed) if n else 0.0,
            "cpu_load": (cpu1 - cpu0) / elapsed,
            "send_p50_ms": 1000 * percentile(self.send_lat, 0.50),
            "send_p99_ms": 1000 * percentile(self.send_lat, 0.99),
            "send_max_ms": 1000 * max(self.send_lat, default=0.0),
            "recv_p50_ms": 1000 * percentile(recv, 0.50),
            "recv_p99_ms": 1000 * percentile(recv, 0.99),
            "recv_max_ms": 1000 * max(recv, default=0.0),
            "received_ratio": frames / expected if expected else 0.0,
            "server": server,
            "failed_sessions": len(failed),
            "failures": failed[:3],
            "gc": pauses.figures(),
        }


class _GcPauses:
    """A ``gc.callbacks`` entry: how many collections of each generation ran
    in the window, and how long they stopped the loop (total and longest).

    A collection stops every session at once, so one long pause shows in
    every session's send latency: this says whether a level failed on the
    collector rather than on the per-frame work.
    """

    def __init__(self) -> None:
        self.started: float | None = None
        self.counts = [0, 0, 0]
        self.total = [0.0, 0.0, 0.0]
        self.longest = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            return
        if self.started is None:
            return  # the collection began before the window did
        took = time.perf_counter() - self.started
        self.started = None
        generation = info["generation"]
        self.counts[generation] += 1
        self.total[generation] += took
        self.longest = max(self.longest, took)

    def figures(self) -> dict[str, Any]:
        return {
            "collections": list(self.counts),
            "pause_ms": [round(1000 * t, 3) for t in self.total],
            "longest_ms": round(1000 * self.longest, 3),
        }


def _holds(level: dict[str, Any], idle_recv_p99: float, limit_ms: float) -> bool:
    """The density criterion (module docstring)."""
    return bool(
        level["send_p99_ms"] <= limit_ms
        and level["recv_p99_ms"] - idle_recv_p99 <= limit_ms
        and level["received_ratio"] >= 0.95
        and level["failed_sessions"] == 0
    )


def _server_bound(level: dict[str, Any]) -> bool:
    """The server's own ticks were late: the level says nothing about the client."""
    late: float = level["server"]["tick_lateness_p99_ms"]
    return late > 5.0


def _collect_garbage() -> None:
    """A full collection right after a change of load, floor and framework alike.

    Opening a hundred sessions at once promotes all their objects together,
    and the full collection that this triggers lands a few seconds later —
    inside the 2 s window, as one pause of 30-40 ms at ~300 framework
    sessions (measured with ``gc.callbacks``), enough to fail a level that
    holds. A server opens sessions one by one and pays those collections
    spread out; collecting here measures the steady state, not the harness's
    bulk allocation.
    """
    gc.collect()


async def job_cpu(h: Harness, j: dict[str, Any]) -> dict[str, Any]:
    """Steady state of ``sessions`` sessions: CPU per session-second and latencies."""
    await h.add(j["sessions"])
    _collect_garbage()
    h.reanchor()
    await asyncio.sleep(j["settle"])
    result = await h.measure(j["window"])
    await h.remove(len(h.slots))
    return result


async def job_density(h: Harness, j: dict[str, Any]) -> dict[str, Any]:
    """Ramp (×``growth``) then bisect the session count, within ``budget`` seconds.

    The first level is one session: its p99 receive latency is the idle value
    that later levels are compared with (see :func:`_holds`).
    """
    limit = j.get("limit_ms", 20.0)
    deadline = time.monotonic() + j["budget"]
    levels: list[dict[str, Any]] = []

    async def level(n: int, tries: int = 1) -> dict[str, Any]:
        """Measure ``n`` sessions; a failing level is measured again up to
        ``tries`` times, so that one burst of another process's work on this
        core does not decide the figure (the better try counts)."""
        await h.resize(n)
        _collect_garbage()
        result: dict[str, Any] = {}
        for attempt in range(tries):
            h.reanchor()
            await asyncio.sleep(j["settle"])
            result = await h.measure(j["window"])
            result["attempt"] = attempt + 1
            levels.append(result)
            if idle_recv is None or _holds(result, idle_recv, limit):
                break
        return result

    idle_recv: float | None = None

    idle = await level(1)
    idle_recv = idle["recv_p99_ms"]
    tries = j.get("tries", 1)
    lo, hi = 1, 0
    n = j["start"]
    server_bound = False
    while time.monotonic() < deadline:
        result = await level(n, tries)
        result["holds"] = _holds(result, idle_recv, limit)
        if not result["holds"] and _server_bound(result):
            # Counted as a failure, but the figure is then a lower bound.
            server_bound = True
        if result["holds"]:
            lo = n
        else:
            hi = n
        if hi and hi - lo <= max(2, int(lo * j.get("precision", 0.03))):
            break
        if n >= j.get("max_sessions", 4000) and result["holds"]:
            break
        n = min(int(n * j["growth"]) + 1, j.get("max_sessions", 4000)) if not hi else (lo + hi) // 2
    await h.remove(len(h.slots))
    return {
        "sessions": lo,
        "failed_at": hi or None,
        "converged": bool(hi) and hi - lo <= max(2, int(lo * j.get("precision", 0.03))),
        "server_bound": server_bound,
        "idle_recv_p99_ms": idle_recv,
        "levels": [
            {
                k: v
                for k, v in lv.items()
                if k
                in (
                    "sessions",
                    "holds",
                    "cpu_load",
                    "send_p99_ms",
                    "recv_p99_ms",
                    "received_ratio",
                    "failed_sessions",
                    "attempt",
                )
            }
            | {
                "server_tick_p99_ms": lv["server"]["tick_lateness_p99_ms"],
                "server_cpu_load": lv["server"]["cpu_load"],
            }
            for lv in levels
        ],
    }


async def _settled_rss() -> int:
    gc.collect()
    await asyncio.sleep(0.3)
    gc.collect()
    return rss_bytes()


async def job_idle_memory(h: Harness, j: dict[str, Any]) -> dict[str, Any]:
    """RSS per open, idle session (server in ``idle`` mode): open a few to warm
    every lazy import and cache, then ``sessions`` more, and divide."""
    await h.add(4, send=False)
    rss0 = await _settled_rss()
    await h.add(j["sessions"], send=False)
    rss1 = await _settled_rss()
    opened = len(h.slots) - 4
    await h.remove(len(h.slots))
    return {
        "sessions": opened,
        "rss_before": rss0,
        "rss_after": rss1,
        "bytes_per_session": (rss1 - rss0) / opened if opened else None,
        "errors": h.errors[:3],
    }


async def job_stall(h: Harness, j: dict[str, Any]) -> dict[str, Any]:
    """The application stops reading for ``stall`` seconds while audio streams in."""
    await h.add(j["sessions"])
    await asyncio.sleep(j.get("warmup", 1.0))
    rss_before = await _settled_rss()
    sessions = [s.session for s in h.slots if isinstance(s.session, FrameworkSession)]
    for s in sessions:
        s.gate.clear()
    samples: list[tuple[float, int]] = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < j["seconds"]:
        await asyncio.sleep(0.25)
        samples.append((round(time.monotonic() - t0, 2), rss_bytes()))
    rss_peak = max(r for _, r in samples)
    for s in sessions:
        s.gate.set()
    await asyncio.sleep(j.get("resume", 1.5))
    stats = [s.stats() for s in sessions]
    server = await h.server_stats()
    markers = [len(s.markers) for s in sessions]
    gaps = sum(
        (max(s.markers) - min(s.markers) + 1 - len(set(s.markers))) if s.markers else 0
        for s in sessions
    )
    n = len(sessions)
    await h.remove(len(h.slots))
    half = [r for t, r in samples if t >= j["seconds"] / 2]
    return {
        "sessions": n,
        "stall_s": j["seconds"],
        "max_buffered_audio_s": j["max_buffered_audio"],
        "rss_before": rss_before,
        "rss_peak": rss_peak,
        "growth_per_session": (rss_peak - rss_before) / n if n else None,
        "growth_second_half_per_session": (max(half) - min(half)) / n if n and half else None,
        "dropped_audio_events": sum(s.get("dropped_audio_events", 0) for s in stats),
        "dropped_audio_bytes": sum(s.get("dropped_audio_bytes", 0) for s in stats),
        "max_queued_audio_bytes": max(
            (s.get("max_queued_audio_bytes") or 0 for s in stats), default=0
        ),
        "markers_sent": server["markers_sent"],
        "markers_received": sum(markers),
        "marker_gaps": gaps,
        "rss_samples": samples[:: max(1, len(samples) // 20)],
        "errors": h.errors[:3],
    }


_JOBS: dict[str, Callable[[Harness, dict[str, Any]], Awaitable[dict[str, Any]]]] = {
    "cpu": job_cpu,
    "density": job_density,
    "idle_memory": job_idle_memory,
    "stall": job_stall,
}


async def _run(job: dict[str, Any]) -> list[dict[str, Any]]:
    results = []
    for kind in job["jobs"]:
        h = Harness(job)
        result = await _JOBS[kind](h, job[kind])
        result["errors"] = result.get("errors") or h.errors[:3]
        results.append(result)
    return results


def main(argv: list[str] | None = None) -> None:
    """``python -m voiceadapters_bench.worker JOB_JSON``: run the job's ``jobs``
    in order (each with fresh sessions), print their results as one JSON list."""
    job = json.loads((sys.argv[1:] if argv is None else argv)[0])
    cpu = job.get("pin_cpu")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(_run(job))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
