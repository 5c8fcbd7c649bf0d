"""Shared helpers: the providers, a speech-like signal, codec pairs, and the
judge — the ``openai`` SDK's own GA event models, applied strictly.

Everything is real: the codec talks to the simulator in memory through
:class:`voiceadapters.testing.CodecPair` on a fake clock, or over real
WebSocket on 127.0.0.1.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest
from openai.types.realtime import (
    RealtimeClientEvent,
    RealtimeServerEvent,
    RealtimeSessionCreateResponse,
)
from pydantic import BaseModel, TypeAdapter

from voiceadapters.config import ProviderConfig, parse_config, resolve_config
from voiceadapters.testing import CodecPair
from voiceadapters_openai import (
    AzureOpenAIProvider,
    OpenAICompatibleProvider,
    OpenAIProvider,
    RealtimeCodec,
    RealtimeSimulator,
)
from voiceadapters_openai.provider import RealtimeProvider

API_KEY = "sk-test-openai-0123456789abcdef"
RATE = 24000

PROVIDERS: dict[str, RealtimeProvider] = {
    "openai": OpenAIProvider(),
    "azure-openai": AzureOpenAIProvider(),
    "openai-compatible": OpenAICompatibleProvider(),
}

_SERVER = TypeAdapter(RealtimeServerEvent)
_CLIENT = TypeAdapter(RealtimeClientEvent)


def make_speech(voiced: float = 1.2, lead: float = 0.3, tail: float = 1.0) -> bytes:
    """Silence, a speech-like voiced segment (harmonics of 140 Hz under a
    syllable envelope, -12 dBFS), silence; PCM16 24 kHz. The tail is longer
    than the simulated agent's 0.7 s end-of-speech hangover."""
    t = np.arange(int(voiced * RATE)) / RATE
    tone = sum(np.sin(2 * np.pi * 140.0 * k * t) / k for k in range(1, 6))
    ramp = np.minimum(1.0, np.minimum(t / 0.05, (voiced - t) / 0.05))
    x = tone * ramp * (0.6 + 0.4 * np.sin(2 * np.pi * 3.0 * t) ** 2)
    x = x / np.max(np.abs(x)) * 10 ** (-12 / 20)
    samples = np.concatenate([np.zeros(int(lead * RATE)), x, np.zeros(int(tail * RATE))])
    return bytes(np.rint(samples * 32767).astype("<i2").tobytes())


def config(provider: str = "openai", text: str | None = None, **options: Any) -> ProviderConfig:
    spec = PROVIDERS[provider]
    if text is None:
        text = spec.simulator_config("127.0.0.1", 8765, RealtimeSimulator(API_KEY, provider=spec))
    return resolve_config(parse_config(text), spec, api_key=API_KEY, environ={}, **options)


def make_pair(
    scenario: str = "echo", provider: str = "openai", pace: float = 1.0, **options: Any
) -> CodecPair:
    spec = PROVIDERS[provider]
    simulator = RealtimeSimulator(API_KEY, scenario=scenario, pace=pace, provider=spec)
    codec = RealtimeCodec(config(provider, **options), provider=spec)
    return CodecPair(codec, simulator)


def _extras(model: Any, path: str, skip: frozenset[str] = frozenset()) -> list[str]:
    """Every field the SDK model did not declare, anywhere below ``model``."""
    found: list[str] = []
    if isinstance(model, BaseModel):
        for key in model.model_extra or {}:
            if f"{path}.{key}".lstrip(".") not in skip:
                found.append(f"{path}.{key}".lstrip("."))
        for name in type(model).model_fields:
            if f"{path}.{name}".lstrip(".") in skip:
                continue
            found += _extras(getattr(model, name), f"{path}.{name}", skip)
    elif isinstance(model, list | tuple):
        for i, item in enumerate(model):
            found += _extras(item, f"{path}[{i}]", skip)
    elif isinstance(model, dict):
        for key, item in model.items():
            found += _extras(item, f"{path}.{key}", skip)
    return found


def sdk_server_event(raw: str | dict[str, Any]) -> Any:
    """Parse a server event with the SDK's GA ``RealtimeServerEvent`` union,
    validating (not the SDK client's lenient construct), and fail on any
    field the SDK's models do not declare. A session object is judged by
    the SDK's model of the session object the server returns
    (``RealtimeSessionCreateResponse``: it has ``id`` and ``object``, which
    the event's request-shaped union lacks)."""
    data = json.loads(raw) if isinstance(raw, str) else raw
    event = _SERVER.validate_python(data)
    skip: frozenset[str] = frozenset()
    if data["type"] in ("session.created", "session.updated"):
        skip = frozenset({"session"})
        session = RealtimeSessionCreateResponse.model_validate(data["session"])
        extra = _extras(session, "session")
        assert not extra, f"{data['type']}: fields the SDK does not declare: {extra}"
    extra = _extras(event, "", skip)
    assert not extra, f"{data['type']}: fields the SDK does not declare: {extra}"
    return event


def sdk_client_event(raw: str | dict[str, Any]) -> Any:
    """The same judge for a client event (``RealtimeClientEvent``)."""
    data = json.loads(raw) if isinstance(raw, str) else raw
    event = _CLIENT.validate_python(data)
    extra = _extras(event, "")
    assert not extra, f"{data['type']}: fields the SDK does not declare: {extra}"
    return event


@pytest.fixture
def speech() -> bytes:
    return make_speech()


class Kit:
    """The helpers above, as a fixture (test modules cannot import conftest
    under ``--import-mode=importlib``)."""

    API_KEY = API_KEY
    PROVIDERS = PROVIDERS
    config = staticmethod(config)
    make_pair = staticmethod(make_pair)
    make_speech = staticmethod(make_speech)
    sdk_server_event = staticmethod(sdk_server_event)
    sdk_client_event = staticmethod(sdk_client_event)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit
