"""Builders for every Vatel voice-session message (a "frame factory", after h2's
test ``FrameFactory``).

Each function returns the message as a ``dict`` shaped exactly like the
branch of ``VoiceSessionServerMessage`` (server → client) or
``VoiceSessionClient*Message`` (client → server) in the Vatel OpenAPI
document, API 0.2.3 (``openapi.json`` in Devpro-Software/vatel-py-sdk; the
same shapes as that SDK's ``models/ws.py`` and the JS SDK's ``types.ts``).
:func:`encode` turns one into the text frame that goes on the wire.

The simulator builds everything it sends with these functions, and tests use
them to inject hand-made frames, so the wire shape is written down once.

Rules the builders keep (the Vatel wire spec §5 and §12.5), because real
clients are strict: the Python SDK rejects *any* key inside ``data`` of
``speech_stopped``, ``interruption`` and ``session_ended`` and raises on an
unknown ``type``. So the empty-data events carry exactly ``{}`` and no
builder adds keys the schema does not list.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = [
    "INPUT_AUDIO",
    "INPUT_AUDIO_TRANSCRIPT",
    "INTERRUPTION",
    "RESPONSE_AUDIO",
    "RESPONSE_TEXT",
    "SERVER_MESSAGE_TYPES",
    "SESSION_ENDED",
    "SESSION_STARTED",
    "SPEECH_STARTED",
    "SPEECH_STOPPED",
    "TOOL_CALL",
    "TOOL_CALL_OUTPUT",
    "WEBRTC_TOPIC",
    "data_type_of",
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
]

# Server → client message types (the Vatel wire spec §5; ``oneOf`` of
# ``VoiceSessionServerMessage``).
SESSION_STARTED = "session_started"
RESPONSE_AUDIO = "response_audio"
RESPONSE_TEXT = "response_text"
INPUT_AUDIO_TRANSCRIPT = "input_audio_transcript"
SPEECH_STARTED = "speech_started"
SPEECH_STOPPED = "speech_stopped"
INTERRUPTION = "interruption"
SESSION_ENDED = "session_ended"
TOOL_CALL = "tool_call"
#: Every type a server may send; anything else is unknown to real clients.
SERVER_MESSAGE_TYPES = frozenset(
    {
        SESSION_STARTED,
        RESPONSE_AUDIO,
        RESPONSE_TEXT,
        INPUT_AUDIO_TRANSCRIPT,
        SPEECH_STARTED,
        SPEECH_STOPPED,
        INTERRUPTION,
        SESSION_ENDED,
        TOOL_CALL,
    }
)

# Client → server message types (the Vatel wire spec §4). There are no others:
# no config, ping, commit, interrupt or end message exists.
INPUT_AUDIO = "input_audio"

#: The LiveKit text-stream topic of the WebRTC transport: every message above,
#: one JSON object per text stream, both ways (the Vatel wire spec §11).
WEBRTC_TOPIC = "messages"
TOOL_CALL_OUTPUT = "tool_call_output"


def encode(message: Mapping[str, Any]) -> str:
    """The text frame for ``message``: compact UTF-8 JSON."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def _b64(pcm: bytes) -> str:
    return base64.b64encode(pcm).decode("ascii")


# -- server → client -------------------------------------------------------


def session_started(session_id: str) -> dict[str, Any]:
    """``session_started``: the session is live; ``id`` is the call id."""
    return {"type": SESSION_STARTED, "data": {"id": session_id}}


def response_audio(turn_id: str, pcm: bytes, *, is_final: bool = False) -> dict[str, Any]:
    """``response_audio``: one chunk of agent speech, raw PCM16 24 kHz mono in
    base64; ``is_final`` marks the last chunk of the utterance or segment."""
    return {
        "type": RESPONSE_AUDIO,
        "data": {"turn_id": turn_id, "audio": _b64(pcm), "is_final": is_final},
    }


def response_text(turn_id: str, text: str, *, is_final: bool) -> dict[str, Any]:
    """``response_text``: agent text of ``turn_id``. While ``is_final`` is
    false the text may be repeated or refined; each message carries the
    whole text, not an increment."""
    return {"type": RESPONSE_TEXT, "data": {"turn_id": turn_id, "text": text, "is_final": is_final}}


def input_audio_transcript(
    transcript: str, *, is_final: bool, turn_id: str | None = None
) -> dict[str, Any]:
    """``input_audio_transcript``: speech-to-text of the user (``turn_id`` optional)."""
    data: dict[str, Any] = {"transcript": transcript, "is_final": is_final}
    if turn_id is not None:
        data["turn_id"] = turn_id
    return {"type": INPUT_AUDIO_TRANSCRIPT, "data": data}


def speech_started(*, emulated: bool = False) -> dict[str, Any]:
    """``speech_started``: voice activity began. ``emulated`` is true when the
    server synthesised the start because a transcript came without VAD."""
    return {"type": SPEECH_STARTED, "data": {"emulated": emulated}}


def speech_stopped() -> dict[str, Any]:
    """``speech_stopped`` with exactly ``{}`` as data."""
    return {"type": SPEECH_STOPPED, "data": {}}


def interruption() -> dict[str, Any]:
    """``interruption`` (the user barged in) with exactly ``{}`` as data."""
    return {"type": INTERRUPTION, "data": {}}


def session_ended() -> dict[str, Any]:
    """``session_ended`` with exactly ``{}`` as data (Vatel sends no reason)."""
    return {"type": SESSION_ENDED, "data": {}}


def data_type_of(value: Any) -> str:
    """The ``dataType`` hint for a JSON value (``string``, ``number``, …)."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, Mapping):
        return "object"
    if isinstance(value, Sequence):
        return "array"
    return "null"


def tool_argument(
    name: str,
    value: Any,
    *,
    kind: str = "resolved",
    data_type: str | None = None,
    description: str = "",
    required: bool = True,
) -> dict[str, Any]:
    """One entry of ``tool_call.arguments`` (``VoiceSessionInputVariable``).

    ``kind`` is the descriptor's ``type`` (``"static"``, ``"resolved"``, …);
    ``data_type`` defaults to :func:`data_type_of` ``(value)``.
    """
    return {
        "name": name,
        "type": kind,
        "dataType": data_type if data_type is not None else data_type_of(value),
        "description": description,
        "required": required,
        "value": value,
    }


def tool_call(
    call_id: str,
    name: str,
    arguments: Mapping[str, Any] | Sequence[Mapping[str, Any]] = (),
) -> dict[str, Any]:
    """``tool_call``: the agent asks the client to run ``name``.

    ``arguments`` is either a list of descriptors (see :func:`tool_argument`)
    sent as they are, or a mapping name → value turned into ``resolved``
    descriptors.
    """
    if isinstance(arguments, Mapping):
        items = [
            tool_argument(key, value, description=f"argument {key!r} of {name}")
            for key, value in arguments.items()
        ]
    else:
        items = [dict(item) for item in arguments]
    return {
        "type": TOOL_CALL,
        "data": {"toolCallId": call_id, "toolName": name, "arguments": items},
    }


# -- client → server -------------------------------------------------------


def input_audio(pcm: bytes) -> dict[str, Any]:
    """``input_audio``: user audio, raw PCM16 24 kHz mono in base64."""
    return {"type": INPUT_AUDIO, "data": {"audio": _b64(pcm)}}


def tool_call_output(call_id: str, output: str) -> dict[str, Any]:
    """``tool_call_output``: the (opaque string) result of ``tool_call`` ``call_id``."""
    return {"type": TOOL_CALL_OUTPUT, "data": {"toolCallId": call_id, "output": output}}
