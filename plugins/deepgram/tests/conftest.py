"""Shared fixtures: the provider, speech at the wire rate, configs and codec pairs.

Everything is real: the Deepgram codec talks to the Deepgram simulator in
memory through :class:`voiceadapters.testing.CodecPair` on a fake clock, or
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
from voiceadapters_deepgram import DeepgramCodec, DeepgramProvider, DeepgramSimulator, messages

#: A key that must never show up in any output.
API_KEY = "dg_test_DO-NOT-LEAK_4b7c19e2d0"


@pytest.fixture(scope="session")
def api_key() -> str:
    return API_KEY


def to_rate(pcm: bytes, src: AudioFormat, rate: int) -> bytes:
    conv = StreamConverter(src, AudioFormat(rate))
    return conv.convert(pcm) + conv.flush()


@pytest.fixture(scope="session")
def speech16() -> bytes:
    """The bundled speech sample (3.3 s, 16 kHz, the wire input rate), then
    1 s of silence, so that the simulated agent's end of speech (0.7 s) fires."""
    pcm, _ = speech_sample()
    return pcm + bytes(32000)


@pytest.fixture(scope="session")
def provider() -> DeepgramProvider:
    return DeepgramProvider()


ConfigFactory = Callable[..., ProviderConfig]


@pytest.fixture
def make_config(provider: DeepgramProvider) -> ConfigFactory:
    """``make_config(config_string, **options)`` resolved with :data:`API_KEY`
    and an empty environment (the caller's ``DEEPGRAM_API_KEY`` never leaks in)."""

    def make(config: str, *, api_key: str | None = API_KEY, **options: Any) -> ProviderConfig:
        return resolve_config(
            parse_config(config), provider, api_key=api_key, environ={}, **options
        )

    return make


PairFactory = Callable[..., CodecPair]


@pytest.fixture
def make_pair(provider: DeepgramProvider, make_config: ConfigFactory) -> PairFactory:
    """``make_pair(scenario, *, pace=1.0, intercept=None, options=None, key=API_KEY)``:
    a codec/simulator pair after the handshake."""

    def make(
        scenario: str = "echo",
        *,
        pace: float = 1.0,
        intercept: Any = None,
        options: dict[str, Any] | None = None,
        key: str = API_KEY,
    ) -> CodecPair:
        simulator = DeepgramSimulator(API_KEY, scenario=scenario, pace=pace)
        config = make_config(
            provider.simulator_config("127.0.0.1", 8765, simulator), api_key=key, **(options or {})
        )
        return CodecPair(provider.make_codec(config), simulator, intercept=intercept)

    return make


@pytest.fixture
def make_codec(make_config: ConfigFactory) -> Callable[..., DeepgramCodec]:
    """``make_codec(**options)``: an opened codec whose ``Settings`` was drained,
    at time 0; ``applied=True`` (default) also feeds Welcome and SettingsApplied."""

    def make(*, applied: bool = True, **options: Any) -> DeepgramCodec:
        codec = DeepgramCodec(make_config("deepgram://", **options))
        codec.handshake_step()
        codec.connection_opened()
        codec.handle_timer(0.0)
        codec.frames_to_send()
        if applied:
            codec.receive_frame(messages.encode(messages.welcome("req-1")))
            codec.receive_frame(messages.encode(messages.settings_applied()))
            codec.events_received()
        return codec

    return make


def feed(codec: DeepgramCodec, *frames: dict[str, Any] | str | bytes) -> list[Event]:
    """Feed server frames (message dicts are encoded) and drain the events."""
    for frame in frames:
        codec.receive_frame(messages.encode(frame) if isinstance(frame, dict) else frame)
    return codec.events_received()


@pytest.fixture
def feed_frames() -> Callable[..., list[Event]]:
    """:func:`feed` as a fixture (test modules cannot import conftest)."""
    return feed
