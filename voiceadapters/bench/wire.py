"""Wire profiles: each known protocol's steady state, as data.

A :class:`WireProfile` says what the bench server plays (opening messages,
one agent-audio frame repeated every 20 ms) and how the floor client talks
(handshake, how microphone audio is framed, where agent audio is in a
message). The framework side needs none of it: it is the plugin itself,
through :func:`voiceadapters.connect`.

Profiles are keyed by provider name. They follow the wire specs
(``protocols/*.md`` in the design repository), not the plugins' code, so that
a plugin that drifts from its protocol fails the bench's sanity check (no
agent audio arrives) instead of silently benchmarking something else. An
installed provider without a profile is reported as skipped.
"""

from __future__ import annotations

import base64
import json
import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

__all__ = ["API_KEY", "PROFILES", "WireProfile", "server_spec", "tone_frame"]

#: The key every bench client presents; the bench server accepts anything.
API_KEY = "bench-key"


def tone_frame(rate: int, ms: int = 20, hz: float = 400.0, dbfs: float = -20.0) -> bytes:
    """``ms`` of a sine as 16-bit PCM; 400 Hz fits a whole number of periods in 20 ms,
    so repeating the frame is a continuous tone."""
    n = rate * ms // 1000
    amp = 32768 * 10 ** (dbfs / 20)
    t = np.arange(n) / rate
    return bytes(np.rint(amp * np.sin(2 * math.pi * hz * t)).astype("<i2").tobytes())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _json(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":")).encode()


@dataclass(frozen=True)
class WireProfile:
    """One protocol's steady state; see the module docstring."""

    provider: str
    #: Floor handshake: ``token`` (POST, then WS ``ws_path?token=``),
    #: ``token_first`` (POST → ``ws_url``, token as first message),
    #: ``url_key`` (key and config in the WS URL, then a settings message).
    handshake: Literal["token", "token_first", "url_key"]
    wire_in: int
    wire_out: int
    token_path: str
    ws_path: str
    #: Microphone audio: ``json`` (base64 between ``in_prefix`` and ``in_suffix``) or ``binary``.
    audio_in: Literal["json", "binary"]
    #: Agent audio: ``json`` (base64 at ``out_field`` of messages of ``out_type``) or ``binary``.
    audio_out: Literal["json", "binary"]
    in_prefix: str = ""
    in_suffix: str = ""
    out_type: str = ""
    out_field: tuple[str, ...] = ()
    #: Text frames the server sends on open, and after the client's first message.
    open_messages: tuple[bytes, ...] = ()
    first_messages: tuple[bytes, ...] = ()
    #: The client's first message in ``url_key``/``token_first`` handshakes (``{token}`` filled in).
    hello: str = ""

    def agent_frame(self) -> tuple[bool, bytes]:
        """The agent-audio message the server repeats: ``(is_text, payload)``."""
        pcm = tone_frame(self.wire_out)
        if self.audio_out == "binary":
            return False, pcm
        message: dict[str, Any] = {"type": self.out_type}
        node = message
        for key in self.out_field[:-1]:
            node = node.setdefault(key, {})
        node[self.out_field[-1]] = _b64(pcm)
        if self.provider == "vatel":
            node["turn_id"] = "bench-turn"
            node["is_final"] = False
        elif self.provider == "nextevi":
            message["chunk_id"] = "bench-chunk"
            message["is_last"] = False
        return True, _json(message)


PROFILES: dict[str, WireProfile] = {
    # protocols/vatel.md: JSON {type, data}, base64 PCM 24 kHz both ways.
    "vatel": WireProfile(
        provider="vatel",
        handshake="token",
        wire_in=24000,
        wire_out=24000,
        token_path="/v1/session-token",
        ws_path="/v1/connection",
        audio_in="json",
        audio_out="json",
        in_prefix='{"type":"input_audio","data":{"audio":"',
        in_suffix='"}}',
        out_type="response_audio",
        out_field=("data", "audio"),
        open_messages=(_json({"type": "session_started", "data": {"id": "bench-session"}}),),
    ),
    # protocols/binary-pcm.md: token + ws_url, token first, 640-byte binary frames at 16 kHz.
    "binary-pcm": WireProfile(
        provider="binary-pcm",
        handshake="token_first",
        wire_in=16000,
        wire_out=16000,
        token_path="/api/v1/sdk/token",
        ws_path="/api/v1/sdk/ws",
        audio_in="binary",
        audio_out="binary",
        first_messages=(_json({"type": "connected"}), _json({"type": "agent_ready"})),
        hello='{"token":"{token}"}',
    ),
    # protocols/nextevi.md: key in the URL, session_settings, binary PCM 24 kHz in,
    # flat JSON tts_chunk with base64 ``content`` out (the vendor clients' dialect).
    "nextevi": WireProfile(
        provider="nextevi",
        handshake="url_key",
        wire_in=24000,
        wire_out=24000,
        token_path="",
        ws_path="/ws/voice/bench-connection",
        audio_in="binary",
        audio_out="json",
        out_type="tts_chunk",
        out_field=("content",),
        open_messages=(
            _json(
                {
                    "type": "connection_metadata",
                    "connection_id": "bench-connection",
                    "status": "connected",
                    "config": {
                        "audio_format": "pcm_24khz_16bit_mono",
                        "encoding": "linear16",
                        "sample_rate": 24000,
                        "channels": 1,
                    },
                    "config_id": "bench-config",
                }
            ),
        ),
        hello='{"type":"session_settings","sample_rate":24000,"channels":1,"encoding":"linear16"}',
    ),
}


def server_spec(profile: WireProfile) -> dict[str, Any]:
    """What :mod:`voiceadapters.bench.server` needs to play ``profile``."""
    text, payload = profile.agent_frame()
    return {
        "open": [[True, _b64(m)] for m in profile.open_messages],
        "on_first": [[True, _b64(m)] for m in profile.first_messages],
        "audio": [text, _b64(payload)],
        "ws_path": profile.ws_path,
    }
