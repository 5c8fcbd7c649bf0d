"""The binary-PCM protocol's steady state for ``voiceadapters bench`` (the ``bench`` extra).

Written from the binary-PCM wire spec, not from this plugin's codec, so that
a codec that drifts from the protocol fails the bench's sanity check instead
of being benchmarked against itself. See "Benchmarking your plugin" in the
voiceadapters docs.
"""

from __future__ import annotations

from voiceadapters_bench import BenchProfile, ClientConnection, Message, Peer

__all__ = ["PROFILE", "BinaryPcmBenchProfile"]


class BinaryPcmBenchProfile(BenchProfile):
    """Token POST, token as the first message, raw 640-byte PCM frames at 16 kHz
    both ways (binary-PCM wire spec §1-§3)."""

    wire_in = 16000
    wire_out = 16000
    ws_path = "/api/v1/sdk/ws"
    # §2, §4: `connected` answers the token message, then `agent_ready`.
    first_messages = ('{"type":"connected"}', '{"type":"agent_ready"}')

    def agent_audio(self, pcm: bytes) -> Message:
        return pcm  # §2: a binary frame is agent PCM

    async def handshake(self, peer: Peer) -> ClientConnection:
        # §1: POST the token request with the key as a bearer, no body; open
        # `ws_url` verbatim; the first message is {"token": …}.
        reply = await peer.post_json(
            peer.http_url("/api/v1/sdk/token"),
            headers={"Authorization": f"Bearer {peer.api_key}"},
        )
        ws = await peer.websocket(reply["ws_url"])
        await ws.send('{"token":"' + reply["token"] + '"}')
        return ws

    def mic_audio(self, pcm: bytes) -> Message:
        return pcm  # §3: one 640-byte binary message per 20 ms frame

    def agent_pcm(self, message: Message) -> bytes | None:
        return message if isinstance(message, bytes) else None  # text: control messages


#: The entry point ``voiceadapters.bench_profiles: binary-pcm``.
PROFILE = BinaryPcmBenchProfile()
