"""``voiceadapters conformance PROVIDER [--level codec|network|all] [--report FILE]``,
or ``voiceadapters conformance PROVIDER --cassette FILE`` (:mod:`.cassette`)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from voiceadapters.registry import registry

from .framework import LEVELS
from .report import table
from .runner import Result, run_suite

__all__ = ["register_cli"]


def _run(args: argparse.Namespace) -> int:
    provider, transport = registry.get_target(args.provider)
    if args.cassette:
        return _run_cassette(args, provider)
    levels = LEVELS if args.level == "all" else (args.level,)
    if transport not in (None, provider.transports[0]) and args.level == "all":
        levels = ("network",)  # a media transport has no codec level

    def progress(result: Result) -> None:
        if not args.quiet:
            print(
                f"  {result.level:<8} {result.case.id:<5} {result.case.title:<50} {result.verdict}",
                file=sys.stderr,
                flush=True,
            )

    report = run_suite(
        provider, levels, only=args.only or None, progress=progress, transport=transport
    )
    print(table(report))
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(report.to_json(), f, indent=2)
            f.write("\n")
        print(f"\nwrote {args.report}")
    return 1 if report.failed else 0


def _run_cassette(args: argparse.Namespace, provider: Any) -> int:
    from .cassette import run_cassette

    code = 0
    runs = []
    for path in args.cassette:
        run = run_cassette(provider, path)
        runs.append(run.to_json())
        print("\n".join(run.lines()))
        code = code or (1 if run.failed else 0)
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump(runs[0] if len(runs) == 1 else runs, f, indent=2)
            f.write("\n")
        print(f"\nwrote {args.report}")
    return code


def register_cli(subparsers: Any) -> None:
    """Add the ``conformance`` subcommand to the ``voiceadapters`` CLI."""
    p = subparsers.add_parser(
        "conformance", help="run the conformance suite against a provider plugin"
    )
    p.add_argument(
        "provider", metavar="PROVIDER", help="a provider, or provider+transport (name+webrtc)"
    )
    p.add_argument("--level", choices=[*LEVELS, "all"], default="all")
    p.add_argument("--report", metavar="FILE", help="write a JSON report")
    p.add_argument(
        "--only", action="append", metavar="ID", help="a case id or family number; repeatable"
    )
    p.add_argument("--quiet", action="store_true", help="no per-case progress on stderr")
    p.add_argument(
        "--cassette",
        action="append",
        metavar="FILE",
        help="instead of the cases: run the plugin against a recorded cassette; repeatable",
    )
    p.set_defaults(func=_run)
