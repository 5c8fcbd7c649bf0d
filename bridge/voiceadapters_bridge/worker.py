"""The gunicorn worker of ``voiceadapters bridge --workers N``: aiohttp's
:class:`~aiohttp.worker.GunicornWebWorker`, which drains the bridge on
SIGTERM before it stops.

aiohttp's worker stops its server as soon as gunicorn tells it to exit, and
from that moment aiohttp reads no more client messages; this one first runs
:func:`voiceadapters_bridge.server.drain` (live sessions go on for up to
``drain_timeout`` seconds, new ones are refused), then exits as aiohttp's
does. gunicorn's ``graceful_timeout`` is set above ``drain_timeout`` by the
CLI, so the master does not kill a draining worker.
"""

from __future__ import annotations

import asyncio
from types import FrameType

from aiohttp import web
from aiohttp.worker import GunicornWebWorker

__all__ = ["BridgeWorker"]


class BridgeWorker(GunicornWebWorker):
    """aiohttp's gunicorn worker, draining the bridge before it exits."""

    _drain: asyncio.Future[None] | None = None

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        from .server import drain

        app: object = self.wsgi  # what load() returned: the bridge's Application
        if not isinstance(app, web.Application) or self._drain is not None:
            super().handle_exit(sig, frame)
            return
        self._drain = asyncio.ensure_future(drain(app))
        self._drain.add_done_callback(lambda _: GunicornWebWorker.handle_exit(self, sig, frame))
