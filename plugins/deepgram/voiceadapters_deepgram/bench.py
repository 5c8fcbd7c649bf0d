"""The Deepgram Voice Agent's steady state for ``voiceadapters bench`` (the ``bench`` extra).

Written from the protocol ([SDK] ``deepgram-sdk`` 7.17.0 message models and
the Voice Agent docs, as cited in :mod:`voiceadapters_deepgram.provider`), not
from this plugin's codec, so that a codec that drifts from the protocol fails
the bench's sanity check instead of being benchmarked against itself. See
"Benchmarking your plugin" in the voiceadapters docs.
"""

from __future__ import annotations

import json
from typing import Any

from voiceadapters_bench import BenchProfile, ClientConnection, Message, Peer

__all__ = ["PROFILE", "DeepgramBenchProfile"]


def _json(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


class DeepgramBenchProfile(BenchProfile):
    """``Authorization: Token``, ``Welcome``, ``Settings`` → ``SettingsApplied``,
    then binary linear16 both ways: 16 kHz up, 24 kHz down."""

    wire_in = 16000
    wire_out = 24000
    ws_path = "/v1/agent/converse"
    # The server speaks first (Welcome); audio flows after the client's Settings.
    open_messages = (_json({"type": "Welcome", "request_id": "bench-request"}),)
    first_messages = (
        _json({"type": "SettingsApplied"}),
        _json(
            {
                "type": "AgentStartedSpeaking",
                "total_latency": 0.1,
                "tts_latency": 0.05,
                "ttt_latency": 0.05,
            }
        ),
    )

    def agent_audio(self, pcm: bytes) -> Message:
        return pcm  # binary frames are the agent's voice (container "none")

    async def handshake(self, peer: Peer) -> ClientConnection:
        ws = await peer.websocket(
            peer.ws_url(self.ws_path), headers={"Authorization": f"Token {peer.api_key}"}
        )
        await ws.send(
            _json(
                {
                    "type": "Settings",
                    "audio": {
                        "input": {"encoding": "linear16", "sample_rate": 16000},
                        "output": {
                            "encoding": "linear16",
                            "sample_rate": 24000,
                            "container": "none",
                        },
                    },
                    "agent": {
                        "listen": {"provider": {"type": "deepgram", "model": "nova-3"}},
                        "think": {"provider": {"type": "open_ai", "model": "gpt-4o-mini"}},
                        "speak": {"provider": {"type": "deepgram", "model": "aura-2-thalia-en"}},
                    },
                }
            )
        )
        return ws

    def mic_audio(self, pcm: bytes) -> Message:
        return pcm  # the microphone, as binary frames

    def agent_pcm(self, message: Message) -> bytes | None:
        return message if isinstance(message, bytes) else None  # text: JSON control messages


#: The entry point ``voiceadapters.bench_profiles: deepgram``.
PROFILE = DeepgramBenchProfile()
