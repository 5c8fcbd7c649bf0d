"""Deepgram Voice Agent wire messages: type names and builders, both directions.

Every JSON control message is an object with a ``type`` field; audio is
binary frames ([SDK] ``agent/v1/socket_client.py``: a ``bytes`` message is
audio, any text message is JSON). The field names below are the SDK's message
models (``deepgram/agent/v1/types/agent_v1*.py``); the plugin's tests validate
every builder's output against those models, so a drift shows up there.

Builders return plain dicts; :func:`encode` turns one into a compact text frame.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "AGENT_AUDIO_DONE",
    "AGENT_STARTED_SPEAKING",
    "AGENT_THINKING",
    "CONVERSATION_TEXT",
    "ERROR",
    "FUNCTION_CALL_REQUEST",
    "FUNCTION_CALL_RESPONSE",
    "INJECT_AGENT_MESSAGE",
    "INJECT_USER_MESSAGE",
    "KEEP_ALIVE",
    "SERVER_TYPES",
    "SETTINGS",
    "SETTINGS_APPLIED",
    "UPDATE_PROMPT",
    "USER_STARTED_SPEAKING",
    "WARNING",
    "WELCOME",
    "agent_audio_done",
    "agent_started_speaking",
    "agent_thinking",
    "conversation_text",
    "encode",
    "error",
    "function_call_request",
    "function_call_response",
    "inject_user_message",
    "keep_alive",
    "settings",
    "settings_applied",
    "user_started_speaking",
    "warning",
    "welcome",
]

# -- server → client ([SDK] V1SocketClientResponse) -----------------------------
WELCOME = "Welcome"
SETTINGS_APPLIED = "SettingsApplied"
CONVERSATION_TEXT = "ConversationText"
USER_STARTED_SPEAKING = "UserStartedSpeaking"
AGENT_THINKING = "AgentThinking"
FUNCTION_CALL_REQUEST = "FunctionCallRequest"
AGENT_STARTED_SPEAKING = "AgentStartedSpeaking"
AGENT_AUDIO_DONE = "AgentAudioDone"
ERROR = "Error"
WARNING = "Warning"
#: Both directions: a client's result, or the server's own function's result.
FUNCTION_CALL_RESPONSE = "FunctionCallResponse"

#: Every server message type of the SDK's union (the codec maps the first
#: group; the rest are passed on as ``unknown_message``).
SERVER_TYPES = frozenset(
    {
        WELCOME,
        SETTINGS_APPLIED,
        CONVERSATION_TEXT,
        USER_STARTED_SPEAKING,
        AGENT_THINKING,
        FUNCTION_CALL_REQUEST,
        FUNCTION_CALL_RESPONSE,
        AGENT_STARTED_SPEAKING,
        AGENT_AUDIO_DONE,
        ERROR,
        WARNING,
        "FunctionCallCancelled",
        "PromptUpdated",
        "SpeakUpdated",
        "ListenUpdated",
        "ThinkUpdated",
        "ThinkLiveUpdated",
        "InjectionRefused",
        "LatencyReport",
        "History",
        "FrustrationDetected",
        "CustomFromThinkProvider",
    }
)

# -- client → server ------------------------------------------------------------
SETTINGS = "Settings"
KEEP_ALIVE = "KeepAlive"
INJECT_USER_MESSAGE = "InjectUserMessage"
INJECT_AGENT_MESSAGE = "InjectAgentMessage"
UPDATE_PROMPT = "UpdatePrompt"


def encode(message: dict[str, Any]) -> str:
    """One compact JSON text frame."""
    return json.dumps(message, separators=(",", ":"))


# -- server builders (the simulator's) -------------------------------------------


def welcome(request_id: str) -> dict[str, Any]:
    return {"type": WELCOME, "request_id": request_id}


def settings_applied() -> dict[str, Any]:
    return {"type": SETTINGS_APPLIED}


def conversation_text(role: str, content: str) -> dict[str, Any]:
    """``role`` is ``user`` or ``assistant``. ``conversational_behavior`` is
    always sent by the current server ([SDK] docstring); ``default`` is a
    standard turn."""
    return {
        "type": CONVERSATION_TEXT,
        "role": role,
        "content": content,
        "conversational_behavior": "default",
    }


def user_started_speaking() -> dict[str, Any]:
    return {"type": USER_STARTED_SPEAKING}


def agent_thinking(content: str) -> dict[str, Any]:
    return {"type": AGENT_THINKING, "content": content}


def agent_started_speaking(
    total_latency: float, tts_latency: float, ttt_latency: float
) -> dict[str, Any]:
    return {
        "type": AGENT_STARTED_SPEAKING,
        "total_latency": total_latency,
        "tts_latency": tts_latency,
        "ttt_latency": ttt_latency,
    }


def agent_audio_done() -> dict[str, Any]:
    return {"type": AGENT_AUDIO_DONE}


def function_call_request(
    call_id: str, name: str, arguments: dict[str, Any], *, client_side: bool = True
) -> dict[str, Any]:
    """One function to call; ``arguments`` travel as a JSON *string* ([SDK]
    ``AgentV1FunctionCallRequestFunctionsItem.arguments``)."""
    return {
        "type": FUNCTION_CALL_REQUEST,
        "functions": [
            {
                "id": call_id,
                "name": name,
                "arguments": json.dumps(arguments, separators=(",", ":")),
                "client_side": client_side,
            }
        ],
    }


def error(code: str, description: str) -> dict[str, Any]:
    return {"type": ERROR, "description": description, "code": code}


def warning(code: str, description: str) -> dict[str, Any]:
    return {"type": WARNING, "description": description, "code": code}


# -- client builders (the codec's) -------------------------------------------------


def settings(
    *,
    input_sample_rate: int,
    output_sample_rate: int,
    listen_model: str,
    language: str,
    think_provider: str,
    think_model: str,
    speak_model: str,
    prompt: str | None = None,
    greeting: str | None = None,
    functions: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """The ``Settings`` message ([SDK] ``AgentV1Settings``): linear16 in and
    out, raw PCM output (``container: "none"``), Deepgram listen (v1
    provider) and speak providers, the given think provider."""
    think: dict[str, Any] = {"provider": {"type": think_provider, "model": think_model}}
    if prompt is not None:
        think["prompt"] = prompt
    if functions:
        think["functions"] = functions
    agent: dict[str, Any] = {
        "listen": {
            "provider": {
                "type": "deepgram",
                "version": "v1",
                "model": listen_model,
                "language": language,
            }
        },
        "think": think,
        "speak": {"provider": {"type": "deepgram", "model": speak_model}},
    }
    if greeting is not None:
        agent["greeting"] = greeting
    return {
        "type": SETTINGS,
        "audio": {
            "input": {"encoding": "linear16", "sample_rate": input_sample_rate},
            "output": {
                "encoding": "linear16",
                "sample_rate": output_sample_rate,
                "container": "none",
            },
        },
        "agent": agent,
    }


def keep_alive() -> dict[str, Any]:
    return {"type": KEEP_ALIVE}


def inject_user_message(content: str) -> dict[str, Any]:
    return {"type": INJECT_USER_MESSAGE, "content": content}


def function_call_response(call_id: str, name: str, content: str) -> dict[str, Any]:
    return {"type": FUNCTION_CALL_RESPONSE, "id": call_id, "name": name, "content": content}
