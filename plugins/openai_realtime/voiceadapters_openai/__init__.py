"""OpenAI Realtime (GA) for voiceadapters: OpenAI, Azure OpenAI, compatible servers.

``voiceadapters.connect("openai://?model=gpt-realtime")`` with
``OPENAI_API_KEY`` set opens an OpenAI Realtime session;
``azure-openai://RESOURCE.openai.azure.com?deployment=…`` (``AZURE_OPENAI_API_KEY``)
an Azure one, and ``openai-compatible://host:port/v1?model=…`` any server
speaking the GA dialect. This distribution provides the codec
(:class:`RealtimeCodec`), the providers and their options, and a simulator of
the GA server (:class:`RealtimeSimulator`).

Importing this package is cheap: the codec and the simulator are imported
when one of their names is first used (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voiceadapters.lazy import lazy_exports

from .provider import (
    CAPABILITIES,
    SCENARIOS,
    WIRE_FORMAT,
    AzureOpenAIProvider,
    OpenAICompatibleProvider,
    OpenAIProvider,
    OpenAIRealtimeOptions,
    RealtimeProvider,
)

if TYPE_CHECKING:
    from .codec import RealtimeCodec, session_config
    from .simulator import RealtimeConnection, RealtimeSimulator

_LAZY = {
    "RealtimeCodec": "codec",
    "session_config": "codec",
    "RealtimeConnection": "simulator",
    "RealtimeSimulator": "simulator",
}

__getattr__ = lazy_exports(globals(), _LAZY)

__all__ = [
    "CAPABILITIES",
    "SCENARIOS",
    "WIRE_FORMAT",
    "AzureOpenAIProvider",
    "OpenAICompatibleProvider",
    "OpenAIProvider",
    "OpenAIRealtimeOptions",
    "RealtimeCodec",
    "RealtimeConnection",
    "RealtimeProvider",
    "RealtimeSimulator",
    "session_config",
]
