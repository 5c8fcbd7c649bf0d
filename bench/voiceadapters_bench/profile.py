"""Bench profiles: one protocol's steady state, declared by the plugin that speaks it.

The bench knows no protocol. For each provider it benches, it loads a
:class:`BenchProfile` from the entry-point group ``voiceadapters.bench_profiles``
(entry-point name = provider name, value = a profile instance, e.g.
``voiceadapters_myprovider.bench:PROFILE``). A profile says two things:

* what the **bench server** plays (:mod:`voiceadapters_bench.server`): the
  messages it sends when a WebSocket opens (:attr:`~BenchProfile.open_messages`)
  and after the client's first message (:attr:`~BenchProfile.first_messages`),
  the agent-audio message it repeats every 20 ms (:meth:`~BenchProfile.agent_audio`),
  and the WebSocket path its token answer points to (:attr:`~BenchProfile.ws_path`);
* how the **floor**, the hand-written client the framework is compared with
  (:mod:`voiceadapters_bench.floor`), talks: its handshake
  (:meth:`~BenchProfile.handshake`), how a frame of microphone audio goes on
  the wire (:meth:`~BenchProfile.mic_audio`) and where agent audio is in a
  server message (:meth:`~BenchProfile.agent_pcm`).

The framework side needs none of it: it is the plugin itself, through
:func:`voiceadapters.connect`. Write a profile from the protocol's wire
specification, not from the plugin's code, so that a plugin that drifts from
its protocol fails the bench's sanity check (no agent audio arrives) instead
of silently benchmarking something else.

The bench server is protocol-blind beyond the profile: every HTTP ``POST``
(any path) answers ``{"token": TOKEN, "ws_url": "ws://HOST:PORT" + ws_path}``,
and every WebSocket upgrade (any path, any headers) is accepted. Its stalled-
consumer test also sends a JSON text message ``{"type": "bench_marker", "data":
{"seq": N}}`` now and then, which the plugin should report as an
:class:`~voiceadapters.events.UnknownMessage`.
"""

from __future__ import annotations

import base64
import math
from abc import ABC, abstractmethod
from importlib.metadata import entry_points
from typing import Any, Union

import numpy as np
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

__all__ = [
    "API_KEY",
    "ENTRY_POINT_GROUP",
    "TOKEN",
    "BenchProfile",
    "Message",
    "Peer",
    "load_profile",
    "server_spec",
    "tone_frame",
]

#: The entry-point group a plugin declares its profile in (name = provider name).
ENTRY_POINT_GROUP = "voiceadapters.bench_profiles"

#: The key every bench client presents; the bench server accepts anything.
API_KEY = "bench-key"
#: The token every bench-server ``POST`` answers with.
TOKEN = "bench-token"

#: One WebSocket message: ``str`` for a text frame, ``bytes`` for a binary one.
Message = Union[str, bytes]  # noqa: UP007  (a runtime alias; Python 3.10 has no ``type``)

#: The core's WebSocket settings (:class:`voiceadapters.handshake.WebSocketRequest`,
#: :class:`voiceadapters.transports.network.NetworkTransport`): no compression,
#: the same keepalive and size limit.
WS_SETTINGS: dict[str, Any] = {
    "compression": None,
    "max_size": 16 * 1024 * 1024,
    "ping_interval": 20.0,
    "ping_timeout": 20.0,
    "open_timeout": 10.0,
    "close_timeout": 5.0,
}


def tone_frame(rate: int, ms: int = 20, hz: float = 400.0, dbfs: float = -20.0) -> bytes:
    """``ms`` of a sine as 16-bit little-endian PCM at ``rate``.

    400 Hz fits a whole number of periods in 20 ms, so repeating the frame is
    a continuous tone.
    """
    n = rate * ms // 1000
    amp = 32768 * 10 ** (dbfs / 20)
    t = np.arange(n) / rate
    return bytes(np.rint(amp * np.sin(2 * math.pi * hz * t)).astype("<i2").tobytes())


class Peer:
    """The bench server, as a profile's :meth:`~BenchProfile.handshake` reaches it."""

    def __init__(self, host: str, port: int, api_key: str = API_KEY) -> None:
        self.host = host
        self.port = port
        #: The key to present (the bench server accepts any).
        self.api_key = api_key

    def http_url(self, path: str) -> str:
        """``http://HOST:PORT`` + ``path``."""
        return f"http://{self.host}:{self.port}{path}"

    def ws_url(self, path: str) -> str:
        """``ws://HOST:PORT`` + ``path``."""
        return f"ws://{self.host}:{self.port}{path}"

    async def post_json(
        self, url: str, body: Any = None, headers: dict[str, str] | None = None
    ) -> dict[str, Any]:
        """``POST`` ``body`` as JSON (``None``: no body) and return the JSON object answered."""
        import aiohttp

        async with (
            aiohttp.ClientSession() as http,
            http.post(url, json=body, headers=headers) as resp,
        ):
            data = await resp.json(content_type=None)
        if not isinstance(data, dict):
            raise ValueError(f"the bench server answered {type(data).__name__}, not an object")
        return data

    async def websocket(self, url: str, headers: dict[str, str] | None = None) -> ClientConnection:
        """Open a ``websockets`` client connection with the core's settings."""
        return await ws_connect(url, additional_headers=headers, **WS_SETTINGS)


class BenchProfile(ABC):
    """One protocol's steady state for ``voiceadapters bench``; see the module docstring.

    Subclass it in the plugin (``bench.py``), set the class attributes, write
    the four methods, and declare an instance under the entry-point group
    :data:`ENTRY_POINT_GROUP`. Every message is a :data:`Message` (``str``:
    text frame, ``bytes``: binary frame). PCM is 16-bit little-endian mono.
    """

    #: Sample rate of the microphone audio on the wire (Hz).
    wire_in: int
    #: Sample rate of the agent audio on the wire (Hz).
    wire_out: int
    #: Path of the WebSocket URL the bench server's token answer holds (``ws_url``).
    ws_path: str = "/ws"
    #: What the server sends as soon as the WebSocket opens.
    open_messages: tuple[Message, ...] = ()
    #: What the server sends after the client's first message (and only then
    #: starts streaming audio). Empty: it streams from the opening on.
    first_messages: tuple[Message, ...] = ()

    @abstractmethod
    def agent_audio(self, pcm: bytes) -> Message:
        """The server message carrying ``pcm`` (20 ms of agent audio at :attr:`wire_out`).

        The bench server builds it once and sends it every 20 ms.
        """

    @abstractmethod
    async def handshake(self, peer: Peer) -> ClientConnection:
        """The floor's handshake against ``peer``: token request, WebSocket,
        first messages — everything before audio flows. Return the connection."""

    @abstractmethod
    def mic_audio(self, pcm: bytes) -> Message:
        """The client message carrying ``pcm`` (microphone audio at :attr:`wire_in`)."""

    @abstractmethod
    def agent_pcm(self, message: Message) -> bytes | None:
        """The agent audio in the server message ``message``, or ``None`` when it holds none."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(wire_in={self.wire_in}, wire_out={self.wire_out})"


def load_profile(provider: str) -> BenchProfile | str:
    """The installed profile of ``provider``, or why there is none (a sentence)."""
    found = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == provider]
    if not found:
        return (
            f"no bench profile: no entry point {provider!r} in the group {ENTRY_POINT_GROUP!r} "
            f"(install the plugin's 'bench' extra, or see 'Benchmarking your plugin' in the docs)"
        )
    ep = found[0]
    try:
        profile = ep.load()
    except Exception as exc:
        return f"its bench profile {ep.value!r} failed to load: {type(exc).__name__}: {exc}"
    if not isinstance(profile, BenchProfile):
        return f"its bench profile {ep.value!r} is a {type(profile).__name__}, not a BenchProfile"
    return profile


def server_spec(profile: BenchProfile) -> dict[str, Any]:
    """What :mod:`voiceadapters_bench.server` needs to play ``profile`` (JSON-ready)."""

    def item(message: Message) -> list[Any]:
        text = isinstance(message, str)
        payload = message.encode() if isinstance(message, str) else bytes(message)
        return [text, base64.b64encode(payload).decode("ascii")]

    return {
        "open": [item(m) for m in profile.open_messages],
        "on_first": [item(m) for m in profile.first_messages],
        "audio": item(profile.agent_audio(tone_frame(profile.wire_out))),
        "ws_path": profile.ws_path,
        "token": TOKEN,
    }
