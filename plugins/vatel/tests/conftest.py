"""Shared fixtures: the provider, a speech-like test signal, configs, codec pairs
and loopback servers.

Everything is real: the Vatel codec talks to the Vatel simulator in memory
through :class:`voiceadapters.testing.CodecPair`, on a fake clock, or over real
HTTP and WebSocket on 127.0.0.1 (:func:`serve`).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from voiceadapters.config import ProviderConfig, parse_config, resolve_config
from voiceadapters.events import Event
from voiceadapters.handshake import HttpResponse
from voiceadapters.simulator.base import Simulator
from voiceadapters.simulator.server import SimulatorServer
from voiceadapters.testing import CodecPair, serve_simulator
from voiceadapters_vatel import VatelCodec, VatelProvider, VatelSimulator, messages

API_KEY = "sk-test-0123456789abcdef"
SAMPLE_RATE = 24000
#: 20 ms of 24 kHz PCM16, the chunk size of the PY SDK's CLI example.
CHUNK = 960


@dataclass(frozen=True)
class Speech:
    """A test utterance: silence, a voiced segment, silence (PCM16 24 kHz)."""

    pcm: bytes = field(repr=False)
    voiced_start: int  # byte offsets of the voiced segment
    voiced_end: int


def make_speech(
    voiced: float = 1.2, lead: float = 0.3, tail: float = 1.0, f0: float = 140.0
) -> Speech:
    """A speech-like signal: a few harmonics of ``f0`` under a syllable-rate
    amplitude envelope, peaking at -12 dBFS, between silences (the tail is
    longer than the simulated agent's 0.7 s end-of-speech hangover)."""
    t = np.arange(int(voiced * SAMPLE_RATE)) / SAMPLE_RATE
    tone = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 6))
    ramp = np.minimum(1.0, np.minimum(t / 0.05, (voiced - t) / 0.05))
    syllables = 0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t) ** 2
    x = tone * ramp * syllables
    x = x / np.max(np.abs(x)) * 10 ** (-12 / 20)
    lead_n, tail_n = int(lead * SAMPLE_RATE), int(tail * SAMPLE_RATE)
    samples = np.concatenate([np.zeros(lead_n), x, np.zeros(tail_n)])
    pcm = np.rint(samples * 32767).astype("<i2").tobytes()
    return Speech(pcm, lead_n * 2, (lead_n + len(t)) * 2)


@pytest.fixture(scope="session")
def speech() -> Speech:
    return make_speech()


@pytest.fixture(scope="session")
def provider() -> VatelProvider:
    return VatelProvider()


ConfigFactory = Callable[..., ProviderConfig]


@pytest.fixture
def make_config(provider: VatelProvider) -> ConfigFactory:
    """``make_config(config_string, **options)`` resolved with :data:`API_KEY`
    and an empty environment (the caller's ``VATEL_API_KEY`` never leaks in)."""

    def make(config: str, *, api_key: str | None = API_KEY, **options: Any) -> ProviderConfig:
        return resolve_config(
            parse_config(config), provider, api_key=api_key, environ={}, **options
        )

    return make


PairFactory = Callable[..., CodecPair]


@pytest.fixture
def make_pair(provider: VatelProvider, make_config: ConfigFactory) -> PairFactory:
    """``make_pair(scenario, *, pace=1.0, intercept=None, **simulator_kwargs)``:
    a handshaken codec/simulator pair."""

    def make(
        scenario: str = "echo",
        *,
        pace: float = 1.0,
        intercept: Any = None,
        **simulator_kwargs: Any,
    ) -> CodecPair:
        simulator = VatelSimulator(API_KEY, scenario=scenario, pace=pace, **simulator_kwargs)
        config = make_config(provider.simulator_config("127.0.0.1", 8765, simulator))
        return CodecPair(provider.make_codec(config), simulator, intercept=intercept)

    return make


@pytest.fixture
def open_codec(provider: VatelProvider, make_config: ConfigFactory) -> VatelCodec:
    """A codec whose handshake completed against hand-made responses (no simulator)."""
    codec = provider.make_codec(make_config("vatel://?agent_id=agent-1"))
    codec.handshake_step()
    codec.receive_http_response(HttpResponse(200, b'{"token":"jwt-1"}'))
    codec.handshake_step()
    codec.connection_opened()
    return codec


def feed(codec: VatelCodec, *frames: dict[str, Any] | str | bytes) -> list[Event]:
    """Feed server frames (message dicts are encoded) and drain the events."""
    for frame in frames:
        codec.receive_frame(messages.encode(frame) if isinstance(frame, dict) else frame)
    return codec.events_received()


@pytest.fixture
def feed_frames() -> Callable[..., list[Event]]:
    """:func:`feed` as a fixture (test modules cannot import conftest)."""
    return feed


@pytest.fixture
def api_key() -> str:
    return API_KEY


def types(events: list[Event]) -> list[str]:
    """Event types with consecutive repeats collapsed."""
    out: list[str] = []
    for event in events:
        if not out or out[-1] != event.type:
            out.append(event.type)
    return out


@pytest.fixture
def collapse() -> Callable[[list[Event]], list[str]]:
    return types


# -- loopback --------------------------------------------------------------------------

#: The loopback simulator's key (a key that must never show up in any output).
LOOPBACK_KEY = "sk-test-DO-NOT-LEAK-7f3a9c1e5b"


@contextlib.asynccontextmanager
async def serve(
    *, scenario: str | None = None, pace: float = 0.0, api_key: str = LOOPBACK_KEY
) -> AsyncIterator[tuple[SimulatorServer, str, Simulator]]:
    """The Vatel simulator on 127.0.0.1 (``pace=0``: audio unpaced):
    ``(server, config string, simulator)``."""
    async with serve_simulator("vatel", api_key=api_key, scenario=scenario, pace=pace) as served:
        yield served


@pytest.fixture
def serve_sim() -> Callable[..., Any]:
    """:func:`serve` as a fixture."""
    return serve
