"""The Parrot protocol's steady state for ``voiceadapters bench`` (the ``bench`` extra).

A bench profile tells the bench two things (see "Benchmarking your plugin"
in the voiceadapters docs): what its server plays — the opening messages,
the agent-audio message it repeats every 20 ms — and how a hand-written
client (the floor the plugin is compared with) talks. Write it from the
protocol's description (the package docstring), not from the codec, so that
a codec that drifts from its protocol fails the bench instead of being
measured against itself.
"""

from __future__ import annotations

from voiceadapters_bench import BenchProfile, ClientConnection, Message, Peer

__all__ = ["PROFILE", "ExampleBenchProfile"]


class ExampleBenchProfile(BenchProfile):
    """One WebSocket, a bearer header, raw PCM 16 kHz binary frames both ways."""

    wire_in = 16000
    wire_out = 16000
    ws_path = "/v1/talk"
    # The server speaks first: `ready`, then `speaking` for the reply whose
    # binary frames follow.
    open_messages = (
        '{"event":"ready","session":"bench-session"}',
        '{"event":"speaking","turn":"bench-turn"}',
    )

    def agent_audio(self, pcm: bytes) -> Message:
        return pcm  # a binary frame is the parrot's voice

    async def handshake(self, peer: Peer) -> ClientConnection:
        # No token step and no first client message: the key goes in a header.
        return await peer.websocket(
            peer.ws_url(f"{self.ws_path}?voice=polly"),
            headers={"Authorization": f"Bearer {peer.api_key}"},
        )

    def mic_audio(self, pcm: bytes) -> Message:
        return pcm  # the microphone, as binary frames

    def agent_pcm(self, message: Message) -> bytes | None:
        return message if isinstance(message, bytes) else None  # text: JSON events


#: The entry point ``voiceadapters.bench_profiles: example``.
PROFILE = ExampleBenchProfile()
