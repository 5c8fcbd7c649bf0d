"""``voiceadapters bridge``: any client, any provider, and the provider's key never leaves the server.

The bridge is an aiohttp server with one route per *front* — a client
protocol, each a sans-I/O server-side codec (:mod:`voiceadapters_bridge.front`):
OpenAI Realtime (GA) at ``/v1/realtime`` (:mod:`~voiceadapters_bridge.realtime`),
Twilio Media Streams at ``/twilio`` (:mod:`~voiceadapters_bridge.twilio`) and
the bridge's own page at ``/page/`` with its WebSocket at ``/browser``
(:mod:`~voiceadapters_bridge.browser`). Each client connection opens one
provider session with :func:`voiceadapters.connect`, so every installed
plugin works behind every front. ``docs/bridge.md`` is the user guide.

::

    from voiceadapters_bridge import BridgeSettings, create_app
    app = create_app(BridgeSettings("vatel://?agent_id=…", bridge_key=Secret(KEY)))

Importing this package is cheap: the server (aiohttp's ``web``) and the
fronts load on first use (PEP 562). The distribution adds ``bridge`` and
``bridge-token`` to the ``voiceadapters`` command line (:func:`register_cli`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voiceadapters.lazy import lazy_exports

if TYPE_CHECKING:
    from .auth import BRIDGE_KEY_ENV, Refusal, check_credential, mint_token
    from .browser import BrowserFront
    from .front import Front, FrontFacts, OpenSession, SetTimer
    from .realtime import OpenAIRealtimeFront
    from .server import Bridge, BridgeSettings, ClientLink, create_app, drain
    from .twilio import TwilioFront

__all__ = [
    "BRIDGE_KEY_ENV",
    "Bridge",
    "BridgeSettings",
    "BrowserFront",
    "ClientLink",
    "Front",
    "FrontFacts",
    "OpenAIRealtimeFront",
    "OpenSession",
    "Refusal",
    "SetTimer",
    "TwilioFront",
    "check_credential",
    "create_app",
    "drain",
    "mint_token",
    "register_cli",
]

__getattr__ = lazy_exports(
    globals(),
    {
        "BRIDGE_KEY_ENV": "auth",
        "Refusal": "auth",
        "check_credential": "auth",
        "mint_token": "auth",
        "BrowserFront": "browser",
        "Front": "front",
        "FrontFacts": "front",
        "OpenSession": "front",
        "SetTimer": "front",
        "OpenAIRealtimeFront": "realtime",
        "Bridge": "server",
        "BridgeSettings": "server",
        "ClientLink": "server",
        "create_app": "server",
        "drain": "server",
        "TwilioFront": "twilio",
    },
)


def register_cli(subparsers: Any) -> None:
    """Add ``bridge`` and ``bridge-token`` to ``subparsers`` (the
    ``voiceadapters.cli`` entry point)."""
    from .cli import add_commands

    add_commands(subparsers)
