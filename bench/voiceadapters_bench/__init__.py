"""``voiceadapters bench``: what the adapter layer costs, next to a hand-written floor.

Each figure is measured side by side with a minimal hand-written client for
the same protocol (the *floor*, :mod:`voiceadapters_bench.floor`) in the
same run, on 127.0.0.1, against a bench server in another process
(:mod:`voiceadapters_bench.server`), so the figures are ratios that hold on
a noisy machine. The bench knows no protocol: each plugin declares its
protocol's steady state as a :class:`BenchProfile` under the entry-point
group ``voiceadapters.bench_profiles`` (:mod:`voiceadapters_bench.profile`).
The voiceadapters docs (``docs/benchmarks.md``) say what each figure means
and have the latest results.

The distribution adds ``bench`` to the ``voiceadapters`` command line
through the ``voiceadapters.cli`` entry point (:func:`register_cli`);
``python -m voiceadapters_bench`` runs the same command.
"""

from __future__ import annotations

import argparse
from typing import Any

from websockets.asyncio.client import ClientConnection

from .profile import API_KEY, ENTRY_POINT_GROUP, BenchProfile, Message, Peer, tone_frame

__all__ = [
    "API_KEY",
    "ENTRY_POINT_GROUP",
    "BenchProfile",
    "ClientConnection",
    "Message",
    "Peer",
    "add_arguments",
    "main",
    "register_cli",
    "run_from_args",
    "tone_frame",
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``bench`` options, shared by ``voiceadapters bench`` and ``python -m voiceadapters_bench``."""
    parser.add_argument("--json", metavar="FILE", help="write every figure as JSON to FILE")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="tiny loads and windows (under a minute): proves the command works; "
        "the figures mean little",
    )
    parser.add_argument(
        "--provider",
        action="append",
        metavar="NAME",
        help="bench only this provider (repeatable; default: every installed one)",
    )
    parser.add_argument(
        "--only",
        choices=["bridge"],
        help="run one section alone: 'bridge' = sessions per core through the bridge "
        "and its Twilio leg per frame (needs voiceadapters-bridge)",
    )
    parser.add_argument(
        "--skip",
        action="append",
        choices=["bridge"],
        default=[],
        help="leave a section out (repeatable): 'bridge'",
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Run the bench as the parsed ``args`` say; exit status 0."""
    from .runner import run_bench

    run_bench(
        quick=args.quick,
        providers=args.provider,
        json_path=args.json,
        only=args.only,
        skip=args.skip,
    )
    return 0


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``bench`` subcommand to ``subparsers`` (``parser.add_subparsers()``).

    The subcommand's ``func`` default is :func:`run_from_args`, as the other
    ``voiceadapters`` subcommands do.
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "bench",
        help="measure what the adapter layer costs next to a hand-written client",
        description="CPU, density, latency, resampler, memory and import figures, "
        "each beside a minimal hand-written client's (the floor), on 127.0.0.1; "
        "with voiceadapters-bridge installed, the bridge's figures too.",
    )
    add_arguments(parser)
    parser.set_defaults(func=run_from_args)
    return parser


def main(argv: list[str] | None = None) -> int:
    """``python -m voiceadapters_bench [--json FILE] [--quick] [--provider P …] [--only bridge] [--skip bridge]``."""
    parser = argparse.ArgumentParser(prog="python -m voiceadapters_bench")
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))
