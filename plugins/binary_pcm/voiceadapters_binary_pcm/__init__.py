"""The binary-PCM token-first protocol (the WorkBuddy voice SDK API) for voiceadapters.

``voiceadapters.connect("binary-pcm://")`` (or ``workbuddy://``) with
``BINARY_PCM_API_KEY`` set opens a session: a token and ``ws_url`` over REST,
the token as the first WebSocket message, then raw PCM16 16 kHz mono in
640-byte binary frames. This distribution provides the codec
(:class:`BinaryPcmCodec`), the provider description and options
(:class:`BinaryPcmProvider`, :class:`BinaryPcmOptions`), a simulator of the
API (:class:`BinaryPcmSimulator`) and builders for every wire message
(:mod:`voiceadapters_binary_pcm.messages`).
"""

from __future__ import annotations

from . import messages
from .codec import (
    CLOSE_CODE_REASONS,
    ERROR_CODE_REASONS,
    BinaryPcmCodec,
    normalize_session_ended_reason,
)
from .provider import (
    CAPABILITIES,
    DEFAULT_HOST,
    SCENARIOS,
    WIRE_FORMAT,
    BinaryPcmOptions,
    BinaryPcmProvider,
)
from .simulator import BinaryPcmConnection, BinaryPcmSimulator, TokenGrant, malformed_frames

__all__ = [
    "CAPABILITIES",
    "CLOSE_CODE_REASONS",
    "DEFAULT_HOST",
    "ERROR_CODE_REASONS",
    "SCENARIOS",
    "WIRE_FORMAT",
    "BinaryPcmCodec",
    "BinaryPcmConnection",
    "BinaryPcmOptions",
    "BinaryPcmProvider",
    "BinaryPcmSimulator",
    "TokenGrant",
    "malformed_frames",
    "messages",
    "normalize_session_ended_reason",
]
