"""The plugin as the core sees it: entry points, provider data, options."""

from __future__ import annotations

import pytest

from voiceadapters.config import parse_config, resolve_config
from voiceadapters.errors import ConfigError
from voiceadapters.format import AudioFormat
from voiceadapters.registry import Registry
from voiceadapters.simulator.agent import AGENT_SCENARIOS
from voiceadapters_binary_pcm import (
    BinaryPcmOptions,
    BinaryPcmProvider,
    BinaryPcmSimulator,
    plugin,
)


@pytest.mark.parametrize("name", ["binary-pcm", "workbuddy", "WorkBuddy"])
def test_either_name_loads_the_plugin_lazily(name: str) -> None:
    registry = Registry()
    assert {"binary-pcm", "workbuddy"} <= set(registry.available())
    provider = registry.get(name)
    assert provider is plugin.provider and isinstance(provider, BinaryPcmProvider)
    assert registry.get("binary-pcm") is registry.get("workbuddy")


def test_provider_data() -> None:
    provider = BinaryPcmProvider()
    assert provider.name == "binary-pcm" and provider.aliases == ("workbuddy",)
    assert provider.transports == ("websocket",)
    assert (provider.default_host, provider.default_path) == ("api.getworkbuddy.com", "")
    assert provider.api_key_env == "BINARY_PCM_API_KEY"
    assert provider.wire_input == provider.wire_output == AudioFormat(16000)
    assert provider.scenarios[: len(AGENT_SCENARIOS)] == AGENT_SCENARIOS
    assert set(provider.scenarios) - set(AGENT_SCENARIOS) == {
        "end_agent_disconnected", "end_session_closed", "end_room_closed",
        "burst", "drop", "malformed", "setup_failed", "disabled", "token_500",
    }  # fmt: skip
    assert provider.capabilities.enabled() == ["agent_ready", "end_reasons"]
    doc = " ".join((provider.__doc__ or "").split())
    for missing in ("no transcripts", "no tool calls", "interruption events", "no text input"):
        assert missing in doc, "the docstring says plainly what the protocol cannot do"


def test_config_string_resolves_with_defaults_and_env_key() -> None:
    config = resolve_config(
        parse_config("workbuddy://?timeout=3&preconnect_buffer_seconds=2.5"),
        BinaryPcmProvider(),
        environ={"BINARY_PCM_API_KEY": "from-env"},
    )
    assert config.provider == "binary-pcm"
    assert (config.host, config.port, config.tls) == ("api.getworkbuddy.com", 443, True)
    assert config.options == BinaryPcmOptions(timeout=3.0, preconnect_buffer_seconds=2.5)
    assert config.options.preconnect_buffer_bytes == 80000  # type: ignore[attr-defined]
    assert config.api_key is not None and config.api_key.reveal() == "from-env"
    assert "from-env" not in repr(config)


def test_default_options_hold_five_seconds_of_audio() -> None:
    options = BinaryPcmOptions()
    assert (options.timeout, options.preconnect_buffer_seconds) == (10.0, 5.0)
    assert options.preconnect_buffer_bytes == 160_000
    with pytest.raises(ValueError):
        options.timeout = 1.0  # type: ignore[misc]


@pytest.mark.parametrize(
    ("query", "word"),
    [
        ("voice=x", "voice"),
        ("timeout=0", "timeout"),
        ("preconnect_buffer_seconds=-1", "preconnect_buffer_seconds"),
        ("preconnect_buffer_seconds=lots", "preconnect_buffer_seconds"),
    ],
)
def test_invalid_options_are_config_errors_naming_the_option(query: str, word: str) -> None:
    with pytest.raises(ConfigError) as info:
        resolve_config(parse_config(f"binary-pcm://?{query}"), BinaryPcmProvider(), environ={})
    assert word in str(info.value)


def test_simulator_factory_and_config_string() -> None:
    provider = BinaryPcmProvider()
    simulator = provider.make_simulator(api_key="k", scenario="end_room_closed", pace=0)
    assert isinstance(simulator, BinaryPcmSimulator)
    assert (simulator.scenario, simulator.end_reason, simulator.pace) == (
        "end_room_closed",
        "room_closed",
        0,
    )
    assert provider.make_simulator(api_key="k").scenario == "echo"
    assert provider.simulator_config("127.0.0.1", 8765, simulator) == (
        "binary-pcm://127.0.0.1:8765?tls=false"
    )
    assert provider.simulator_config("::1", 9, simulator) == "binary-pcm://[::1]:9?tls=false"
