"""Deepgram's Voice Agent API for voiceadapters.

``voiceadapters.connect("deepgram://")`` with ``DEEPGRAM_API_KEY`` set opens a
Deepgram Voice Agent session: ``wss://agent.deepgram.com/v1/agent/converse``
with ``Authorization: Token <key>`` (or, with ``auth=grant``, a JWT from
``/v1/auth/grant``), ``Settings``, binary linear16 16 kHz up and 24 kHz
down, typed JSON control messages and client-side function calls. This
distribution provides the codec (:class:`DeepgramCodec`), the provider
description and options (:class:`DeepgramProvider`, :class:`DeepgramOptions`),
a simulator of the service (:class:`DeepgramSimulator`) and builders for
every wire message (:mod:`voiceadapters_deepgram.messages`).

Importing this package is cheap: it loads the provider (plain data) only; the
codec, the simulator and the message builders are imported when one of their
names is first used (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voiceadapters.lazy import lazy_exports

from .provider import (
    API_KEY_ENV,
    CAPABILITIES,
    INPUT_FORMAT,
    OUTPUT_FORMAT,
    SCENARIOS,
    DeepgramFunction,
    DeepgramOptions,
    DeepgramProvider,
)

if TYPE_CHECKING:
    from . import messages
    from .codec import DeepgramCodec, join_statement
    from .simulator import DeepgramConnection, DeepgramSimulator, malformed_frames

#: Name → module it is imported from on first use.
_LAZY = {
    "DeepgramCodec": "codec",
    "join_statement": "codec",
    "DeepgramConnection": "simulator",
    "DeepgramSimulator": "simulator",
    "malformed_frames": "simulator",
}

__getattr__ = lazy_exports(globals(), _LAZY, modules=("messages",))

__all__ = [
    "API_KEY_ENV",
    "CAPABILITIES",
    "INPUT_FORMAT",
    "OUTPUT_FORMAT",
    "SCENARIOS",
    "DeepgramCodec",
    "DeepgramConnection",
    "DeepgramFunction",
    "DeepgramOptions",
    "DeepgramProvider",
    "DeepgramSimulator",
    "join_statement",
    "malformed_frames",
    "messages",
]
