"""Builders for every NextEVI message, in both dialects (a "frame factory",
after h2's test ``FrameFactory``).

NextEVI's documentation and its own clients disagree on the shape of a
message (§ "Two dialects" and §9.1 of the NextEVI wire spec):

``nested``
    the documented shape (docs pages, seed 004):
    ``{"type", "timestamp", "message_id", "data": {…fields…}}`` — except
    ``tts_chunk``, whose audio ``content`` is top level in every documented
    example;
``flat``
    what the vendor clients (the LiveKit plugin, the React SDK) send and
    read: ``{"type", …fields…}``;
``superset``
    both at once — the fields top level *and* mirrored in ``data``, plus
    ``timestamp``/``message_id``. The simulator speaks this, so clients of
    either dialect understand it (§9.1).

Server → client builders take ``dialect=`` (default ``superset``) and
optional ``timestamp``/``message_id``; :func:`error` always carries every error
shape (``error_code``/``error_message``, ``error``, ``data{code, message}``,
§9.6). Client → server builders produce what
:class:`~voiceadapters_nextevi.codec.NextEVICodec` sends. :func:`get_field`
reads a field from either dialect (``data`` first, then top level), and
:func:`encode` turns a message into its text frame.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any, Literal

__all__ = [
    "AUDIO_INPUT",
    "CLIENT_MESSAGE_TYPES",
    "CONNECTION_METADATA",
    "EMOTION_UPDATE",
    "ERROR",
    "IDLE_WARNING",
    "INTERRUPT",
    "KEEP_ALIVE",
    "LLM_RESPONSE_CHUNK",
    "SESSION_SETTINGS",
    "STATUS",
    "SYSTEM_MESSAGE",
    "TEXT_INPUT",
    "TRANSCRIPTION",
    "TTS_CHUNK",
    "TTS_INTERRUPTION",
    "TURN_COMPLETE",
    "USER_INTERRUPTION",
    "WEBSOCKET_DISCONNECT",
    "Dialect",
    "audio_input",
    "connection_metadata",
    "emotion_items",
    "emotion_update",
    "encode",
    "error",
    "get_field",
    "idle_warning",
    "interrupt",
    "keep_alive",
    "llm_response_chunk",
    "session_settings",
    "system_message",
    "text_input",
    "transcription",
    "tts_chunk",
    "tts_interruption",
    "turn_complete",
    "websocket_disconnect",
]

# Server → client (§3).
CONNECTION_METADATA = "connection_metadata"
TRANSCRIPTION = "transcription"
LLM_RESPONSE_CHUNK = "llm_response_chunk"
TTS_CHUNK = "tts_chunk"
EMOTION_UPDATE = "emotion_update"
ERROR = "error"
TTS_INTERRUPTION = "tts_interruption"
USER_INTERRUPTION = "user_interruption"
TURN_COMPLETE = "turn_complete"
IDLE_WARNING = "idle_warning"
SYSTEM_MESSAGE = "system_message"
STATUS = "status"
WEBSOCKET_DISCONNECT = "websocket.disconnect"

# Client → server (§2).
SESSION_SETTINGS = "session_settings"
AUDIO_INPUT = "audio_input"
KEEP_ALIVE = "keep_alive"
TEXT_INPUT = "text_input"
INTERRUPT = "interrupt"
CLIENT_MESSAGE_TYPES = frozenset({SESSION_SETTINGS, AUDIO_INPUT, KEEP_ALIVE, TEXT_INPUT, INTERRUPT})

Dialect = Literal["superset", "nested", "flat"]

#: ``connection_metadata.config.audio_format`` of the 24 kHz wire format (§3).
AUDIO_FORMAT_NAME = "pcm_24khz_16bit_mono"


def encode(message: Mapping[str, Any]) -> str:
    """The text frame for ``message``: compact UTF-8 JSON."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


def get_field(message: Mapping[str, Any], name: str, default: Any = None) -> Any:
    """``message["data"][name]`` if ``data`` is an object holding ``name``,
    else ``message[name]``, else ``default`` — reads either dialect."""
    data = message.get("data")
    if isinstance(data, dict) and name in data:
        return data[name]
    return message.get(name, default)


def _b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def _wrap(
    kind: str,
    fields: dict[str, Any],
    dialect: Dialect,
    timestamp: float | None,
    message_id: str | None,
    *,
    top: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One message in ``dialect``. ``top`` holds fields that are top level in
    every dialect (``tts_chunk.content`` in the documented shape)."""
    message: dict[str, Any] = {"type": kind}
    if timestamp is not None:
        message["timestamp"] = timestamp
    if message_id is not None:
        message["message_id"] = message_id
    if dialect == "flat":
        message.update(top or {})
        message.update(fields)
    elif dialect == "nested":
        message.update(top or {})
        message["data"] = fields
    else:
        message.update(top or {})
        message.update(fields)
        message["data"] = {**(top or {}), **fields}
    return message


# -- server → client ---------------------------------------------------------


def connection_metadata(
    connection_id: str,
    *,
    config_id: str,
    project_id: str | None = None,
    dialect: Dialect = "superset",
    timestamp: float | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """``connection_metadata``: the first server message (§3)."""
    fields: dict[str, Any] = {
        "connection_id": connection_id,
        "status": "connected",
        "config": {
            "audio_format": AUDIO_FORMAT_NAME,
            "encoding": "linear16",
            "sample_rate": 24000,
            "channels": 1,
        },
        "project_id": project_id,
        "config_id": config_id,
    }
    return _wrap(CONNECTION_METADATA, fields, dialect, timestamp, message_id)


def emotion_items(scores: Mapping[str, float]) -> list[dict[str, Any]]:
    """Emotion list items carrying every key any client reads (§9.5):
    ``name``/``emotion`` (label), ``score``/``confidence`` (0..1) and
    ``percentage`` (0..100), highest score first."""
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    return [
        {
            "name": label,
            "emotion": label,
            "score": round(score, 4),
            "confidence": round(score, 4),
            "percentage": round(score * 100, 2),
        }
        for label, score in ranked
    ]


def transcription(
    transcript: str,
    *,
    is_final: bool,
    confidence: float | None = None,
    event_type: str = "normal",
    is_speech_final: bool | None = None,
    emotions: Mapping[str, float] | None = None,
    dialect: Dialect = "superset",
    timestamp: float | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """``transcription``: speech-to-text of the user (§3). ``event_type`` is
    ``metadata.event_type``: ``normal``, ``speech_started`` or ``utterance_end``
    (React SDK types); ``emotions`` adds the list of :func:`emotion_items`."""
    fields: dict[str, Any] = {"transcript": transcript, "is_final": is_final}
    if confidence is not None:
        fields["confidence"] = confidence
    fields["is_speech_final"] = is_final if is_speech_final is None else is_speech_final
    fields["metadata"] = {"event_type": event_type}
    if emotions:
        fields["emotions"] = emotion_items(emotions)
    return _wrap(TRANSCRIPTION, fields, dialect, timestamp, message_id)


def llm_response_chunk(
    content: str,
    *,
    is_final: bool,
    generation_id: str | None = None,
    chunk_index: int | None = None,
    dialect: Dialect = "superset",
    timestamp: float | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """``llm_response_chunk``: agent text (§3, §9.4)."""
    fields: dict[str, Any] = {"content": content, "is_final": is_final}
    if generation_id is not None:
        fields["generation_id"] = generation_id
    if chunk_index is not None:
        fields["chunk_index"] = chunk_index
    return _wrap(LLM_RESPONSE_CHUNK, fields, dialect, timestamp, message_id)


def tts_chunk(
    audio: bytes,
    *,
    is_last: bool = False,
    chunk_id: str | None = None,
    dialect: Dialect = "superset",
    timestamp: float | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """``tts_chunk``: agent audio, base64 of raw PCM or of a whole WAV file
    (§3, §4, §9.3). ``content`` is top level in every dialect, as in every
    documented example; the superset mirrors it in ``data`` too."""
    fields: dict[str, Any] = {"is_last": is_last}
    if chunk_id is not None:
        fields["chunk_id"] = chunk_id
    return _wrap(TTS_CHUNK, fields, dialect, timestamp, message_id, top={"content": _b64(audio)})


def emotion_update(
    scores: Mapping[str, float],
    *,
    dialect: Dialect = "superset",
    timestamp: float | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """``emotion_update`` with ``top_emotions`` items carrying every key
    (:func:`emotion_items`) and the same list as ``emotions`` (read by the
    LiveKit plugin), §9.5."""
    items = emotion_items(scores)
    fields: dict[str, Any] = {"top_emotions": items, "emotions": [dict(i) for i in items]}
    return _wrap(EMOTION_UPDATE, fields, dialect, timestamp, message_id)


def error(
    code: str,
    message: str,
    *,
    timestamp: float | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """``error`` in every shape at once (§9.6): ``error_code`` and
    ``error_message`` (React SDK), ``error`` (LiveKit plugin) top level, and
    ``data{code, message}`` (documented ``data`` object)."""
    out: dict[str, Any] = {"type": ERROR}
    if timestamp is not None:
        out["timestamp"] = timestamp
    if message_id is not None:
        out["message_id"] = message_id
    out.update({"error_code": code, "error_message": message, "error": message})
    out["data"] = {"code": code, "message": message, "error_code": code, "error_message": message}
    return out


def tts_interruption(
    *,
    dialect: Dialect = "superset",
    timestamp: float | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """``tts_interruption``: the user barged in; drop queued agent audio (§7)."""
    return _wrap(TTS_INTERRUPTION, {"content": ""}, dialect, timestamp, message_id)


def turn_complete(
    transcript: str,
    *,
    confidence: float = 0.9,
    reasons: tuple[str, ...] = ("silence",),
    dialect: Dialect = "superset",
    timestamp: float | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """``turn_complete``: the server's turn detector decided the user finished (§3)."""
    fields: dict[str, Any] = {
        "transcript": transcript,
        "turn_result": {
            "is_complete": True,
            "confidence": confidence,
            "reasons": list(reasons),
            "processing_time": 0.01,
        },
    }
    return _wrap(TURN_COMPLETE, fields, dialect, timestamp, message_id)


def idle_warning(
    time_remaining: float,
    *,
    warning_type: str = "warning",
    dialect: Dialect = "superset",
    timestamp: float | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """``idle_warning``: the session will hang up in ``time_remaining`` s (§3)."""
    fields = {"time_remaining": time_remaining, "warning_type": warning_type}
    return _wrap(IDLE_WARNING, fields, dialect, timestamp, message_id)


def system_message(
    content: str,
    *,
    message_type: str,
    dialect: Dialect = "superset",
    timestamp: float | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """``system_message`` (``message_type``: ``initial``, ``warning`` or ``hangup``)."""
    fields = {"content": content, "message_type": message_type}
    return _wrap(SYSTEM_MESSAGE, fields, dialect, timestamp, message_id)


def websocket_disconnect(
    code: int,
    reason: str,
    *,
    dialect: Dialect = "superset",
    timestamp: float | None = None,
    message_id: str | None = None,
) -> dict[str, Any]:
    """``websocket.disconnect{code, reason}``: the server is about to close (§9.12)."""
    return _wrap(
        WEBSOCKET_DISCONNECT, {"code": code, "reason": reason}, dialect, timestamp, message_id
    )


# -- client → server -----------------------------------------------------------


def session_settings(
    *,
    message_id: str,
    sample_rate: int = 24000,
    channels: int = 1,
    emotion_detection: bool = True,
    turn_detection: bool = True,
    silence_threshold: float = 0.5,
) -> dict[str, Any]:
    """``session_settings`` in the superset form (§9.1): ``sample_rate``,
    ``channels`` and ``encoding`` top level as the vendor clients send them,
    and the documented ``data{emotion_detection, turn_detection, audio}``.
    No ``timestamp``: a codec has no wall clock, and the vendor clients'
    flat form has none either."""
    audio = {"sample_rate": sample_rate, "channels": channels, "encoding": "linear16"}
    return {
        "type": SESSION_SETTINGS,
        "message_id": message_id,
        **audio,
        "data": {
            "emotion_detection": {"enabled": emotion_detection},
            "turn_detection": {"enabled": turn_detection, "silence_threshold": silence_threshold},
            "audio": dict(audio),
        },
    }


def audio_input(pcm: bytes, *, chunk_id: str, message_id: str) -> dict[str, Any]:
    """``audio_input``: base64 PCM16 mono 24 kHz in the documented form (§2).
    Not mirrored flat: no client sends a flat ``audio_input`` (they send
    binary frames), and a mirror would double every audio message."""
    return {
        "type": AUDIO_INPUT,
        "message_id": message_id,
        "data": {"audio": _b64(pcm), "chunk_id": chunk_id},
    }


def keep_alive(*, message_id: str) -> dict[str, Any]:
    """``keep_alive``: no data (§2, §8)."""
    return {"type": KEEP_ALIVE, "message_id": message_id}


def text_input(text: str, *, message_id: str) -> dict[str, Any]:
    """``text_input``: flat ``text`` as the LiveKit plugin sends it, mirrored in ``data``."""
    return {"type": TEXT_INPUT, "message_id": message_id, "text": text, "data": {"text": text}}


def interrupt(*, message_id: str) -> dict[str, Any]:
    """``interrupt``: ask the agent to stop speaking (LiveKit plugin's shape, no data)."""
    return {"type": INTERRUPT, "message_id": message_id}
