"""The ``voiceadapters`` command line (design §8).

Subcommands: ``providers``, ``check CONFIG``, ``simulate PROVIDER``,
``run CONFIG --input … --output …``, ``demo [PROVIDER]``, ``talk CONFIG``
(:mod:`voiceadapters.talk`), ``record CONFIG --cassette FILE`` and ``replay
FILE`` (:mod:`voiceadapters.cassette.cli`). ``run``, ``demo`` and ``talk`` end
with the session's metrics summary (:mod:`voiceadapters.metrics`); ``--json
FILE`` writes it.

Secrets: API keys come from the provider's environment variable (or an
``api_key`` option in the config string); ``simulate --api-key`` is the only
flag that takes one. No command prints a key or token: configs and handshake
steps are shown with ``***`` in their place.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import signal
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from . import __version__
from .audio import best_alignment, pcm_to_array, read_wav, write_wav
from .config import parse_config, resolve_config
from .errors import VoiceAdaptersError
from .events import SCHEMA_VERSION, AgentAudio, AgentAudioDone, Event, event_to_log
from .format import AudioFormat
from .registry import registry

if TYPE_CHECKING:
    from .metrics import SessionMetrics

__all__ = ["main"]

#: Documented key the simulator accepts when ``--api-key`` is not given. It is
#: public on purpose: the simulator guards nothing.
SIMULATOR_DEFAULT_KEY = "simulator-key"


def _fail(message: str, code: int = 2) -> int:
    print(f"voiceadapters: error: {message}", file=sys.stderr)
    return code


# -- providers -----------------------------------------------------------------


def cmd_providers(args: argparse.Namespace) -> int:
    providers = registry.load_all()
    if not providers:
        print("no providers installed (install a plugin distribution, e.g. one in plugins/)")
        return 0
    if args.json:
        out = [
            {
                "name": p.name,
                "aliases": list(p.aliases),
                "description": p.description,
                "transports": list(p.transports),
                "wire_input": str(p.wire_input),
                "wire_output": str(p.wire_output),
                "api_key_env": p.api_key_env,
                "capabilities": p.capabilities.model_dump(),
                "scenarios": list(p.scenarios),
            }
            for p in providers.values()
        ]
        print(json.dumps(out, indent=2))
        return 0
    for p in sorted(providers.values(), key=lambda p: p.name):
        aliases = f" (aliases: {', '.join(p.aliases)})" if p.aliases else ""
        print(f"{p.name}{aliases} — {p.description}")
        print(f"    transports:   {', '.join(p.transports)}")
        print(f"    audio:        in {p.wire_input}, out {p.wire_output}")
        print(f"    api key env:  {p.api_key_env or '(none)'}")
        print(f"    capabilities: {', '.join(p.capabilities.enabled()) or '(none)'}")
        print(f"    scenarios:    {', '.join(p.scenarios)}")
    return 0


# -- check -----------------------------------------------------------------------


def cmd_check(args: argparse.Namespace) -> int:
    url = parse_config(args.config)
    provider = registry.get(url.provider)
    config = resolve_config(url, provider)
    print(f"provider:     {provider.name}")
    print(f"config:       {config.to_string()}")
    key_state = "set" if config.api_key else f"missing (set {provider.api_key_env})"
    print(f"api key:      {key_state}")
    print(f"capabilities: {', '.join(provider.capabilities.enabled()) or '(none)'}")
    print(f"audio:        in {provider.wire_input}, out {provider.wire_output}")
    if config.api_key or not provider.api_key_env:
        codec = provider.make_codec(config)
        print(f"first step:   {codec.handshake_step()}")
        return 0
    print("first step:   (needs an API key)")
    return 1


# -- simulate ------------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    provider, transport = registry.get_target(args.provider)
    if args.scenario and args.scenario not in provider.scenarios:
        return _fail(
            f"{provider.name} has no scenario {args.scenario!r}; "
            f"choose from {', '.join(provider.scenarios)}"
        )
    key = args.api_key or os.environ.get(provider.api_key_env or "", "") or SIMULATOR_DEFAULT_KEY

    async def serve() -> None:
        from .simulator.server import SimulatorServer

        # Signal handlers first: a supervisor may stop us as soon as it has
        # read the config line.
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        simulator = provider.make_transport_simulator(
            transport, api_key=key, scenario=args.scenario, pace=args.pace
        )
        simulator.response_delay = args.response_delay
        async with SimulatorServer(simulator, args.host, args.port) as server:
            print(provider.simulator_config(args.host, server.port, simulator), flush=True)
            if key == SIMULATOR_DEFAULT_KEY:
                hint = (
                    f"set {provider.api_key_env}={SIMULATOR_DEFAULT_KEY} (the public simulator key)"
                )
            else:
                hint = f"use the key you chose, in {provider.api_key_env or 'api_key=…'}"
            print(
                f"{provider.name} simulator on {args.host}:{server.port} "
                f"(scenario {args.scenario or provider.scenarios[0]}); {hint}. Ctrl-C stops it.",
                file=sys.stderr,
                flush=True,
            )
            await stop.wait()

    asyncio.run(serve())
    return 0


# -- run / demo ---------------------------------------------------------------------


def _short(value: Any, limit: int = 300) -> str:
    """``repr(value)``, cut for a terminal line: a provider's unknown message
    or error text may be megabytes."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


class _Printer:
    """Prints events as they arrive; agent audio as one line per turn."""

    def __init__(self, out: TextIO) -> None:
        self.out = out
        self._turn_audio: dict[str | None, list[float]] = {}

    def __call__(self, stamp: float, event: Event) -> None:
        if isinstance(event, AgentAudio):
            seen = self._turn_audio.setdefault(event.turn_id, [0, 0.0])
            if seen[0] == 0:
                print(
                    f"{stamp:7.2f}s  agent_audio         turn_id={event.turn_id} (streaming…)",
                    file=self.out,
                )
            seen[0] += 1
            seen[1] += event.duration
            return
        data = event_to_log(event)
        data.pop("type")
        data.pop("received")  # the line's own stamp says when
        detail = " ".join(f"{k}={_short(v)}" for k, v in data.items() if v is not None)
        if isinstance(event, AgentAudioDone):
            count, seconds = self._turn_audio.get(event.turn_id, [0, 0.0])
            detail += f" ({int(count)} frames, {seconds:.2f} s of audio)"
        print(f"{stamp:7.2f}s  {event.type:<19} {detail}".rstrip(), file=self.out, flush=True)


async def _run(
    config: str,
    pcm: bytes,
    fmt: AudioFormat,
    *,
    realtime: bool,
    api_key: str | None,
    events_path: Path | None,
    printer: _Printer | None,
) -> tuple[Any, SessionMetrics]:
    from .runner import stream_recording
    from .session import connect

    session = await connect(config, api_key=api_key, input_format=fmt, output_format=fmt)
    result = await stream_recording(session, pcm, realtime=realtime, on_event=printer)
    if events_path is not None:
        with events_path.open("w", encoding="utf-8") as f:
            for stamp, event in result.events:
                line = event_to_log(event)
                line["t"] = round(stamp, 4)
                # Each line names the event model it follows (docs/concepts/events.md#event-logs),
                # so a log read later, or a line read alone, says how to read it.
                line["schema_version"] = SCHEMA_VERSION
                f.write(json.dumps(line) + "\n")
    return result, session.metrics


def _summary(metrics: SessionMetrics, json_path: str | None, out: TextIO | None = None) -> None:
    """Print the session's metrics summary; write it as JSON to ``json_path``."""
    from .metrics import format_summary

    out = out or sys.stdout
    print(file=out)
    print(format_summary(metrics), file=out)
    if json_path:
        Path(json_path).write_text(json.dumps(metrics.to_dict(), indent=2) + "\n", encoding="utf-8")
        print(f"\nwrote the metrics to {json_path}", file=out)


def cmd_run(args: argparse.Namespace) -> int:
    pcm, fmt = read_wav(args.input)
    result, metrics = asyncio.run(
        _run(
            args.config,
            pcm,
            fmt,
            realtime=not args.fast,
            api_key=None,
            events_path=Path(args.events) if args.events else None,
            printer=_Printer(sys.stdout),
        )
    )
    write_wav(args.output, bytes(result.agent_audio), fmt)
    print(f"wrote {args.output} ({fmt.duration(len(result.agent_audio)):.2f} s of agent audio)")
    _summary(metrics, args.json)
    if result.ended is not None and result.ended.reason not in ("completed", "client_closed"):
        return 1
    return 0


def _sample() -> tuple[bytes, AudioFormat]:
    ref = resources.files("voiceadapters") / "_data" / "speech_16k.wav"
    with resources.as_file(ref) as path:
        return read_wav(path)


def _demo_provider() -> str:
    """The provider ``demo`` runs without a name: the installed one that
    declares ``demo_default`` (the first by name), else the first installed."""
    providers = registry.load_all()
    if not providers:
        raise VoiceAdaptersError("no providers installed; install a plugin distribution first")
    chosen = [name for name, p in sorted(providers.items()) if p.demo_default]
    return (chosen or sorted(providers))[0]


def cmd_demo(args: argparse.Namespace) -> int:
    provider, transport = registry.get_target(args.provider or _demo_provider())
    label = provider.name + (f"+{transport}" if transport else "")
    pcm, fmt = _sample()
    out_dir = Path(args.output_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    wav_path = out_dir / f"demo-{label}-agent.wav"
    events_path = out_dir / f"demo-{label}-events.jsonl"
    key = secrets.token_urlsafe(24)  # a fresh key per run; never printed
    fast = args.fast
    if fast and transport not in (None, provider.transports[0]):
        # A provider's other transport is a media one (WebRTC): its tracks
        # play in real time whatever the sender does, and a session that
        # streamed "fast" would close while the echo is still playing.
        print(f"demo: --fast has no effect over {label}: its audio travels in real time")
        fast = False

    async def demo() -> tuple[Any, SessionMetrics]:
        from .simulator.server import SimulatorServer

        simulator = provider.make_transport_simulator(
            transport, api_key=key, scenario="echo", pace=0 if fast else 1.0
        )
        simulator.response_delay = args.response_delay
        async with SimulatorServer(simulator, "127.0.0.1", 0) as server:
            config = provider.simulator_config("127.0.0.1", server.port, simulator)
            print(f"demo: {label} simulator on 127.0.0.1:{server.port}")
            print(f"demo: config {config}")
            pace = "as fast as possible" if fast else "in real time"
            print(
                f"demo: streaming a {fmt.duration(len(pcm)):.2f} s speech sample "
                f"({fmt}) {pace}; the echo agent speaks it back\n"
            )
            return await _run(
                config,
                pcm,
                fmt,
                realtime=not fast,
                api_key=key,
                events_path=events_path,
                printer=_Printer(sys.stdout),
            )

    result, metrics = asyncio.run(demo())
    write_wav(wav_path, bytes(result.agent_audio), fmt)
    agent = pcm_to_array(bytes(result.agent_audio))
    print()
    print(
        f"demo: wrote {wav_path} ({fmt.duration(len(result.agent_audio)):.2f} s) and {events_path}"
    )
    if agent.size == 0:
        return _fail("the agent sent no audio", 1)
    lag, ncc = best_alignment(pcm_to_array(pcm), agent)
    print(
        f"demo: echo fidelity: normalized cross-correlation {ncc:.3f} with the input "
        f"(best alignment at {lag / fmt.sample_rate * 1000:+.0f} ms)"
    )
    _summary(metrics, args.json)
    ended = result.ended
    if ended is None or ended.reason not in ("completed", "client_closed"):
        return _fail(f"session ended abnormally: {ended}", 1)
    return 0


# -- main ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="voiceadapters",
        description="Provider-agnostic voice-agent sessions: one event model, many protocols.",
    )
    parser.add_argument("--version", action="version", version=f"voiceadapters {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("providers", help="list installed providers and their capabilities")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_providers)

    p = sub.add_parser("check", help="validate a config string and show its handshake (no network)")
    p.add_argument(
        "config", metavar="CONFIG", help="config string, e.g. 'provider://host?option=value'"
    )
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("simulate", help="serve a provider simulator on loopback until interrupted")
    p.add_argument("provider", metavar="PROVIDER", help="provider, or provider+transport")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=0, help="0 (default): any free port")
    p.add_argument(
        "--api-key",
        help=f"key the simulator accepts (default: the provider's env var, else {SIMULATOR_DEFAULT_KEY!r})",
    )
    p.add_argument("--scenario", help="agent behaviour (see `voiceadapters providers`)")
    p.add_argument(
        "--pace", type=float, default=1.0, help="agent audio pacing, 1 = real time, 0 = burst"
    )
    _add_response_delay(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("run", help="stream a WAV file through a session; write the agent's audio")
    p.add_argument("config", metavar="CONFIG")
    p.add_argument("--input", required=True, help="16-bit PCM WAV to send as the microphone")
    p.add_argument("--output", required=True, help="WAV to write the agent's audio to")
    p.add_argument("--events", help="write events as JSON lines to this file")
    p.add_argument("--fast", action="store_true", help="send faster than real time")
    _add_json(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("demo", help="zero-setup demo: a simulator and a session in one process")
    p.add_argument(
        "provider",
        nargs="?",
        metavar="PROVIDER",
        help="whose simulator to run, provider or provider+transport (default: the installed "
        "provider that declares itself the demo default)",
    )
    p.add_argument("--output-dir", default="demo-output", help="where to write the WAV and events")
    p.add_argument("--fast", action="store_true", help="stream faster than real time")
    _add_response_delay(p)
    _add_json(p)
    p.set_defaults(func=cmd_demo)

    from .cassette.cli import add_commands as add_cassette_commands

    add_cassette_commands(sub)  # record, replay (docs/cassettes.md)

    from .talk import add_talk_parser

    add_talk_parser(sub)

    _add_extension_commands(sub)
    return parser


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not value >= 0 or value > 60:
        raise argparse.ArgumentTypeError(f"must be between 0 and 60 seconds, not {text}")
    return value


def _add_response_delay(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--response-delay",
        type=_seconds,
        metavar="SECONDS",
        help="the simulated agent answers this long after the end of the user's speech "
        "(default 0.05; scaled to 0 by --fast / --pace 0)",
    )


def _add_json(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--json", metavar="FILE", help="write the session's metrics summary to FILE as JSON"
    )


#: Subcommands that other distributions add, and what to install for them.
EXTENSION_COMMANDS = {
    "conformance": (
        "run the conformance suite against a provider plugin",
        "voiceadapters-conformance",
    ),
    "bench": (
        "measure what the adapter layer costs next to a hand-written client",
        "voiceadapters-bench",
    ),
    "bridge": (
        "serve Twilio Media Streams and a browser page in front of a provider",
        "voiceadapters-bridge",
    ),
}


def _add_extension_commands(sub: Any) -> None:
    """Subcommands from the entry-point group ``voiceadapters.cli``
    (``register_cli(subparsers)``); a known one that is not installed gets a
    placeholder that says what to install."""
    from importlib.metadata import entry_points

    seen = set()
    for ep in entry_points(group="voiceadapters.cli"):
        try:
            ep.load()(sub)
            seen.add(ep.name)
        except Exception as exc:  # a broken extension must not break the CLI
            print(
                f"voiceadapters: warning: CLI extension {ep.name!r} failed: {exc}", file=sys.stderr
            )
    for name, (summary, dist) in EXTENSION_COMMANDS.items():
        if name in seen:
            continue
        p = sub.add_parser(name, help=f"{summary} (needs {dist})")
        p.add_argument("args", nargs=argparse.REMAINDER)
        # ``missing_extension``: main() accepts any options after it (REMAINDER
        # alone does not when the first one starts with "-": `bench --quick`).
        p.set_defaults(
            missing_extension=True,
            func=lambda args, dist=dist, name=name: _fail(
                f"'{name}' needs the {dist} distribution: pip install {dist} "
                f"(from a clone: pip install -e {dist.removeprefix('voiceadapters-')})"
            ),
        )


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "missing_extension", False):
        parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        code: int = args.func(args)
        return code
    except VoiceAdaptersError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # Output piped into a command that stopped reading (e.g. `| head`).
        with contextlib.suppress(OSError):
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0


if __name__ == "__main__":
    sys.exit(main())
