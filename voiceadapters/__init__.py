"""voiceadapters: one event model and one session API for every voice-agent provider.

::

    import voiceadapters

    async with voiceadapters.connect("vatel://?agent_id=…", api_key=KEY) as session:
        await session.send_audio(pcm_16k)
        async for event in session:
            print(event.type)

The user guide is in ``docs/`` (``mkdocs serve``).
"""

from .capabilities import Capabilities
from .commands import Close, Command, Interrupt, SendAudio, SendText, SendToolResult
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
    SessionStarted,
    ToolCall,
    UnknownMessage,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)
from .format import AudioFormat
from .plugin import Provider
from .registry import available_providers, get_provider
from .secrets import Secret
from .session import Session, SessionStats, connect

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
    "Event",
    "EventAdapter",
    "HandshakeTimeout",
    "Interrupt",
    "Interruption",
    "PluginError",
    "Provider",
    "ProviderConfig",
    "ProviderError",
    "Secret",
    "SendAudio",
    "SendText",
    "SendToolResult",
    "Session",
    "SessionClosedError",
    "SessionEnded",
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
]
