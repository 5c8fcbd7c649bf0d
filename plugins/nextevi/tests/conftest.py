"""Shared fixtures: the provider, the speech sample at 24 kHz, configs and codec pairs.

Everything is real: the NextEVI codec talks to the NextEVI simulator in
memory through :class:`voiceadapters.testing.CodecPair`, on a fake clock, or
over loopback with :func:`voiceadapters.testing.serve_simulator`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from voiceadapters.audio import StreamConverter
from voiceadapters.config import ProviderConfig, parse_config, resolve_config
from voiceadapters.events import Event
from voiceadapters.format import AudioFormat
from voiceadapters.testing import CodecPair, speech_sample
from voiceadapters_nextevi import NextEVICodec, NextEVIProvider, NextEVISimulator, messages

#: A key in NextEVI's ``oak_`` form (the LiveKit plugin insists on the prefix)
#: that must never show up in any output.
API_KEY = "oak_test_DO-NOT-LEAK_5f1e9a7c3b"
#: A fixed connection id, for tests that build codecs by hand.
CONNECTION_ID = "voice_1700000000000_abc123xyz"
#: 20 ms of 24 kHz PCM16.
CHUNK = 960


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


@pytest.fixture(scope="session")
def speech24() -> bytes:
    """The bundled speech sample (3.3 s) converted to the 24 kHz wire format,
    then 1 s of silence, so that the simulated agent's end-of-speech detector
    (0.7 s hangover) fires within it."""
    pcm, fmt = speech_sample()
    conv = StreamConverter(fmt, AudioFormat(24000))
    return conv.convert(pcm) + conv.flush() + bytes(48000)


@pytest.fixture(scope="session")
def provider() -> NextEVIProvider:
    return NextEVIProvider()


ConfigFactory = Callable[..., ProviderConfig]


@pytest.fixture
def make_config(provider: NextEVIProvider) -> ConfigFactory:
    """``make_config(config_string, **options)`` resolved with :data:`API_KEY`
    and an empty environment (the caller's ``NEXTEVI_API_KEY`` never leaks in)."""

    def make(config: str, *, api_key: str | None = API_KEY, **options: Any) -> ProviderConfig:
        return resolve_config(
            parse_config(config), provider, api_key=api_key, environ={}, **options
        )

    return make


PairFactory = Callable[..., CodecPair]


@pytest.fixture
def make_pair(provider: NextEVIProvider, make_config: ConfigFactory) -> PairFactory:
    """``make_pair(scenario, *, pace=1.0, intercept=None, options=None, key=API_KEY,
    **simulator_kwargs)``: a codec/simulator pair after the handshake."""

    def make(
        scenario: str = "echo",
        *,
        pace: float = 1.0,
        intercept: Any = None,
        options: dict[str, Any] | None = None,
        key: str = API_KEY,
        **simulator_kwargs: Any,
    ) -> CodecPair:
        simulator = NextEVISimulator(API_KEY, scenario=scenario, pace=pace, **simulator_kwargs)
        config = make_config(
            provider.simulator_config("127.0.0.1", 8765, simulator), api_key=key, **(options or {})
        )
        return CodecPair(provider.make_codec(config), simulator, intercept=intercept)

    return make


@pytest.fixture
def make_codec(make_config: ConfigFactory) -> Callable[..., NextEVICodec]:
    """``make_codec(**options)``: an opened codec with a fixed connection id
    whose ``session_settings`` was already drained, at time 0."""

    def make(**options: Any) -> NextEVICodec:
        codec = NextEVICodec(
            make_config("nextevi://?config_id=cfg-1", **options), connection_id=CONNECTION_ID
        )
        codec.handshake_step()
        codec.connection_opened()
        codec.handle_timer(0.0)
        codec.frames_to_send()
        return codec

    return make


@pytest.fixture
def open_codec(make_codec: Callable[..., NextEVICodec]) -> NextEVICodec:
    return make_codec()


def feed(codec: NextEVICodec, *frames: dict[str, Any] | str | bytes) -> list[Event]:
    """Feed server frames (message dicts are encoded) and drain the events."""
    for frame in frames:
        codec.receive_frame(messages.encode(frame) if isinstance(frame, dict) else frame)
    return codec.events_received()


@pytest.fixture
def feed_frames() -> Callable[..., list[Event]]:
    """:func:`feed` as a fixture (test modules cannot import conftest)."""
    return feed
