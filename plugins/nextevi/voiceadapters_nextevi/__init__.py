"""NextEVI voice agents for voiceadapters.

``voiceadapters.connect("nextevi://?config_id=<config>")`` with
``NEXTEVI_API_KEY`` set opens a NextEVI speech-to-speech session: the key and
configuration in the WebSocket URL, ``session_settings``, binary PCM16 24 kHz
up, JSON messages with base64 audio (raw PCM or a WAV per chunk) down, in
either of NextEVI's two message dialects. This distribution provides the
codec (:class:`NextEVICodec`), the provider description and options
(:class:`NextEVIProvider`, :class:`NextEVIOptions`), a simulator of the
service (:class:`NextEVISimulator`) and builders for every wire message
(:mod:`voiceadapters_nextevi.messages`).
"""

from __future__ import annotations

from . import messages
from .codec import NextEVICodec, normalize_emotions
from .provider import (
    CAPABILITIES,
    SCENARIOS,
    WIRE_FORMAT,
    NextEVIOptions,
    NextEVIProvider,
    new_connection_id,
)
from .simulator import (
    DEFAULT_CONFIG_ID,
    EMOTION_SCORES,
    NextEVIConnection,
    NextEVISimulator,
    broken_wavs,
)

__all__ = [
    "CAPABILITIES",
    "DEFAULT_CONFIG_ID",
    "EMOTION_SCORES",
    "SCENARIOS",
    "WIRE_FORMAT",
    "NextEVICodec",
    "NextEVIConnection",
    "NextEVIOptions",
    "NextEVIProvider",
    "NextEVISimulator",
    "broken_wavs",
    "messages",
    "new_connection_id",
    "normalize_emotions",
]
