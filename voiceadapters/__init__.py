"""voiceadapters: one event model and one session API for every voice-agent provider.

::

    import voiceadapters

    async with voiceadapters.connect("vatel://?agent_id=…", api_key=KEY) as session:
        await session.send_audio(pcm_16k)
        async for event in session:
            print(event.type)

The user guide is in ``docs/`` (``mkdocs serve``).
"""

from typing import TYPE_CHECKING, Any

from .capabilities import Capabilities
from .commands import (
    Close,
    Command,
    EndTurn,
    Interrupt,
    ReportPlayed,
    SendAudio,
    SendText,
    SendToolResult,
)
from .config import ConfigURL, ProviderConfig, parse_config
from .errors import (
    AudioFormatError,
    AuthenticationError,
    BufferOverflowError,
    ConfigError,
    ConnectError,
    HandshakeTimeout,
    PluginError,
    SessionClosedError,
    TokenRequestError,
    UnknownProviderError,
    UnsupportedCommandError,
    VoiceAdaptersError,
    WebSocketRejected,
)
from .events import (
    AgentAudio,
    AgentAudioDone,
    AgentReady,
    AgentText,
    Emotion,
    Event,
    EventAdapter,
    Interruption,
    ProviderError,
    SessionEnded,
    SessionResumed,
    SessionStarted,
    ToolCall,
    UnknownMessage,
    Usage,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)
from .format import AudioFormat
from .provider import Provider
from .registry import available_providers, get_provider
from .secrets import Secret

if TYPE_CHECKING:
    from .reconnect import ReconnectPolicy
    from .session import Session, SessionStats, connect

#: Imported on first use (PEP 562): the session pulls in numpy, soxr and the
#: driver, which code that only parses configs or lists providers never needs
#: (nor the reconnect policy, which the session module imports anyway).
_LAZY = {
    "ReconnectPolicy": "reconnect",
    "Session": "session",
    "SessionStats": "session",
    "connect": "session",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__version__ = "0.1.0"

__all__ = [
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
    "EndTurn",
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
    "ReportPlayed",
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
    "Usage",
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
]
