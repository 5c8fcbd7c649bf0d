"""The NextEVI protocol's steady state for ``voiceadapters bench`` (the ``bench`` extra).

Written from the NextEVI wire spec, not from this plugin's codec, so that a
codec that drifts from the protocol fails the bench's sanity check instead
of being benchmarked against itself. It speaks the vendor clients' flat
dialect (spec: "Two dialects exist"). See "Benchmarking your plugin" in the
voiceadapters docs.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from voiceadapters_bench import BenchProfile, ClientConnection, Message, Peer

__all__ = ["PROFILE", "NextEviBenchProfile"]

_CONNECTION_ID = "bench-connection"
_CONFIG_ID = "bench-config"


def _json(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


class NextEviBenchProfile(BenchProfile):
    """Key in the URL, ``session_settings``, binary PCM 24 kHz in, flat JSON
    ``tts_chunk`` with base64 ``content`` out (NextEVI wire spec §1-§4)."""

    wire_in = 24000
    wire_out = 24000
    ws_path = f"/ws/voice/{_CONNECTION_ID}"
    # §3: `connection_metadata` first.
    open_messages = (
        _json(
            {
                "type": "connection_metadata",
                "connection_id": _CONNECTION_ID,
                "status": "connected",
                "config": {
                    "audio_format": "pcm_24khz_16bit_mono",
                    "encoding": "linear16",
                    "sample_rate": 24000,
                    "channels": 1,
                },
                "config_id": _CONFIG_ID,
            }
        ),
    )

    def agent_audio(self, pcm: bytes) -> Message:
        # §3 `tts_chunk`: content, chunk_id, is_last (flat).
        content = base64.b64encode(pcm).decode()
        return _json(
            {"type": "tts_chunk", "content": content, "chunk_id": "bench-chunk", "is_last": False}
        )

    async def handshake(self, peer: Peer) -> ClientConnection:
        # §1: the key and config in the URL, no REST step; §2: then `session_settings`.
        url = peer.ws_url(f"{self.ws_path}?api_key={peer.api_key}&config_id={_CONFIG_ID}")
        ws = await peer.websocket(url)
        await ws.send(
            '{"type":"session_settings","sample_rate":24000,"channels":1,"encoding":"linear16"}'
        )
        return ws

    def mic_audio(self, pcm: bytes) -> Message:
        return pcm  # §2, §4: binary frames of raw PCM, as the vendor clients send

    def agent_pcm(self, message: Message) -> bytes | None:
        if isinstance(message, bytes):
            return None  # §4: no binary frames from the server
        m = json.loads(message)
        if m.get("type") != "tts_chunk":
            return None
        return base64.b64decode(m["content"])


#: The entry point ``voiceadapters.bench_profiles: nextevi``.
PROFILE = NextEviBenchProfile()
