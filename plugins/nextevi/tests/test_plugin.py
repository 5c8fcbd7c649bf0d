"""The plugin as the core sees it: entry point, provider data, options."""

from __future__ import annotations

import pytest

from voiceadapters.config import parse_config, resolve_config
from voiceadapters.errors import ConfigError
from voiceadapters.format import AudioFormat
from voiceadapters.registry import Registry
from voiceadapters_nextevi import (
    DEFAULT_CONFIG_ID,
    NextEVIOptions,
    NextEVIProvider,
    NextEVISimulator,
    plugin,
)


def test_the_entry_point_registers_the_nextevi_provider():
    registry = Registry()
    assert "nextevi" in registry.available()
    provider = registry.get("nextevi")
    assert provider is plugin.provider and isinstance(provider, NextEVIProvider)


def test_provider_data():
    provider = NextEVIProvider()
    assert provider.name == "nextevi" and provider.transports == ("websocket",)
    assert (provider.default_host, provider.default_path) == ("api.nextevi.com", "")
    assert provider.api_key_env == "NEXTEVI_API_KEY"
    assert provider.wire_input == provider.wire_output == AudioFormat(24000)
    assert provider.scenarios == (
        "echo", "barge_in", "server_shutdown", "wav_chunks",
        "idle_warning", "error", "bad_wav", "drop",
    )  # fmt: skip
    assert provider.capabilities.enabled() == [
        "user_transcripts",
        "agent_text",
        "speech_events",
        "interruption_events",
        "agent_audio_done",
        "emotion",
        "text_input",
        "client_interrupt",
        "end_reasons",
    ]


def test_config_string_resolves_with_defaults_and_the_env_key():
    config = resolve_config(
        parse_config("nextevi://?config_id=cfg-1&audio_input=base64&keep_alive_interval=15"),
        NextEVIProvider(),
        environ={"NEXTEVI_API_KEY": "oak_from_env_123"},
    )
    assert (config.host, config.port, config.tls) == ("api.nextevi.com", 443, True)
    assert config.options == NextEVIOptions(
        config_id="cfg-1", audio_input="base64", keep_alive_interval=15.0
    )
    assert config.api_key is not None and config.api_key.reveal() == "oak_from_env_123"
    assert "oak_from_env_123" not in repr(config)


def test_option_defaults():
    options = NextEVIOptions(config_id="c")
    assert options.model_dump() == {
        "config_id": "c",
        "project_id": None,
        "audio_input": "binary",
        "keep_alive_interval": 30.0,
        "emotion_detection": True,
        "turn_detection": True,
        "silence_threshold": 0.5,
        "connect_timeout": 10.0,
    }
    with pytest.raises(ValueError):
        options.config_id = "other"  # type: ignore[misc]


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("", ["config_id"]),
        ("config_id=", ["config_id"]),
        ("config_id=c&project_id=", ["project_id"]),
        ("config_id=c&voice=x", ["voice"]),
        ("config_id=c&audio_input=json", ["audio_input"]),
        ("config_id=c&keep_alive_interval=-1", ["keep_alive_interval"]),
        ("config_id=c&connect_timeout=0", ["connect_timeout"]),
        ("config_id=c&emotion_detection=maybe", ["emotion_detection"]),
    ],
)
def test_invalid_options_are_config_errors_naming_the_option(query, words):
    with pytest.raises(ConfigError) as info:
        resolve_config(parse_config(f"nextevi://?{query}"), NextEVIProvider(), environ={})
    for word in words:
        assert word in str(info.value)


def test_simulator_factory_and_config_string():
    provider = NextEVIProvider()
    simulator = provider.make_simulator(api_key="k", scenario="wav_chunks", pace=0)
    assert isinstance(simulator, NextEVISimulator) and simulator.scenario == "wav_chunks"
    assert simulator.wav_chunks and simulator.pace == 0
    assert provider.make_simulator(api_key="k").scenario == "echo"
    assert provider.simulator_config("127.0.0.1", 8765, simulator) == (
        f"nextevi://127.0.0.1:8765?tls=false&config_id={DEFAULT_CONFIG_ID}"
    )
    assert provider.simulator_config("::1", 9, simulator).startswith("nextevi://[::1]:9?")
    custom = NextEVISimulator("k", config_ids=["my config"])
    assert provider.simulator_config("h", 1, custom).endswith("config_id=my%20config")
    with pytest.raises(TypeError):
        provider.simulator_config("h", 1, object())  # type: ignore[arg-type]
