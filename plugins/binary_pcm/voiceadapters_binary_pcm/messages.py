"""Names and builders for every binary-PCM wire message (a "frame factory",
after h2's test ``FrameFactory``).

The protocol (the binary-PCM wire spec §2, §5): text frames are JSON control
messages, binary frames raw PCM16 16 kHz mono.

* client → server: ``{"token": …}`` once, first; then binary microphone
  frames of exactly :data:`FRAME_BYTES` bytes. Nothing else exists.
* server → client: ``connected``, ``agent_ready``, ``session_ended{reason}``,
  ``error{code, message}`` (always followed by a close), and binary agent
  audio.

The simulator builds everything it sends with these functions, and tests use
them to inject hand-made frames, so the wire shape is written down once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from .provider import FRAME_BYTES, BinaryPcmProvider

__all__ = [
    "AGENT_DISCONNECTED",
    "AGENT_READY",
    "AUTH_FAILED",
    "AUTH_TIMEOUT",
    "CLOSE_AUTH_FAILED",
    "CLOSE_AUTH_TIMEOUT",
    "CLOSE_CODE_OF",
    "CLOSE_INVALID_AUTH",
    "CLOSE_NORMAL",
    "CLOSE_SETUP_FAILED",
    "CONNECTED",
    "DEFAULT_ERROR_MESSAGES",
    "ERROR",
    "FATAL_ERROR_CODES",
    "FRAME_BYTES",
    "HEARTBEAT_PATH",
    "INVALID_AUTH",
    "ROOM_CLOSED",
    "SERVER_MESSAGE_TYPES",
    "SERVER_SHUTDOWN",
    "SESSION_CLOSED",
    "SESSION_ENDED",
    "SESSION_ENDED_REASONS",
    "SESSION_SETUP_FAILED",
    "TOKEN_PATH",
    "WS_PATH",
    "agent_ready",
    "auth",
    "connected",
    "encode",
    "error",
    "session_ended",
    "token_response",
]

# -- endpoints (the binary-PCM wire spec §1) ---------------------------------------------

# Declared by the provider; named here too, as before 0.2.
TOKEN_PATH = BinaryPcmProvider.token_path
HEARTBEAT_PATH = BinaryPcmProvider.heartbeat_path
WS_PATH = BinaryPcmProvider.ws_path

# -- server → client message types (§2) ----------------------------------------------

CONNECTED = "connected"
AGENT_READY = "agent_ready"
SESSION_ENDED = "session_ended"
ERROR = "error"
#: Every type a server sends; anything else is unknown to clients.
SERVER_MESSAGE_TYPES = frozenset({CONNECTED, AGENT_READY, SESSION_ENDED, ERROR})

# -- session_ended reasons (§2; an open set, §8.1) -----------------------------------------

AGENT_DISCONNECTED = "agent_disconnected"
#: Listed by seed 003; the websocket docs list ``room_closed`` instead (§8.1).
SESSION_CLOSED = "session_closed"
ROOM_CLOSED = "room_closed"
SERVER_SHUTDOWN = "server_shutdown"
SESSION_ENDED_REASONS = (AGENT_DISCONNECTED, SESSION_CLOSED, ROOM_CLOSED, SERVER_SHUTDOWN)

# -- error codes and close codes (§5) ----------------------------------------------------

AUTH_TIMEOUT = "AUTH_TIMEOUT"
INVALID_AUTH = "INVALID_AUTH"
AUTH_FAILED = "AUTH_FAILED"
SESSION_SETUP_FAILED = "SESSION_SETUP_FAILED"
#: The documented codes; each precedes a close, so each is fatal.
FATAL_ERROR_CODES = frozenset({AUTH_TIMEOUT, INVALID_AUTH, AUTH_FAILED, SESSION_SETUP_FAILED})

CLOSE_NORMAL = 1000
CLOSE_AUTH_TIMEOUT = 4001
CLOSE_INVALID_AUTH = 4002
CLOSE_AUTH_FAILED = 4003
CLOSE_SETUP_FAILED = 4500
#: Error code → the close code that follows it (inferred pairing, §5).
CLOSE_CODE_OF = {
    AUTH_TIMEOUT: CLOSE_AUTH_TIMEOUT,
    INVALID_AUTH: CLOSE_INVALID_AUTH,
    AUTH_FAILED: CLOSE_AUTH_FAILED,
    SESSION_SETUP_FAILED: CLOSE_SETUP_FAILED,
}
#: The messages the simulator sends with each code (``AUTH_FAILED``'s is the
#: docs' example; the others are the troubleshooting page's causes).
DEFAULT_ERROR_MESSAGES = {
    AUTH_TIMEOUT: "Token not sent within 10 seconds",
    INVALID_AUTH: "First message must be JSON with a token field",
    AUTH_FAILED: "Invalid or expired token",
    SESSION_SETUP_FAILED: "Could not initialize the voice session",
}


def encode(message: Mapping[str, Any]) -> str:
    """The text frame for ``message``: compact UTF-8 JSON."""
    return json.dumps(message, separators=(",", ":"), ensure_ascii=False)


# -- client → server ------------------------------------------------------------------


def auth(token: str) -> dict[str, Any]:
    """The client's first message: ``{"token": "<jwt>"}`` (no ``type`` field)."""
    return {"token": token}


# -- server → client ------------------------------------------------------------------


def connected() -> dict[str, Any]:
    """``connected``: the token was accepted; the client may send audio now."""
    return {"type": CONNECTED}


def agent_ready() -> dict[str, Any]:
    """``agent_ready``: the agent is listening; full duplex is active."""
    return {"type": AGENT_READY}


def session_ended(reason: str = AGENT_DISCONNECTED) -> dict[str, Any]:
    """``session_ended`` with its ``reason`` string."""
    return {"type": SESSION_ENDED, "reason": reason}


def error(code: str, message: str | None = None) -> dict[str, Any]:
    """``error{code, message}``; ``message`` defaults to :data:`DEFAULT_ERROR_MESSAGES`."""
    text = message if message is not None else DEFAULT_ERROR_MESSAGES.get(code, code)
    return {"type": ERROR, "code": code, "message": text}


def token_response(token: str, ws_url: str) -> dict[str, Any]:
    """The token endpoint's 200 body: ``{"token", "ws_url"}`` (§1.1)."""
    return {"token": token, "ws_url": ws_url}
