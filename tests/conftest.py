"""Shared fixtures for the core tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pydantic import BaseModel, ConfigDict

from voiceadapters.capabilities import Capabilities
from voiceadapters.codec import Codec
from voiceadapters.config import ProviderConfig
from voiceadapters.format import AudioFormat
from voiceadapters.hookspecs import hookimpl
from voiceadapters.provider import Provider
from voiceadapters.registry import Registry


class ToyOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    room: str = "lobby"
    retries: int = 1


class ToyProvider(Provider):
    """A provider with options but no protocol: enough for config and registry tests."""

    name = "toy"
    aliases = ("toybox",)
    description = "test double"
    default_host = "toy.example.com"
    api_key_env = "TOY_API_KEY"
    options_model = ToyOptions
    wire_input = AudioFormat(16000)
    wire_output = AudioFormat(16000)
    capabilities = Capabilities(agent_text=True)

    def make_codec(self, config: ProviderConfig) -> Codec:
        raise NotImplementedError("the toy provider has no protocol")

    def make_simulator(self, *, api_key, scenario=None, pace=1.0):  # type: ignore[no-untyped-def]
        raise NotImplementedError

    def simulator_config(self, host, port, simulator):  # type: ignore[no-untyped-def]
        return f"toy://{host}:{port}?tls=false"


class ToyPlugin:
    """A plugin object, registered at run time like a third party's module."""

    def __init__(self) -> None:
        self.provider = ToyProvider()

    @hookimpl
    def voiceadapters_providers(self) -> list[Provider]:
        return [self.provider]


@pytest.fixture
def toy() -> ToyProvider:
    return ToyProvider()


@pytest.fixture
def toy_registry() -> Iterator[Registry]:
    reg = Registry(group="voiceadapters.tests.none")
    reg.register_plugin(ToyPlugin())
    yield reg


# -- loopback helpers -------------------------------------------------------------

from voiceadapters.testing import speech_sample  # noqa: E402

#: A key that must never show up in any output.
SECRET_KEY = "sk-test-DO-NOT-LEAK-7f3a9c1e5b"


__all__ = ["SECRET_KEY", "speech_sample"]
