"""The public API, name by name (after websockets' ``tests/test_exports.py``).

Each public module's ``__all__`` must equal the list written here, and every
name in it must be importable. Adding a name means adding it here too;
removing one fails this test, so nothing leaves the public API silently.
"""

from __future__ import annotations

import importlib

import pytest

EXPECTED: dict[str, list[str]] = {
    "voiceadapters": [
        "AgentAudio",
        "AgentAudioDone",
        "AgentReady",
        "AgentText",
        "AudioFormat",
        "AudioFormatError",
        "AuthenticationError",
        "BufferOverflowError",
        "Capabilities",
        "Close",
        "Command",
        "ConfigError",
        "ConfigURL",
        "ConnectError",
        "Emotion",
        "Event",
        "EventAdapter",
        "HandshakeTimeout",
        "Interrupt",
        "Interruption",
        "PluginError",
        "Provider",
        "ProviderConfig",
        "ProviderError",
        "ReconnectPolicy",
        "Secret",
        "SendAudio",
        "SendText",
        "SendToolResult",
        "Session",
        "SessionClosedError",
        "SessionEnded",
        "SessionResumed",
        "SessionStarted",
        "SessionStats",
        "TokenRequestError",
        "ToolCall",
        "UnknownMessage",
        "UnknownProviderError",
        "UnsupportedCommandError",
        "UserSpeechStarted",
        "UserSpeechStopped",
        "UserTranscript",
        "VoiceAdaptersError",
        "WebSocketRejected",
        "__version__",
        "available_providers",
        "connect",
        "get_provider",
        "parse_config",
    ],
    "voiceadapters.events": [
        "AgentAudio",
        "AgentAudioDone",
        "AgentReady",
        "AgentText",
        "END_REASONS",
        "SCHEMA_VERSION",
        "Emotion",
        "EndReason",
        "Event",
        "EventAdapter",
        "Interruption",
        "ProviderError",
        "SessionEnded",
        "SessionResumed",
        "SessionStarted",
        "ToolCall",
        "UnknownMessage",
        "UserSpeechStarted",
        "UserSpeechStopped",
        "UserTranscript",
        "event_to_log",
    ],
    "voiceadapters.commands": [
        "COMMAND_CAPABILITY",
        "Close",
        "Command",
        "CommandAdapter",
        "Interrupt",
        "SendAudio",
        "SendText",
        "SendToolResult",
    ],
    "voiceadapters.errors": [
        "AudioFormatError",
        "AuthenticationError",
        "BufferOverflowError",
        "ConfigError",
        "ConnectError",
        "HandshakeTimeout",
        "PluginError",
        "SessionClosedError",
        "TokenRequestError",
        "UnknownProviderError",
        "UnsupportedCommandError",
        "VoiceAdaptersError",
        "WebSocketRejected",
        "token_error",
    ],
    "voiceadapters.config": [
        "COMMON_OPTIONS",
        "ConfigFacts",
        "ConfigURL",
        "ProviderConfig",
        "is_loopback",
        "loopback_config",
        "parse_bool",
        "parse_config",
        "resolve_config",
    ],
    "voiceadapters.codec": ["Codec", "CodecFacts", "HandshakeStep", "default_close_reason"],
    "voiceadapters.handshake": [
        "CloseFrame",
        "DEFAULT_FIRST_MESSAGE_TIMEOUT",
        "DEFAULT_MAX_BODY",
        "DEFAULT_MAX_MESSAGE_SIZE",
        "Frame",
        "HttpRequest",
        "HttpResponse",
        "MediaConnector",
        "MediaRequest",
        "OutFrame",
        "Params",
        "TrackAudio",
        "WebSocketRequest",
        "build_url",
        "parse_retry_after",
    ],
    "voiceadapters.registry": [
        "ENTRY_POINT_GROUP",
        "Registry",
        "available_providers",
        "get_provider",
        "load_all",
        "register",
        "register_plugin",
        "registry",
    ],
    "voiceadapters.hookspecs": ["PROJECT", "hookimpl", "hookspec"],
    "voiceadapters.capabilities": ["Capabilities"],
    "voiceadapters.format": ["AudioFormat", "Encoding"],
    "voiceadapters.secrets": ["MASK", "Secret", "redact", "reveal"],
    "voiceadapters.limits": ["LIMIT_OPTIONS", "Limits"],
    "voiceadapters.session": ["Session", "SessionStats", "connect"],
    "voiceadapters.pipeline": ["AudioPipeline"],
    "voiceadapters.driver": ["Driver"],
    "voiceadapters.testing": [
        "CodecPair",
        "http_to_sim_request",
        "serve_simulator",
        "speech_sample",
        "ws_to_sim_request",
    ],
    "voiceadapters.transports": ["Connection", "Transport", "TransportClosed"],
    "voiceadapters.simulator": [
        "AGENT_SCENARIOS",
        "Agent",
        "AgentConnection",
        "DropConnection",
        "SimRequest",
        "Simulator",
        "SimulatorConnection",
        "SimulatorServer",
        "json_response",
    ],
    "voiceadapters.provider": ["NoOptions", "Provider"],
    "voiceadapters.frames": ["CloseFrame", "Frame", "OutFrame", "TrackAudio"],
    "voiceadapters.fields": ["MalformedField", "boolean", "number", "optional_string", "string"],
    "voiceadapters.turns": ["TURN_MEMORY", "TurnFence", "TurnMemory"],
    "voiceadapters.reconnect": ["RETRYABLE_CLOSE_CODES", "ReconnectPolicy"],
    "voiceadapters.simulator.base": [
        "AgentConnection",
        "CONNECTION_LIMIT",
        "DropConnection",
        "FRAME_SIZE_LIMIT",
        "MESSAGE_LIMIT",
        "RECEIVED_AUDIO_LIMIT",
        "ServerOut",
        "SimRequest",
        "Simulator",
        "SimulatorConnection",
        "SimulatorFacts",
        "decode_json",
        "json_response",
    ],
    "voiceadapters.lazy": ["lazy_exports"],
    "voiceadapters.apiversion": ["CORE_API", "check_core_api", "in_range"],
    "voiceadapters.wirejson": [
        "MAX_DEPTH",
        "MalformedJSON",
        "bounded",
        "decode",
        "dumps_excerpt",
        "excerpt",
        "scrub",
    ],
}


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_all_lists_exactly_the_expected_public_names(module_name: str) -> None:
    module = importlib.import_module(module_name)
    exported = list(module.__all__)
    assert len(exported) == len(set(exported)), f"{module_name}.__all__ repeats a name"
    assert set(exported) == set(EXPECTED[module_name]), (
        f"{module_name}.__all__ changed: "
        f"added {sorted(set(exported) - set(EXPECTED[module_name]))}, "
        f"removed {sorted(set(EXPECTED[module_name]) - set(exported))}"
    )


@pytest.mark.parametrize("module_name", sorted(EXPECTED))
def test_every_public_name_is_importable(module_name: str) -> None:
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)  # what a user's star import gets
    missing = [name for name in EXPECTED[module_name] if name not in namespace]
    assert missing == [], f"{module_name} lists names it does not define: {missing}"
    module = importlib.import_module(module_name)
    for name in EXPECTED[module_name]:
        assert getattr(module, name) is namespace[name]
