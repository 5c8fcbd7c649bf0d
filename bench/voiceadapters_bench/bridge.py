"""The bridge's figures: sessions per core through it, and its Twilio leg per frame.

``python -m voiceadapters_bench.bridge [--provider NAME] [--reps N] [--sessions N] [--quick]
[--setup-pipecat]`` prints one line per run and the figures; ``voiceadapters bench --only
bridge`` runs the same section inside the bench's report and JSON. Needs the
``voiceadapters-bridge`` distribution.

Sessions per core, with the bench's method (:mod:`voiceadapters_bench.runner`):
the bench server streams the provider's steady state from its bench profile
(on the server core, as for every other figure) and two kinds of client run
against it in the same run, alternating, ``reps`` times each:

*bridge*
    ``sessions`` real-time Twilio Media Streams clients (the *load*, on the
    server core: pre-encoded ``media`` messages of 20 ms μ-law 8 kHz sent on
    an absolute schedule, the bridge's ``media`` messages counted and timed,
    its ``mark`` messages echoed as Twilio does) ⇄ one bridge process (the
    *host*, on the client core: :func:`voiceadapters_bridge.create_app`
    mounted under ``/bridge`` in an aiohttp app with the bench's CPU route,
    no client authentication) ⇄ the bench server. Each call is one
    ``connect()`` session in the bridge at 8 kHz, as the bridge runs it.
*direct*
    the same number of ``connect()`` sessions in one client process (the
    bench's worker, :mod:`voiceadapters_bench.worker`, on the client core)
    sending and receiving the same audio as 16-bit PCM 8 kHz in 20 ms frames
    — what an application that holds the provider's key does itself.

The figure is the measured process's CPU (``time.process_time()`` in that
process, over the window) per session-second: the bridge host's and the
direct worker's. The bridge does the direct session's work *plus* the
front's (a WebSocket server per call, JSON, base64, μ-law, marks, the
host's tasks), so the ratio bridge / direct is above 1 by construction; it
says how much more CPU a call costs through the bridge than the same session
in the application's own process. ``bridge_sessions_per_core`` is 1000 ms
divided by that CPU: how many such sessions one core holds if CPU is the
limit; the pacing at the measured load (the Twilio client's receive lateness
and the share of audio that arrived each way) is in the figures' detail and
in ``bridge_latency_recv_p99``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .profile import API_KEY, load_profile
from .report import Figure
from .worker import TICK, percentile, rss_bytes

__all__ = ["BRIDGE_DIST", "BridgePlan", "bridge_available", "main", "measure_bridge"]

#: The distribution this section needs.
BRIDGE_DIST = "voiceadapters-bridge"
#: Where the host mounts the bridge (``create_app`` as a user mounts it in their app).
PREFIX = "/bridge"
_BASELINE_SKIP = 25


@dataclass(frozen=True)
class BridgePlan:
    sessions: int
    settle: float
    window: float
    reps: int


FULL_PLAN = BridgePlan(sessions=50, settle=2.0, window=4.0, reps=5)
QUICK_PLAN = BridgePlan(sessions=2, settle=0.4, window=0.6, reps=1)


def bridge_available() -> str | None:
    """``None`` when the bridge can be benched, else why not."""
    try:
        import voiceadapters_bridge  # noqa: F401
    except ImportError:
        return f"the {BRIDGE_DIST} distribution is not installed (pip install -e bridge)"
    return None


# -- the bridge host (its own process, pinned to the client core) ---------------------------


async def _host(config: str) -> None:
    from aiohttp import web

    from voiceadapters import Secret
    from voiceadapters_bridge import BridgeSettings, create_app

    settings = BridgeSettings(
        config,
        api_key=Secret(API_KEY),
        bridge_key=None,  # loopback, no client authentication
        max_sessions=100_000,
        start_timeout=60.0,
        page=False,
    )
    app = web.Application()

    async def cpu(request: web.Request) -> web.Response:
        return web.json_response(
            {"cpu": time.process_time(), "wall": time.monotonic(), "rss": rss_bytes()}
        )

    async def collect(request: web.Request) -> web.Response:
        # After a change of load, as the worker does (see worker._collect_garbage).
        gc.collect()
        return web.json_response({"ok": True})

    app.router.add_get("/bench/cpu", cpu)
    app.router.add_get("/bench/gc", collect)
    app.add_subapp(PREFIX, create_app(settings))
    runner = web.AppRunner(app, access_log=None, handle_signals=False, shutdown_timeout=5.0)
    await runner.setup()
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    await web.SockSite(runner, sock, backlog=1024).start()
    sys.stdout.write(f"PORT {sock.getsockname()[1]}\n")
    sys.stdout.flush()
    try:
        # Serve until the parent closes our stdin (it finished, or died).
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    finally:
        await runner.cleanup()


class _Host:
    """The bridge host process, in front of the bench server at ``config``."""

    def __init__(self, config: str, cpu: int | None) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "voiceadapters_bench.bridge",
                "--host",
                config,
                "--pin",
                "-" if cpu is None else str(cpu),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().split()
        if len(line) != 2 or line[0] != "PORT":
            self.close()
            raise RuntimeError("the bridge host did not start")
        self.port = int(line[1])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


# -- the Twilio load (its own process, pinned to the server core) ------------------------------


def _twilio_media(seconds: float = 10.0) -> list[str]:
    from .twilioleg import recorded_call

    messages, _ = recorded_call(seconds)
    return messages


async def _get_json(host: str, port: int, target: str) -> dict[str, Any]:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    result: dict[str, Any] = json.loads(data.split(b"\r\n\r\n", 1)[1])
    return result


async def _get_text(host: str, port: int, target: str) -> str:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET {target} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n".encode())
    data = await reader.read()
    writer.close()
    return data.split(b"\r\n\r\n", 1)[1].decode()


def _metric_sum(text: str, name: str, label: str = "") -> float:
    total = 0.0
    for line in text.splitlines():
        if line.startswith(f"voiceadapters_bridge_{name}{{") and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


class _Call:
    """One Twilio client: a sender on an absolute 20 ms schedule, a receiver."""

    def __init__(self, load: _Load, ws: Any, sid: str) -> None:
        self.load = load
        self.ws = ws
        self.sid = sid
        self.epoch = -1
        self.m = 0
        self.t_anchor = 0.0
        self.base = math.inf
        self.window: list[float] = []
        self.failed: str | None = None
        self.tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        await self.ws.send(
            json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        )
        start = {
            "streamSid": self.sid,
            "accountSid": "AC0",
            "callSid": "CA0",
            "tracks": ["inbound"],
            "customParameters": {},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        }
        await self.ws.send(
            json.dumps(
                {"event": "start", "sequenceNumber": "1", "streamSid": self.sid, "start": start}
            )
        )
        loop = asyncio.get_running_loop()
        self.tasks = [loop.create_task(self._send()), loop.create_task(self._receive())]

    async def _send(self) -> None:
        load = self.load
        loop = asyncio.get_running_loop()
        frames = load.media
        i = random.randrange(len(frames))
        epoch, t0, k = -1, 0.0, 0
        try:
            while True:
                if epoch != load.epoch:
                    epoch, t0, k = load.epoch, loop.time() + random.random() * TICK, 0
                await asyncio.sleep(max(0.0, t0 + k * TICK - loop.time()))
                await self.ws.send(frames[i % len(frames)])
                k += 1
                i += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed = f"send: {type(exc).__name__}: {exc}"

    async def _receive(self) -> None:
        load = self.load
        loop = asyncio.get_running_loop()
        try:
            async for message in self.ws:
                if not isinstance(message, str):
                    continue
                if message.startswith('{"event":"media"'):
                    now = loop.time()
                    if self.epoch != load.epoch:
                        self.epoch, self.m, self.t_anchor, self.base = load.epoch, 0, now, math.inf
                    v = now - self.t_anchor - self.m * TICK
                    self.m += 1
                    if self.m > _BASELINE_SKIP and v < self.base:
                        self.base = v
                    if load.recording:
                        self.window.append(v)
                    continue
                data = json.loads(message)
                if data.get("event") == "mark":
                    # Twilio echoes every mark once the audio before it has played.
                    echo = {"event": "mark", "streamSid": self.sid, "mark": data.get("mark")}
                    await self.ws.send(json.dumps(echo))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.failed = f"receive: {type(exc).__name__}: {exc}"


class _Load:
    def __init__(self, job: dict[str, Any]) -> None:
        self.job = job
        self.media = _twilio_media()
        self.calls: list[_Call] = []
        self.epoch = 0
        self.recording = False
        self.errors: list[str] = []

    async def open(self, n: int) -> None:
        from websockets.asyncio.client import connect

        url = f"ws://127.0.0.1:{self.job['bridge_port']}{PREFIX}/twilio"
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with sem:
                try:
                    ws = await connect(url, compression=None, open_timeout=30)
                except Exception as exc:
                    self.errors.append(f"open: {type(exc).__name__}: {exc}")
                    return
                call = _Call(self, ws, f"MZbench{i:026d}")
                await call.start()
                self.calls.append(call)

        await asyncio.gather(*(one(i) for i in range(n)))

    async def close(self) -> None:
        async def one(call: _Call) -> None:
            for task in call.tasks:
                task.cancel()
            with contextlib.suppress(Exception):
                await call.ws.send(json.dumps({"event": "stop", "streamSid": call.sid}))
            with contextlib.suppress(Exception):
                await asyncio.wait_for(call.ws.close(), 5.0)

        await asyncio.gather(*(one(c) for c in self.calls))
        self.calls = []

    async def run(self) -> dict[str, Any]:
        j = self.job
        bport, sport = j["bridge_port"], j["server_port"]
        n = j["sessions"]
        await self.open(n)
        deadline = time.monotonic() + 30
        while True:  # every call's provider session is open
            text = await _get_text("127.0.0.1", bport, f"{PREFIX}/metrics")
            opened = _metric_sum(text, "sessions_open")
            if opened >= len(self.calls) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.05)
        await _get_json("127.0.0.1", bport, "/bench/gc")
        self.epoch += 1
        await asyncio.sleep(j["settle"])
        for call in self.calls:
            call.window = []
        m0 = await _get_text("127.0.0.1", bport, f"{PREFIX}/metrics")
        await _get_json("127.0.0.1", sport, "/bench/stats?reset=1")
        c0 = await _get_json("127.0.0.1", bport, "/bench/cpu")
        self.recording = True
        await asyncio.sleep(j["window"])
        self.recording = False
        c1 = await _get_json("127.0.0.1", bport, "/bench/cpu")
        server = await _get_json("127.0.0.1", sport, "/bench/stats")
        m1 = await _get_text("127.0.0.1", bport, f"{PREFIX}/metrics")
        calls = list(self.calls)
        await self.close()
        elapsed = c1["wall"] - c0["wall"]
        live = len(calls)
        recv: list[float] = []
        frames = 0
        for call in calls:
            frames += len(call.window)
            base = call.base if call.base != math.inf else min(call.window, default=0.0)
            recv.extend(v - base for v in call.window)
        expected = live * elapsed
        audio_in = _metric_sum(m1, "audio_seconds_total", 'direction="in"') - _metric_sum(
            m0, "audio_seconds_total", 'direction="in"'
        )
        audio_out = _metric_sum(m1, "audio_seconds_total", 'direction="out"') - _metric_sum(
            m0, "audio_seconds_total", 'direction="out"'
        )
        cpu = c1["cpu"] - c0["cpu"]
        failed = [c.failed for c in calls if c.failed]
        return {
            "sessions": live,
            "sessions_open_in_bridge": opened,
            "window_s": round(elapsed, 3),
            "cpu_s": cpu,
            "cpu_ms_per_session_second": 1000 * cpu / (live * elapsed) if live else 0.0,
            "cpu_load": cpu / elapsed,
            "recv_p50_ms": 1000 * percentile(recv, 0.50),
            "recv_p99_ms": 1000 * percentile(recv, 0.99),
            "recv_max_ms": 1000 * max(recv, default=0.0),
            # Twilio media messages that reached the clients, of 50 per call-second.
            "received_ratio": frames / (expected / TICK) if expected else 0.0,
            # The bridge's own counters: audio forwarded each way, of real time.
            "bridge_in_ratio": audio_in / expected if expected else 0.0,
            "bridge_out_ratio": audio_out / expected if expected else 0.0,
            "host_rss": c1["rss"],
            "server": server,
            "failed_sessions": len(failed),
            "failures": failed[:3],
            "errors": self.errors[:3],
        }


def _load_main(job: dict[str, Any]) -> None:
    cpu = job.get("pin_cpu")
    if cpu is not None and hasattr(os, "sched_setaffinity"):
        with contextlib.suppress(OSError):
            os.sched_setaffinity(0, {cpu})
    with contextlib.suppress(ValueError, OSError):
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    result = asyncio.run(_Load(job).run())
    sys.stdout.write(json.dumps(result) + "\n")


def _load(job: dict[str, Any], timeout: float) -> dict[str, Any]:
    proc = subprocess.run(
        [sys.executable, "-m", "voiceadapters_bench.bridge", "--load", json.dumps(job)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    lines = proc.stdout.strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"the Twilio load failed ({proc.returncode}): {proc.stderr[-800:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


# -- orchestration -------------------------------------------------------------------------------


def measure_bridge(
    provider_name: str,
    plan: BridgePlan,
    *,
    log: Callable[[str], None] = lambda _: None,
    client_cpu: int | None = None,
    server_cpu: int | None = None,
) -> dict[str, Any]:
    """Bridge and direct runs, alternating, ``plan.reps`` times; see the module docstring."""
    from voiceadapters import get_provider

    from .runner import _Server, _worker

    provider = get_provider(provider_name)
    profile = load_profile(provider.name)
    if isinstance(profile, str):
        raise RuntimeError(f"{provider.name}: {profile}")
    server = _Server(profile, server_cpu, 2.0)
    host: _Host | None = None
    runs: dict[str, list[dict[str, Any]]] = {"direct": [], "bridge": []}
    try:
        config = provider.simulator_config(
            "127.0.0.1", server.port, provider.make_simulator(api_key=API_KEY)
        )
        host = _Host(config, client_cpu)
        direct_job = {
            "provider": provider.name,
            "port": server.port,
            "config": config,
            "pin_cpu": client_cpu,
            "app_rate": 8000,
            "impl": "framework",
            "jobs": ["cpu"],
            "cpu": {"sessions": plan.sessions, "settle": plan.settle, "window": plan.window},
        }
        load_job = {
            "bridge_port": host.port,
            "server_port": server.port,
            "pin_cpu": server_cpu,
            "sessions": plan.sessions,
            "settle": plan.settle,
            "window": plan.window,
        }
        for rep in range(plan.reps):
            log(f"bridge ({provider.name}): direct, {plan.sessions} sessions, run {rep + 1} …")
            runs["direct"].append(_worker(direct_job, 600)[0])
            log(f"bridge ({provider.name}): bridge, {plan.sessions} calls, run {rep + 1} …")
            runs["bridge"].append(_load(load_job, 600))
    finally:
        if host is not None:
            host.close()
        server.close()
    return {"provider": provider.name, "wire_in": profile.wire_in, "runs": runs}


def _median(runs: list[dict[str, Any]], key: str) -> float:
    return float(statistics.median(float(r[key]) for r in runs))


def bridge_figures(result: dict[str, Any]) -> list[Figure]:
    """The figures of one :func:`measure_bridge` result."""
    runs = result["runs"]
    bridge, direct = runs["bridge"], runs["direct"]
    subject = f"twilio → {result['provider']}"
    b_cpu = _median(bridge, "cpu_ms_per_session_second")
    d_cpu = _median(direct, "cpu_ms_per_session_second")
    n = bridge[0]["sessions"]
    problems = [
        f"bridge run {i + 1}: {r['received_ratio']:.0%} of the media arrived, "
        f"{r['bridge_in_ratio']:.0%} in / {r['bridge_out_ratio']:.0%} out forwarded"
        for i, r in enumerate(bridge)
        if min(r["received_ratio"], r["bridge_in_ratio"], r["bridge_out_ratio"]) < 0.9
        or r["failed_sessions"]
    ] + [
        f"direct run {i + 1}: {r['received_ratio']:.0%} of the agent audio arrived"
        for i, r in enumerate(direct)
        if r["received_ratio"] < 0.9
    ]
    what = (
        f"{n} sessions, 8 kHz app audio; bridge-process CPU (Twilio front, its WebSocket "
        "server, the session) ÷ a direct connect() session's: > 1 by construction, "
        "it is how much more a call through the bridge costs"
    )
    return [
        Figure(
            "bridge_cpu_per_session_second",
            subject,
            "ms/s",
            b_cpu,
            d_cpu,
            note="; ".join(problems) or what,
            detail={"runs": runs, "floor_is": "direct connect() session"},
        ),
        Figure(
            "bridge_sessions_per_core",
            subject,
            "sessions",
            1000.0 / b_cpu if b_cpu else None,
            1000.0 / d_cpu if d_cpu else None,
            note="1000 ms ÷ CPU per session-second: sessions one core holds if CPU is "
            "the limit; floor: direct connect() sessions",
        ),
        Figure(
            "bridge_latency_recv_p99",
            subject,
            "ms",
            min(float(r["recv_p99_ms"]) for r in bridge),
            min(float(r["recv_p99_ms"]) for r in direct),
            note=f"at {n} sessions, best run: agent audio behind the 50 frames/s schedule at "
            "the Twilio client (bridge) / the application (direct); both include soxr's "
            "block-wise output at 8 kHz",
        ),
    ]


def leg_figures(leg: dict[str, Any]) -> list[Figure]:
    """The Twilio leg's figures (:func:`voiceadapters_bench.twilioleg.measure_twilio_leg`)."""
    figures = []
    for row in leg["rows"]:
        ours, theirs = row["ours"], row["pipecat"]
        khz = row["rate"] // 1000
        label = (
            "TwilioFront (8 kHz, no resampling)"
            if row["rate"] == 8000
            else f"TwilioFront + StreamConverter ({khz} kHz)"
        )
        same = ""
        if theirs is not None and row["rate"] == 8000:
            same_in = ours["in_sha256"] == theirs["in_sha256"]
            same_out = ours["out_sha256"] == theirs["out_sha256"]
            same = (
                "; same audio both sides"
                if same_in and same_out
                else f"; AUDIO DIFFERS (in {same_in}, out {same_out})"
            )
        floor_note = (
            f"floor: {theirs['subject']} at a {khz} kHz pipeline" if theirs else "floor: no Pipecat"
        )
        figures += [
            Figure(
                "twilio_frame_in",
                label,
                "µs/frame",
                ours["in_us"],
                theirs["in_us"] if theirs else None,
                note=f"media JSON → PCM command, 20 ms μ-law, best of {leg['reps']}; "
                f"{floor_note}{same}",
                detail={"ours": ours, "pipecat": theirs},
            ),
            Figure(
                "twilio_frame_out",
                label,
                "µs/frame",
                ours["out_us"],
                theirs["out_us"] if theirs else None,
                note=f"agent PCM → media JSON (ours: + a mark per 0.5 s), best of {leg['reps']}; "
                f"{floor_note}{same}",
            ),
        ]
    return figures


# -- the focused command -------------------------------------------------------------------------


def _line(kind: str, r: dict[str, Any]) -> str:
    extra = (
        f"forwarded {r['bridge_in_ratio']:.2f} in / {r['bridge_out_ratio']:.2f} out"
        if kind == "bridge"
        else f"send p99 {r['send_p99_ms']:6.2f} ms"
    )
    return (
        f"{kind:6s} {r['sessions']:4d} sessions  cpu {r['cpu_ms_per_session_second']:6.2f} ms/s  "
        f"recv p99 {r['recv_p99_ms']:6.2f} ms  received {r['received_ratio']:.3f}  {extra}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voiceadapters_bench.bridge")
    parser.add_argument("--provider", default="vatel", help="the provider behind the bridge")
    parser.add_argument("--reps", type=int)
    parser.add_argument("--sessions", type=int)
    parser.add_argument("--quick", action="store_true", help="tiny loads: proves it works")
    parser.add_argument(
        "--setup-pipecat",
        action="store_true",
        help="create the Pipecat venv if it is missing (default: only in a full run)",
    )
    parser.add_argument("--no-leg", action="store_true", help="skip the per-frame Twilio leg")
    parser.add_argument("--host", metavar="CONFIG", help=argparse.SUPPRESS)
    parser.add_argument("--pin", default="-", help=argparse.SUPPRESS)
    parser.add_argument("--load", metavar="JOB", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.host is not None:
        if args.pin != "-" and hasattr(os, "sched_setaffinity"):
            with contextlib.suppress(OSError):
                os.sched_setaffinity(0, {int(args.pin)})
        with contextlib.suppress(ValueError, OSError):
            _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        asyncio.run(_host(args.host))
        return 0
    if args.load is not None:
        _load_main(json.loads(args.load))
        return 0
    missing = bridge_available()
    if missing:
        raise SystemExit(missing)
    from .report import render_table
    from .runner import _cpus
    from .twilioleg import measure_twilio_leg

    base = QUICK_PLAN if args.quick else FULL_PLAN
    plan = BridgePlan(
        sessions=args.sessions or base.sessions,
        settle=base.settle,
        window=base.window,
        reps=args.reps or base.reps,
    )
    client_cpu, server_cpu = _cpus()
    result = measure_bridge(
        args.provider, plan, log=print, client_cpu=client_cpu, server_cpu=server_cpu
    )
    for b, d in zip(result["runs"]["bridge"], result["runs"]["direct"], strict=True):
        print(_line("direct", d), flush=True)
        print(_line("bridge", b), flush=True)
    figures = bridge_figures(result)
    if not args.no_leg:
        leg = measure_twilio_leg(
            quick=args.quick, setup_pipecat=args.setup_pipecat or not args.quick, log=print
        )
        figures += leg_figures(leg)
        if not leg["pipecat"]:
            print(f"skipped pipecat TwilioFrameSerializer: {leg['pipecat_note']}")
    print("\n" + render_table(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
