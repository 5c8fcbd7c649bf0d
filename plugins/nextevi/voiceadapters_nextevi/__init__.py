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

Importing this package is cheap: it loads the provider (plain data) only; the
codec, the simulator and the message builders are imported when one of their
names is first used (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voiceadapters.lazy import lazy_exports

from .provider import (
    CAPABILITIES,
    SCENARIOS,
    WIRE_FORMAT,
    NextEVIOptions,
    NextEVIProvider,
    new_connection_id,
)

if TYPE_CHECKING:
    from . import messages
    from .codec import NextEVICodec, normalize_emotions
    from .simulator import (
        DEFAULT_CONFIG_ID,
        EMOTION_SCORES,
        NextEVIConnection,
        NextEVISimulator,
        broken_wavs,
    )

#: Name → module it is imported from on first use.
_LAZY = {
    "NextEVICodec": "codec",
    "normalize_emotions": "codec",
    **dict.fromkeys(
        (
            "DEFAULT_CONFIG_ID",
            "EMOTION_SCORES",
            "NextEVIConnection",
            "NextEVISimulator",
            "broken_wavs",
        ),
        "simulator",
    ),
}


__getattr__ = lazy_exports(globals(), _LAZY, modules=("messages",))


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
