"""``voiceadapters bridge PROVIDER_CONFIG`` and ``voiceadapters bridge-token``.

Secrets come from the environment only: the provider's key from its own
variable (or the config string's ``api_key``), the bridge key from
``VOICEADAPTERS_BRIDGE_KEY``. Nothing here prints either.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import time
from collections.abc import Sequence
from typing import Any

from voiceadapters.config import is_loopback
from voiceadapters.errors import VoiceAdaptersError
from voiceadapters.secrets import Secret

from .auth import BRIDGE_KEY_ENV, MAX_TOKEN_TTL, mint_token

__all__ = ["add_commands", "main"]


def _fail(message: str, code: int = 2) -> int:
    print(f"voiceadapters bridge: error: {message}", file=sys.stderr)
    return code


def _listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit():
        raise argparse.ArgumentTypeError(f"--listen is HOST:PORT, not {value!r}")
    return host.strip("[]") or "127.0.0.1", int(port)


def _option(value: str) -> tuple[str, str]:
    name, sep, text = value.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"--option is NAME=VALUE, not {value!r}")
    return name, text


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", metavar="PROVIDER_CONFIG", help="the provider's config string")
    p.add_argument(
        "--listen",
        type=_listen,
        default=("127.0.0.1", 8080),
        metavar="HOST:PORT",
        help="where to listen (default 127.0.0.1:8080; port 0: any free port)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="run N processes with gunicorn and aiohttp's worker (needs the gunicorn extra)",
    )
    p.add_argument(
        "--allow-origin",
        action="append",
        default=[],
        metavar="ORIGIN",
        help="a browser origin allowed besides the bridge's own (repeatable; '*': any)",
    )
    p.add_argument(
        "--client-option",
        action="append",
        default=[],
        metavar="NAME",
        help="an agent option clients may choose (Twilio custom parameters, the page's query)",
    )
    p.add_argument("--max-message", type=int, default=64 * 1024, metavar="BYTES")
    p.add_argument(
        "--max-rate",
        type=float,
        default=100.0,
        metavar="PER_SECOND",
        help="client messages per second, sustained (burst: twice as many)",
    )
    p.add_argument("--max-session", type=float, default=3600.0, metavar="SECONDS")
    p.add_argument("--max-sessions", type=int, default=100, metavar="N", help="per process")
    p.add_argument("--start-timeout", type=float, default=10.0, metavar="SECONDS")
    p.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="on SIGTERM, how long live sessions may go on before they are ended",
    )
    p.add_argument(
        "--dtmf-as-text",
        action="store_true",
        help="send Twilio DTMF digits to the agent as user text (providers with text input)",
    )
    p.add_argument("--no-page", action="store_true", help="do not serve the browser page")
    p.add_argument(
        "--no-auth",
        action="store_true",
        help=f"accept clients without a key or token (loopback only; else set {BRIDGE_KEY_ENV})",
    )


def settings_from_args(args: argparse.Namespace) -> Any:
    from .server import BridgeSettings

    host, _ = args.listen
    key = os.environ.get(BRIDGE_KEY_ENV)
    if not key and not args.no_auth:
        raise VoiceAdaptersError(
            f"set {BRIDGE_KEY_ENV} (clients authenticate with it or with tokens it signs), "
            "or pass --no-auth on loopback"
        )
    if args.no_auth and not is_loopback(host):
        raise VoiceAdaptersError(
            "--no-auth is for loopback only: set a bridge key to listen on other hosts"
        )
    return BridgeSettings(
        provider_config=args.config,
        bridge_key=None if args.no_auth else Secret(key or ""),
        allow_origins=tuple(args.allow_origin),
        client_options=tuple(args.client_option),
        max_message=args.max_message,
        max_rate=args.max_rate,
        rate_burst=max(1, int(args.max_rate * 2)),
        max_session=args.max_session,
        max_sessions=args.max_sessions,
        start_timeout=args.start_timeout,
        drain_timeout=args.drain_timeout,
        page=not args.no_page,
        dtmf_as_text=args.dtmf_as_text,
    )


def cmd_bridge(args: argparse.Namespace) -> int:
    settings = settings_from_args(args)
    from .server import create_app

    create_app(settings)  # fail fast on a bad config, before forking workers
    host, port = args.listen
    if args.workers > 1:
        return _run_gunicorn(settings, host, port, args.workers)
    asyncio.run(_serve(settings, host, port))
    return 0


async def _serve(settings: Any, host: str, port: int) -> None:
    from aiohttp import web

    from .server import BRIDGE, create_app, drain

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    app = create_app(settings)
    _log_to_stderr(app[BRIDGE].log_filter())
    runner = web.AppRunner(
        app, handle_signals=False, access_log=None, shutdown_timeout=settings.drain_timeout + 10.0
    )
    await runner.setup()
    # Bind the socket here so that port 0 resolves to a port we can print.
    sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    bound = sock.getsockname()[1]
    await web.SockSite(runner, sock).start()
    print(f"bridge: listening on http://{host}:{bound}", flush=True)
    print(
        f"bridge: fronts /v1/realtime, /twilio and /browser; page http://{host}:{bound}/page/; "
        "SIGTERM drains. Ctrl-C stops.",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
        print("bridge: draining", file=sys.stderr, flush=True)
        # Before the runner's cleanup: from its first step on aiohttp reads
        # no more client messages, and draining sessions still need theirs.
        await drain(app)
    finally:
        await runner.cleanup()
    print("bridge: stopped", file=sys.stderr, flush=True)


def _log_to_stderr(scrub: logging.Filter) -> None:
    """INFO and above to stderr, every record (the core's too) through the
    bridge's secret filter."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(scrub)
    root = logging.getLogger()
    root.addHandler(handler)
    if root.level > logging.INFO or root.level == logging.NOTSET:
        root.setLevel(logging.INFO)


def _run_gunicorn(settings: Any, host: str, port: int, workers: int) -> int:
    try:
        from gunicorn.app.base import BaseApplication
    except ImportError:
        return _fail("--workers needs gunicorn: pip install 'voiceadapters-bridge[gunicorn]'")

    from .server import BRIDGE, create_app

    class _Application(BaseApplication):
        """gunicorn's master; each worker (aiohttp's GunicornWebWorker) builds its own app."""

        def load_config(self) -> None:
            bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            for name, value in {
                "bind": bind,
                "workers": workers,
                "worker_class": "voiceadapters_bridge.worker.BridgeWorker",
                "graceful_timeout": int(settings.drain_timeout + 10),
                "proc_name": "voiceadapters-bridge",
                "accesslog": None,
            }.items():
                self.cfg.set(name, value)

        def load(self) -> Any:
            app = create_app(settings)
            _log_to_stderr(app[BRIDGE].log_filter())
            return app

    _Application().run()
    return 0


def cmd_token(args: argparse.Namespace) -> int:
    key = os.environ.get(BRIDGE_KEY_ENV)
    if not key:
        return _fail(f"set {BRIDGE_KEY_ENV}: tokens are signed with the bridge key")
    try:
        token, expires = mint_token(
            Secret(key), ttl=args.ttl, now=time.time(), options=dict(args.option)
        )
    except ValueError as exc:
        return _fail(str(exc))
    print(token)
    print(
        f"bridge-token: valid for {args.ttl:g} s (until {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(expires))})",
        file=sys.stderr,
    )
    return 0


def add_commands(sub: Any) -> None:
    p = sub.add_parser(
        "bridge",
        help="serve OpenAI Realtime clients, Twilio Media Streams and a browser page in front "
        "of a provider",
        description="A server in front of one provider: clients connect with their own protocol "
        "(OpenAI Realtime at /v1/realtime, Twilio Media Streams at /twilio, the page at /page/), "
        "the provider's key stays here.",
    )
    add_arguments(p)
    p.set_defaults(func=cmd_bridge)
    t = sub.add_parser("bridge-token", help="mint a short-lived client token for the bridge")
    t.add_argument("--ttl", type=float, default=300.0, help=f"seconds (at most {MAX_TOKEN_TTL:g})")
    t.add_argument(
        "--option",
        type=_option,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="an agent option the token carries (repeatable)",
    )
    t.set_defaults(func=cmd_token)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m voiceadapters_bridge")
    add_commands(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
        return code
    except VoiceAdaptersError as exc:
        return _fail(str(exc))
    except KeyboardInterrupt:
        return 130
