"""Shared fixtures: the provider, configs, codec pairs and loopback helpers.

Everything is real: the binary-PCM codec talks to the binary-PCM simulator in
memory through :class:`voiceadapters.testing.CodecPair` on a fake clock, or
over real HTTP and WebSocket on 127.0.0.1. The only twists are two transports
that *misbehave on purpose* around the real network one (a client that sends
a wrong first message, or replays an old token), because the real codec never
does either.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from voiceadapters.config import ProviderConfig, parse_config, resolve_config
from voiceadapters.events import Event
from voiceadapters.handshake import CloseFrame, Frame, HttpRequest, HttpResponse, WebSocketRequest
from voiceadapters.simulator.server import SimulatorServer
from voiceadapters.testing import CodecPair
from voiceadapters.transports.base import Connection
from voiceadapters.transports.network import NetworkTransport
from voiceadapters_binary_pcm import BinaryPcmCodec, BinaryPcmProvider, BinaryPcmSimulator, messages

#: A key that must never show up in any output.
API_KEY = "sk-bpcm-test-DO-NOT-LEAK-91c3e7"


@pytest.fixture(scope="session")
def provider() -> BinaryPcmProvider:
    return BinaryPcmProvider()


@pytest.fixture
def api_key() -> str:
    return API_KEY


ConfigFactory = Callable[..., ProviderConfig]


@pytest.fixture
def make_config(provider: BinaryPcmProvider) -> ConfigFactory:
    """``make_config(config_string, **options)`` resolved with :data:`API_KEY`
    and an empty environment (the caller's ``BINARY_PCM_API_KEY`` never leaks in)."""

    def make(config: str, *, api_key: str | None = API_KEY, **options: Any) -> ProviderConfig:
        return resolve_config(
            parse_config(config), provider, api_key=api_key, environ={}, **options
        )

    return make


PairFactory = Callable[..., CodecPair]


@pytest.fixture
def make_pair(provider: BinaryPcmProvider, make_config: ConfigFactory) -> PairFactory:
    """``make_pair(scenario, *, pace=0, options=None, intercept=None, **simulator_kwargs)``:
    a handshaken codec/simulator pair (``options``: codec options such as
    ``preconnect_buffer_seconds``)."""

    def make(
        scenario: str = "echo",
        *,
        pace: float = 0.0,
        options: dict[str, Any] | None = None,
        intercept: Any = None,
        **simulator_kwargs: Any,
    ) -> CodecPair:
        simulator = BinaryPcmSimulator(API_KEY, scenario=scenario, pace=pace, **simulator_kwargs)
        config = make_config(
            provider.simulator_config("127.0.0.1", 8765, simulator), **(options or {})
        )
        return CodecPair(provider.make_codec(config), simulator, intercept=intercept)

    return make


def open_codec_for(
    provider: BinaryPcmProvider,
    config: ProviderConfig,
    ws_url: str = "ws://127.0.0.1:1/api/v1/sdk/ws",
) -> BinaryPcmCodec:
    """A codec whose WebSocket is open (token sent), fed hand-made responses."""
    codec = provider.make_codec(config)
    codec.handshake_step()
    body = messages.encode(messages.token_response("jwt-1", ws_url)).encode()
    codec.receive_http_response(HttpResponse(200, body))
    codec.handshake_step()
    codec.connection_opened()
    codec.frames_to_send()  # the token
    return codec


@pytest.fixture
def open_codec(provider: BinaryPcmProvider, make_config: ConfigFactory) -> BinaryPcmCodec:
    """A codec that sent its token and waits for ``connected`` (no simulator)."""
    return open_codec_for(provider, make_config("binary-pcm://127.0.0.1:1?tls=false"))


@pytest.fixture
def connected_codec(open_codec: BinaryPcmCodec) -> BinaryPcmCodec:
    """:func:`open_codec` after the server's ``connected`` (events drained)."""
    open_codec.receive_frame(messages.encode(messages.connected()))
    open_codec.events_received()
    return open_codec


def feed(codec: BinaryPcmCodec, *frames: dict[str, Any] | Frame | CloseFrame) -> list[Event]:
    """Feed server frames (message dicts are encoded; a ``CloseFrame`` is the
    server's close) and drain the events."""
    for frame in frames:
        if isinstance(frame, CloseFrame):
            codec.receive_closed(frame.code, frame.reason)
        else:
            codec.receive_frame(messages.encode(frame) if isinstance(frame, dict) else frame)
    return codec.events_received()


@pytest.fixture
def feed_frames() -> Callable[..., list[Event]]:
    """:func:`feed` as a fixture (test modules cannot import conftest)."""
    return feed


# -- loopback --------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def serve(
    **simulator_kwargs: Any,
) -> AsyncIterator[tuple[SimulatorServer, str, BinaryPcmSimulator]]:
    """A :class:`BinaryPcmSimulator` (``pace=0`` unless given) on 127.0.0.1:
    ``(server, config string, simulator)``."""
    simulator_kwargs.setdefault("pace", 0.0)
    simulator = BinaryPcmSimulator(API_KEY, **simulator_kwargs)
    async with SimulatorServer(simulator, "127.0.0.1", 0) as server:
        yield (
            server,
            BinaryPcmProvider().simulator_config("127.0.0.1", server.port, simulator),
            simulator,
        )


@pytest.fixture
def serve_sim() -> Callable[..., Any]:
    """:func:`serve` as a fixture."""
    return serve


class _FirstFrameRewritten(Connection):
    """A real connection whose first outgoing message is replaced (``None``: dropped)."""

    def __init__(self, inner: Connection, first: Frame | None) -> None:
        self._inner = inner
        self._first: list[Frame | None] = [first]

    async def send(self, frame: Frame) -> None:
        if self._first:
            replacement = self._first.pop()
            if replacement is not None:
                await self._inner.send(replacement)
            return
        await self._inner.send(frame)

    async def recv(self) -> Frame:
        return await self._inner.recv()

    async def close(self, code: int = 1000, reason: str = "") -> None:
        await self._inner.close(code, reason)

    async def abort(self) -> None:
        await self._inner.abort()


class FirstFrameTransport(NetworkTransport):
    """The network, but the client's first WebSocket message (the token) is
    replaced by ``first`` — or never sent when ``first`` is ``None``."""

    def __init__(self, first: Frame | None) -> None:
        super().__init__()
        self.first = first

    async def websocket(self, request: WebSocketRequest, *, provider: str) -> Connection:
        return _FirstFrameRewritten(await super().websocket(request, provider=provider), self.first)


class ReplayTokenTransport(NetworkTransport):
    """The network, but every token request after the first is answered with
    the first answer (a client that caches and reuses its token)."""

    def __init__(self) -> None:
        super().__init__()
        self.first_answer: HttpResponse | None = None

    async def http(self, request: HttpRequest, *, provider: str) -> HttpResponse:
        if self.first_answer is None:
            self.first_answer = await super().http(request, provider=provider)
        return self.first_answer


@pytest.fixture
def first_frame_transport() -> type[FirstFrameTransport]:
    return FirstFrameTransport


@pytest.fixture
def replay_token_transport() -> type[ReplayTokenTransport]:
    return ReplayTokenTransport
