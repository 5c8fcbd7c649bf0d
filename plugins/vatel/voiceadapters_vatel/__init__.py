"""Vatel voice agents for voiceadapters.

``voiceadapters.connect("vatel://?agent_id=<uuid>")`` with ``VATEL_API_KEY``
set opens a Vatel voice session: a session token over REST, then JSON + base64
PCM16 24 kHz over WebSocket. This distribution provides the codec
(:class:`VatelCodec`), the provider description and options
(:class:`VatelProvider`, :class:`VatelOptions`), a simulator of the Vatel
API (:class:`VatelSimulator`) and builders for every wire message
(:mod:`voiceadapters_vatel.messages`).

Importing this package is cheap: it loads the provider (plain data) only; the
codec, the simulator and the message builders are imported when one of their
names is first used (PEP 562), so registering the plugin or resolving a
config never pays for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voiceadapters.lazy import lazy_exports

from .provider import CAPABILITIES, SCENARIOS, WIRE_FORMAT, VatelOptions, VatelProvider

if TYPE_CHECKING:
    from . import messages
    from .codec import VatelCodec
    from .messages import (
        encode,
        input_audio,
        input_audio_transcript,
        interruption,
        response_audio,
        response_text,
        session_ended,
        session_started,
        speech_started,
        speech_stopped,
        tool_argument,
        tool_call,
        tool_call_output,
    )
    from .simulator import DEFAULT_AGENT_ID, VatelConnection, VatelSimulator, malformed_frames

#: Name → module it is imported from on first use.
_LAZY = {
    "VatelCodec": "codec",
    "DEFAULT_AGENT_ID": "simulator",
    "VatelConnection": "simulator",
    "VatelSimulator": "simulator",
    "malformed_frames": "simulator",
    **dict.fromkeys(
        (
            "encode",
            "input_audio",
            "input_audio_transcript",
            "interruption",
            "response_audio",
            "response_text",
            "session_ended",
            "session_started",
            "speech_started",
            "speech_stopped",
            "tool_argument",
            "tool_call",
            "tool_call_output",
        ),
        "messages",
    ),
}


__getattr__ = lazy_exports(globals(), _LAZY, modules=("messages",))


__all__ = [
    "CAPABILITIES",
    "DEFAULT_AGENT_ID",
    "SCENARIOS",
    "WIRE_FORMAT",
    "VatelCodec",
    "VatelConnection",
    "VatelOptions",
    "VatelProvider",
    "VatelSimulator",
    "encode",
    "input_audio",
    "input_audio_transcript",
    "interruption",
    "malformed_frames",
    "messages",
    "response_audio",
    "response_text",
    "session_ended",
    "session_started",
    "speech_started",
    "speech_stopped",
    "tool_argument",
    "tool_call",
    "tool_call_output",
]
