"""The Vatel protocol's steady state for ``voiceadapters bench`` (the ``bench`` extra).

Written from the Vatel wire spec, not from this plugin's codec, so that a
codec that drifts from the protocol fails the bench's sanity check instead
of being benchmarked against itself. See "Benchmarking your plugin" in the
voiceadapters docs.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from voiceadapters_bench import BenchProfile, ClientConnection, Message, Peer

__all__ = ["PROFILE", "VatelBenchProfile"]


def _json(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


class VatelBenchProfile(BenchProfile):
    """JSON ``{type, data}`` text frames, base64 PCM 24 kHz both ways (Vatel wire spec §3, §6)."""

    wire_in = 24000
    wire_out = 24000
    ws_path = "/v1/connection"
    # §5: the server's first message.
    open_messages = (_json({"type": "session_started", "data": {"id": "bench-session"}}),)

    # The floor's input frame, around the base64 audio (§4 ``input_audio``).
    _IN_PREFIX = '{"type":"input_audio","data":{"audio":"'
    _IN_SUFFIX = '"}}'

    def agent_audio(self, pcm: bytes) -> Message:
        # §5 ``response_audio``: turn_id, audio, is_final.
        data = {"audio": base64.b64encode(pcm).decode(), "turn_id": "bench-turn", "is_final": False}
        return _json({"type": "response_audio", "data": data})

    async def handshake(self, peer: Peer) -> ClientConnection:
        # §1: POST /v1/session-token with the key as a bearer; §2: the token in the URL.
        reply = await peer.post_json(
            peer.http_url("/v1/session-token"),
            {"agent_id": "bench-agent"},
            headers={"Authorization": f"Bearer {peer.api_key}"},
        )
        return await peer.websocket(peer.ws_url(f"{self.ws_path}?token={reply['token']}"))

    def mic_audio(self, pcm: bytes) -> Message:
        return self._IN_PREFIX + base64.b64encode(pcm).decode() + self._IN_SUFFIX

    def agent_pcm(self, message: Message) -> bytes | None:
        if isinstance(message, bytes):
            return None  # §3: text frames only
        m = json.loads(message)
        if m.get("type") != "response_audio":
            return None
        return base64.b64decode(m["data"]["audio"])


#: The entry point ``voiceadapters.bench_profiles: vatel``.
PROFILE = VatelBenchProfile()
