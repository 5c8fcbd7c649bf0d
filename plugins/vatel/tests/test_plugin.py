"""The plugin as the core sees it: entry point, provider data, options."""

from __future__ import annotations

import pytest

from voiceadapters.config import parse_config, resolve_config
from voiceadapters.errors import ConfigError
from voiceadapters.format import AudioFormat
from voiceadapters.registry import Registry
from voiceadapters.simulator.agent import AGENT_SCENARIOS
from voiceadapters_vatel import VatelOptions, VatelProvider, VatelSimulator, plugin
from voiceadapters_vatel.simulator import DEFAULT_AGENT_ID


def test_the_entry_point_registers_the_vatel_provider():
    registry = Registry()
    assert "vatel" in registry.available()
    provider = registry.get("vatel")
    assert provider is plugin.provider and isinstance(provider, VatelProvider)


def test_provider_data():
    provider = VatelProvider()
    assert provider.name == "vatel" and provider.transports == ("websocket", "webrtc")
    assert (provider.default_host, provider.default_path) == ("api.vatel.ai", "")
    assert provider.api_key_env == "VATEL_API_KEY"
    assert provider.wire_input == provider.wire_output == AudioFormat(24000)
    assert provider.scenarios[: len(AGENT_SCENARIOS)] == AGENT_SCENARIOS
    assert set(provider.scenarios) - set(AGENT_SCENARIOS) == {"malformed", "drop", "token_500"}
    assert provider.capabilities.enabled() == [
        "user_transcripts",
        "agent_text",
        "speech_events",
        "interruption_events",
        "agent_audio_done",
        "tool_calls",
    ]


def test_config_string_resolves_with_defaults_and_env_key():
    config = resolve_config(
        parse_config(f"vatel://?agent_id={DEFAULT_AGENT_ID}&chat=true&timeout=3"),
        VatelProvider(),
        environ={"VATEL_API_KEY": "from-env"},
    )
    assert (config.host, config.port, config.tls) == ("api.vatel.ai", 443, True)
    assert config.options == VatelOptions(agent_id=DEFAULT_AGENT_ID, chat=True, timeout=3.0)
    assert config.api_key is not None and config.api_key.reveal() == "from-env"
    assert "from-env" not in repr(config)


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("", ["agent_id"]),
        ("agent_id=", ["agent_id"]),
        ("agent_id=a&voice=x", ["voice"]),
        ("agent_id=a&token_form=header", ["token_form"]),
        ("agent_id=a&token_form=query&version_id=v", ["token_form=query", "version_id"]),
        ("agent_id=a&timeout=0", ["timeout"]),
    ],
)
def test_invalid_options_are_config_errors_naming_the_option(query, words):
    with pytest.raises(ConfigError) as info:
        resolve_config(parse_config(f"vatel://?{query}"), VatelProvider(), environ={})
    for word in words:
        assert word in str(info.value)


def test_options_are_frozen_and_say_whether_the_agent_looks_like_a_uuid():
    options = VatelOptions(agent_id=DEFAULT_AGENT_ID)
    assert options.agent_id_is_uuid and not VatelOptions(agent_id="agent-1").agent_id_is_uuid
    with pytest.raises(ValueError):
        options.agent_id = "other"  # type: ignore[misc]


def test_simulator_factory_and_config_string():
    provider = VatelProvider()
    simulator = provider.make_simulator(api_key="k", scenario="tool_call", pace=0)
    assert isinstance(simulator, VatelSimulator) and simulator.scenario == "tool_call"
    assert provider.make_simulator(api_key="k").scenario == "echo"
    assert provider.simulator_config("127.0.0.1", 8765, simulator) == (
        f"vatel://127.0.0.1:8765?tls=false&agent_id={DEFAULT_AGENT_ID}"
    )
    assert provider.simulator_config("::1", 9, simulator).startswith("vatel://[::1]:9?")
    custom = VatelSimulator("k", agent_id="0b5e7c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b")
    assert provider.simulator_config("h", 1, custom).endswith("agent_id=" + custom.agent_id)
