"""One provider's socket-level CPU and latency figures, floor and framework alternating.

``python -m voiceadapters_bench.focus PROVIDER [--mode stream|idle] [--reps N] [--sessions N]``

A focused slice of the full run (:mod:`voiceadapters_bench.runner`): the
same bench server and client workers, only the ``cpu`` job (CPU per
session-second, send and receive latency at ``--sessions``), ``--reps``
times each side. ``--mode idle`` has the server stream no agent audio, so
the send path is measured without any receive work beside it: a gap between
floor and framework that appears only in ``stream`` mode comes from the
receive side, not from the send path. It prints one line per run and the
medians; it sets no target and decides nothing.
"""

from __future__ import annotations

import argparse
import statistics
from typing import Any

from voiceadapters import get_provider

from .profile import API_KEY, load_profile
from .runner import APP_RATE, FULL, BenchError, _cpus, _Server, _worker

__all__ = ["main"]


def _line(mode: str, impl: str, r: dict[str, Any]) -> str:
    return (
        f"{mode:6s} {impl:9s} cpu {r['cpu_ms_per_session_second']:6.2f} ms/s  "
        f"send p50 {r['send_p50_ms']:6.2f} p99 {r['send_p99_ms']:7.2f} max {r['send_max_ms']:7.2f} ms  "
        f"recv p99 {r['recv_p99_ms']:6.2f} ms  received {r['received_ratio']:.3f}  "
        f"server tick p99 {r['server']['tick_lateness_p99_ms']:.2f} ms  "
        f"load {r['cpu_load']:.2f}  gc {r['gc']['collections']} "
        f"{sum(r['gc']['pause_ms']):.1f} ms (longest {r['gc']['longest_ms']:.1f})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voiceadapters_bench.focus")
    parser.add_argument("provider", metavar="PROVIDER")
    parser.add_argument("--mode", choices=["stream", "idle"], default="stream")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sessions", type=int, default=FULL.cpu_sessions)
    args = parser.parse_args(argv)
    provider = get_provider(args.provider)
    profile = load_profile(provider.name)
    if isinstance(profile, str):
        raise SystemExit(f"{provider.name}: {profile}")
    client_cpu, server_cpu = _cpus()
    server = _Server(profile, server_cpu, 2.0)
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "framework": []}
    try:
        server.mode(args.mode)
        config = provider.simulator_config(
            "127.0.0.1", server.port, provider.make_simulator(api_key=API_KEY)
        )
        job = {
            "provider": provider.name,
            "port": server.port,
            "config": config,
            "pin_cpu": client_cpu,
            "app_rate": APP_RATE,
            "jobs": ["cpu"],
            "cpu": {
                "sessions": args.sessions,
                "settle": FULL.cpu_settle,
                "window": FULL.cpu_window,
            },
        }
        for _ in range(args.reps):
            for impl in runs:
                result = _worker({**job, "impl": impl}, 600)[0]
                runs[impl].append(result)
                print(_line(args.mode, impl, result), flush=True)
    except BenchError as exc:
        raise SystemExit(str(exc)) from exc
    finally:
        server.close()
    for impl, rs in runs.items():
        cpu = statistics.median(r["cpu_ms_per_session_second"] for r in rs)
        p99 = statistics.median(r["send_p99_ms"] for r in rs)
        best = min(r["send_p99_ms"] for r in rs)
        print(
            f"{args.mode:6s} {impl:9s} median cpu {cpu:.2f} ms/s, "
            f"send p99 median {p99:.2f} ms, best {best:.2f} ms"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
