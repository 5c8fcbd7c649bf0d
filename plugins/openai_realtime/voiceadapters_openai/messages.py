"""Wire names of the OpenAI Realtime API (GA) and the beta names GA renamed.

Source: the ``openai`` SDK's ``types/realtime/realtime_client_event.py`` and
``realtime_server_event.py`` (GA) and ``types/beta/realtime/`` (beta).
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "BETA_ALIASES",
    "CLIENT_EVENTS",
    "IGNORED_SERVER_EVENTS",
    "encode",
]

# -- client events (11) ------------------------------------------------------------
SESSION_UPDATE = "session.update"
AUDIO_APPEND = "input_audio_buffer.append"
AUDIO_COMMIT = "input_audio_buffer.commit"
AUDIO_CLEAR = "input_audio_buffer.clear"
OUTPUT_AUDIO_CLEAR = "output_audio_buffer.clear"
ITEM_CREATE = "conversation.item.create"
ITEM_RETRIEVE = "conversation.item.retrieve"
ITEM_TRUNCATE = "conversation.item.truncate"
ITEM_DELETE = "conversation.item.delete"
RESPONSE_CREATE = "response.create"
RESPONSE_CANCEL = "response.cancel"

CLIENT_EVENTS = frozenset(
    {
        SESSION_UPDATE,
        AUDIO_APPEND,
        AUDIO_COMMIT,
        AUDIO_CLEAR,
        OUTPUT_AUDIO_CLEAR,
        ITEM_CREATE,
        ITEM_RETRIEVE,
        ITEM_TRUNCATE,
        ITEM_DELETE,
        RESPONSE_CREATE,
        RESPONSE_CANCEL,
    }
)

# -- server events the codec maps ----------------------------------------------------
ERROR = "error"
SESSION_CREATED = "session.created"
SPEECH_STARTED = "input_audio_buffer.speech_started"
SPEECH_STOPPED = "input_audio_buffer.speech_stopped"
TRANSCRIPTION_DELTA = "conversation.item.input_audio_transcription.delta"
TRANSCRIPTION_COMPLETED = "conversation.item.input_audio_transcription.completed"
TRANSCRIPTION_FAILED = "conversation.item.input_audio_transcription.failed"
RESPONSE_CREATED = "response.created"
RESPONSE_DONE = "response.done"
OUTPUT_ITEM_ADDED = "response.output_item.added"
OUTPUT_ITEM_DONE = "response.output_item.done"
AUDIO_DELTA = "response.output_audio.delta"
AUDIO_DONE = "response.output_audio.done"
AUDIO_TRANSCRIPT_DELTA = "response.output_audio_transcript.delta"
AUDIO_TRANSCRIPT_DONE = "response.output_audio_transcript.done"
TEXT_DELTA = "response.output_text.delta"
TEXT_DONE = "response.output_text.done"
ARGUMENTS_DELTA = "response.function_call_arguments.delta"
ARGUMENTS_DONE = "response.function_call_arguments.done"
ITEM_TRUNCATED = "conversation.item.truncated"

#: Beta-era names (``OpenAI-Beta: realtime=v1``) that GA renamed; still sent by
#: some compatible servers, so the codec accepts them as their GA names.
BETA_ALIASES: dict[str, str] = {
    "response.audio.delta": AUDIO_DELTA,
    "response.audio.done": AUDIO_DONE,
    "response.audio_transcript.delta": AUDIO_TRANSCRIPT_DELTA,
    "response.audio_transcript.done": AUDIO_TRANSCRIPT_DONE,
    "response.text.delta": TEXT_DELTA,
    "response.text.done": TEXT_DONE,
    "conversation.item.created": "conversation.item.added",
}

#: Server events that are well understood and carry nothing the normalized
#: model needs: no event (not ``unknown_message``).
IGNORED_SERVER_EVENTS = frozenset(
    {
        "session.updated",
        "conversation.created",
        "conversation.item.added",
        "conversation.item.done",
        "conversation.item.retrieved",
        "conversation.item.deleted",
        ITEM_TRUNCATED,
        "conversation.item.input_audio_transcription.segment",
        "input_audio_buffer.committed",
        "input_audio_buffer.cleared",
        "input_audio_buffer.timeout_triggered",
        "input_audio_buffer.dtmf_event_received",
        "output_audio_buffer.started",
        "output_audio_buffer.stopped",
        "output_audio_buffer.cleared",
        "response.content_part.added",
        "response.content_part.done",
        AUDIO_DONE,
        ARGUMENTS_DELTA,
        "rate_limits.updated",
        "mcp_list_tools.in_progress",
        "mcp_list_tools.completed",
        "mcp_list_tools.failed",
        "response.mcp_call_arguments.delta",
        "response.mcp_call_arguments.done",
        "response.mcp_call.in_progress",
        "response.mcp_call.completed",
        "response.mcp_call.failed",
    }
)


def encode(message: dict[str, Any]) -> str:
    """A message as a compact JSON text frame."""
    return json.dumps(message, separators=(",", ":"))
