"""The binary-PCM token-first protocol (the WorkBuddy voice SDK API) for voiceadapters.

``voiceadapters.connect("binary-pcm://")`` (or ``workbuddy://``) with
``BINARY_PCM_API_KEY`` set opens a session: a token and ``ws_url`` over REST,
the token as the first WebSocket message, then raw PCM16 16 kHz mono in
640-byte binary frames. This distribution provides the codec
(:class:`BinaryPcmCodec`), the provider description and options
(:class:`BinaryPcmProvider`, :class:`BinaryPcmOptions`), a simulator of the
API (:class:`BinaryPcmSimulator`) and builders for every wire message
(:mod:`voiceadapters_binary_pcm.messages`).

Importing this package is cheap: it loads the provider (plain data) only; the
codec, the simulator and the message builders are imported when one of their
names is first used (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voiceadapters.lazy import lazy_exports

from .provider import (
    CAPABILITIES,
    DEFAULT_HOST,
    SCENARIOS,
    WIRE_FORMAT,
    BinaryPcmOptions,
    BinaryPcmProvider,
)

if TYPE_CHECKING:
    from . import messages
    from .codec import (
        CLOSE_CODE_REASONS,
        ERROR_CODE_REASONS,
        BinaryPcmCodec,
        normalize_session_ended_reason,
    )
    from .simulator import BinaryPcmConnection, BinaryPcmSimulator, TokenGrant, malformed_frames

#: Name → module it is imported from on first use.
_LAZY = {
    **dict.fromkeys(
        (
            "CLOSE_CODE_REASONS",
            "ERROR_CODE_REASONS",
            "BinaryPcmCodec",
            "normalize_session_ended_reason",
        ),
        "codec",
    ),
    **dict.fromkeys(
        ("BinaryPcmConnection", "BinaryPcmSimulator", "TokenGrant", "malformed_frames"), "simulator"
    ),
}


__getattr__ = lazy_exports(globals(), _LAZY, modules=("messages",))


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
