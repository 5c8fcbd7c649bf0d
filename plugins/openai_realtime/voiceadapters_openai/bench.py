"""The OpenAI Realtime (GA) steady state for ``voiceadapters bench`` (the ``bench`` extra).

Written from the GA protocol (the ``openai`` SDK's ``types/realtime``), not
from this plugin's codec, so that a codec that drifts from the protocol fails
the bench's sanity check instead of being benchmarked against itself.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from voiceadapters_bench import BenchProfile, ClientConnection, Message, Peer

__all__ = ["PROFILE", "RealtimeBenchProfile"]


def _json(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


class RealtimeBenchProfile(BenchProfile):
    """JSON events, base64 PCM16 24 kHz both ways; the key as a bearer header."""

    wire_in = 24000
    wire_out = 24000
    ws_path = "/v1/realtime"
    # The server's first event, then a response in progress whose audio streams.
    open_messages = (
        _json(
            {
                "type": "session.created",
                "event_id": "event_bench0",
                "session": {"type": "realtime", "object": "realtime.session", "id": "sess_bench"},
            }
        ),
        _json(
            {
                "type": "response.created",
                "event_id": "event_bench1",
                "response": {
                    "id": "resp_bench",
                    "object": "realtime.response",
                    "status": "in_progress",
                },
            }
        ),
    )

    _IN_PREFIX = '{"type":"input_audio_buffer.append","audio":"'
    _IN_SUFFIX = '"}'

    def agent_audio(self, pcm: bytes) -> Message:
        return _json(
            {
                "type": "response.output_audio.delta",
                "event_id": "event_bench2",
                "response_id": "resp_bench",
                "item_id": "item_bench",
                "output_index": 0,
                "content_index": 0,
                "delta": base64.b64encode(pcm).decode(),
            }
        )

    async def handshake(self, peer: Peer) -> ClientConnection:
        # One WebSocket with the key as a bearer; the client's session.update.
        connection = await peer.websocket(
            peer.ws_url(f"{self.ws_path}?model=gpt-realtime"),
            headers={"Authorization": f"Bearer {peer.api_key}"},
        )
        await connection.send(
            _json(
                {
                    "type": "session.update",
                    "session": {
                        "type": "realtime",
                        "audio": {
                            "input": {"format": {"type": "audio/pcm", "rate": 24000}},
                            "output": {"format": {"type": "audio/pcm", "rate": 24000}},
                        },
                    },
                }
            )
        )
        return connection

    def mic_audio(self, pcm: bytes) -> Message:
        return self._IN_PREFIX + base64.b64encode(pcm).decode() + self._IN_SUFFIX

    def agent_pcm(self, message: Message) -> bytes | None:
        if isinstance(message, bytes):
            return None
        event = json.loads(message)
        if event.get("type") != "response.output_audio.delta":
            return None
        return base64.b64decode(event["delta"])


#: The entry point ``voiceadapters.bench_profiles: openai``.
PROFILE = RealtimeBenchProfile()
