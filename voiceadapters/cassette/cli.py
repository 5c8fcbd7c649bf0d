"""``voiceadapters record`` and ``voiceadapters replay`` (docs/cassettes.md, docs/cli.md)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import sys
from pathlib import Path
from typing import Any

from .format import AUDIO_POLICIES

__all__ = ["add_commands", "cmd_record", "cmd_replay"]


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"expected HOST:PORT, not {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "record", help="run a session from a WAV file and write it to a cassette (secrets scrubbed)"
    )
    p.add_argument("config", metavar="CONFIG")
    p.add_argument(
        "--cassette", required=True, metavar="FILE", help="the cassette to write (JSON Lines)"
    )
    p.add_argument(
        "--wav",
        metavar="IN.wav",
        help="16-bit PCM WAV to send as the microphone (default: the bundled speech sample)",
    )
    p.add_argument(
        "--audio",
        choices=AUDIO_POLICIES,
        default="keep",
        help="keep audio, truncate it to its first bytes, or replace it by a length marker",
    )
    p.add_argument("--fast", action="store_true", help="send the WAV faster than real time")
    p.add_argument("--comment", help="a note for the cassette's header")
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("replay", help="serve a cassette as a provider; compare the client with it")
    p.add_argument("cassette", metavar="FILE")
    p.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 0),
        metavar="HOST:PORT",
        help="where to serve (default 127.0.0.1, any free port)",
    )
    p.add_argument("--pace", choices=("recorded", "fast"), default="recorded")
    p.add_argument(
        "--check",
        action="store_true",
        help="also run the cassette's adapter as the client and compare its events",
    )
    p.add_argument("--strict", action="store_true", help="exit 1 when anything differs")
    p.add_argument("--json", metavar="FILE", help="write the report as JSON")
    p.add_argument(
        "--wait-timeout",
        type=float,
        default=5.0,
        metavar="S",
        help="how long to wait for a recorded client message before playing on",
    )
    p.set_defaults(func=cmd_replay)


def cmd_record(args: argparse.Namespace) -> int:
    from ..audio import read_wav
    from ..config import parse_config, resolve_config
    from ..registry import registry
    from ..runner import stream_recording
    from ..session import connect
    from .record import Recorder

    url = parse_config(args.config)
    resolve_config(url, registry.get(url.provider))  # a bad config fails before the file is made
    if args.wav:
        pcm, fmt = read_wav(args.wav)
    else:
        from ..testing import speech_sample

        pcm, fmt = speech_sample()
    print(
        f"record: streaming {args.wav or 'the bundled speech sample'} "
        f"({fmt.duration(len(pcm)):.2f} s); to record from the microphone, "
        "use `voiceadapters talk CONFIG --record FILE`",
        file=sys.stderr,
    )

    async def run() -> Any:
        recorder = Recorder(args.cassette, audio=args.audio, comment=args.comment)
        session = await connect(args.config, input_format=fmt, output_format=fmt, record=recorder)
        return await stream_recording(session, pcm, realtime=not args.fast)

    result = asyncio.run(run())
    print(f"wrote {args.cassette} ({len(result.events)} events)")
    ended = result.ended
    return 0 if ended is not None and ended.reason in ("completed", "client_closed") else 1


def cmd_replay(args: argparse.Namespace) -> int:
    from ..registry import registry
    from .compare import Difference, ReplayReport
    from .format import load
    from .server import REPLAY_KEY, CassetteServer, replay

    cassette = load(args.cassette)

    def show(difference: Difference) -> None:
        print(f"DIFF  {difference}", flush=True)

    async def serve() -> ReplayReport:
        try:
            provider = registry.get(cassette.provider)
            fields, ignore = tuple(provider.wire_audio_fields), tuple(provider.cassette_ignore)
        except Exception:  # replaying a provider that is not installed: messages only
            fields, ignore = (), ()
        host, port = args.listen
        server = CassetteServer(
            cassette,
            host=host,
            port=port,
            pace=args.pace,
            wait_timeout=args.wait_timeout,
            audio_fields=fields,
            provider_ignore=ignore,
            on_difference=show,
        )
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        async with server:
            print(server.config, flush=True)
            print(
                f"replaying {args.cassette} on {host}:{server.port} (pace {args.pace}); any API key "
                f"works (e.g. {REPLAY_KEY}). Ctrl-C stops.",
                file=sys.stderr,
                flush=True,
            )
            done = asyncio.create_task(server.finished.wait())
            stopped = asyncio.create_task(stop.wait())
            await asyncio.wait([done, stopped], return_when=asyncio.FIRST_COMPLETED)
            done.cancel()
            stopped.cancel()
        return server.report

    if args.check:
        report = asyncio.run(replay(cassette, pace=args.pace, wait_timeout=args.wait_timeout))
        lines = report.lines()
    else:
        report = asyncio.run(serve())
        lines = [line for line in report.lines() if not line.startswith("DIFF")]  # shown live
    print("\n".join(lines))
    if args.json:
        Path(args.json).write_text(json.dumps(report.to_json(), indent=2) + "\n", encoding="utf-8")
    return 1 if args.strict and not report.ok else 0
