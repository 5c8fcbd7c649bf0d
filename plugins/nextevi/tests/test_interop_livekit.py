"""Interop with a client nobody here wrote: the NextEVI vendor's own LiveKit
plugin (PyPI ``livekit-plugins-nextevi`` 0.1.0, with ``livekit-agents==1.2.9``)
runs a session against our NextEVI simulator over real WebSocket.

The plugin's standalone ``NextEVIWebSocketClient`` is used as it ships:

* it is pointed at the simulator through its public config, ``NextEVIConfig``
  ``base_url="ws://127.0.0.1:<port>"`` (the field exists for exactly this;
  ``get_websocket_url`` appends ``/ws/voice/<connection id>?api_key=…&config_id=…``);
  no patching, no private attribute;
* its key must start with ``oak_`` and its ``config_id`` have 8 characters
  or more (its validators), which the simulator's defaults satisfy;
* on connect it sends the *flat* ``session_settings``; microphone audio goes
  through ``send_audio(rtc.AudioFrame)`` as binary PCM 24 kHz — except
  all-zero frames, which it drops. The speech is followed by true digital
  silence (zeros, as a WAV file that ends in silence has), so after the
  speech nothing reaches the simulator: its agent ends the user's turn
  because audio stopped arriving, as a real provider does;
* every server message reaches the callback given to ``set_message_handler``
  as the decoded JSON object; the plugin reads flat fields
  (``transcript``, ``content``, ``is_last``…), which the simulator's superset
  dialect carries.

Skipped where the plugin is not installed; CI installs it (see
``requirements-dev.txt``).
"""

from __future__ import annotations

import asyncio
import base64
from typing import Any

import pytest

client_module = pytest.importorskip(
    "livekit_nextevi.realtime.nextevi_websocket_client",
    reason="needs livekit-plugins-nextevi with livekit-agents==1.2.9",
)
config_module = pytest.importorskip("livekit_nextevi.realtime.config")
rtc = pytest.importorskip("livekit.rtc")

from voiceadapters.audio import StreamConverter, best_alignment, pcm_to_array  # noqa: E402
from voiceadapters.format import AudioFormat  # noqa: E402
from voiceadapters.testing import serve_simulator, speech_sample  # noqa: E402

pytestmark = pytest.mark.network

KEY = "oak_interop_livekit_0123456789"
TIMEOUT = 20
FRAME = 960  # bytes: 20 ms at 24 kHz


def speech_24k() -> bytes:
    pcm, fmt = speech_sample()
    conv = StreamConverter(fmt, AudioFormat(24000))
    return conv.convert(pcm) + conv.flush()


def audio_frame(pcm: bytes) -> Any:
    return rtc.AudioFrame(
        data=pcm, sample_rate=24000, num_channels=1, samples_per_channel=len(pcm) // 2
    )


async def test_livekit_plugin_client_runs_a_session_against_the_simulator() -> None:
    speech = speech_24k()
    microphone = speech + bytes(2 * int(24000 * 1.2))  # 1.2 s of digital silence
    received: list[dict[str, Any]] = []
    reply_done = asyncio.Event()
    text_reply = asyncio.Event()

    async def on_message(message: dict[str, Any]) -> None:
        received.append(message)
        if message.get("type") == "tts_chunk" and message.get("is_last"):
            reply_done.set()
        if message.get("type") == "llm_response_chunk" and "You wrote" in message.get(
            "content", ""
        ):
            text_reply.set()

    async with serve_simulator("nextevi", api_key=KEY) as (server, _config, sim):
        config = config_module.NextEVIConfig(
            api_key=KEY, config_id=sim.config_id, base_url=f"ws://127.0.0.1:{server.port}"
        )
        client = client_module.NextEVIWebSocketClient(config=config)
        client.set_message_handler(on_message)
        await asyncio.wait_for(client.connect(), TIMEOUT)
        connection_id = client.connection_id
        try:
            assert client.is_connected
            for at in range(0, len(microphone), FRAME):
                await client.send_audio(audio_frame(microphone[at : at + FRAME]))
            await asyncio.wait_for(reply_done.wait(), TIMEOUT)
            # The plugin's other two client messages.
            await client.send_text_message("testing")
            await asyncio.wait_for(text_reply.wait(), TIMEOUT)
            await client.interrupt_generation()
            for _ in range(100):
                if sim.connections[0].interrupts:
                    break
                await asyncio.sleep(0.01)
        finally:
            await client.disconnect()

    # What reached the simulator.
    (connection,) = sim.connections
    assert connection.connection_id == connection_id and connection_id.startswith("voice_")
    assert connection.config_id == sim.config_id and connection.rejection is None
    assert connection.settings == [
        {"type": "session_settings", "sample_rate": 24000, "channels": 1, "encoding": "linear16"}
    ], "the plugin's flat session_settings"
    assert connection.binary_frame_sizes and set(connection.binary_frame_sizes[:-1]) == {FRAME}
    heard = bytes(connection.received_audio)
    assert len(heard) >= len(speech) * 0.9, "binary audio (minus any all-zero frames)"
    assert len(heard) < len(microphone), "the plugin dropped the all-zero frames"
    assert best_alignment(pcm_to_array(speech), pcm_to_array(heard))[1] >= 0.99
    assert connection.texts == ["testing"] and connection.interrupts == 1
    assert connection.invalid == []

    # What the plugin's client received, in the fields it reads.
    kinds = [m["type"] for m in received]
    assert kinds[0] == "connection_metadata"
    finals = [m for m in received if m["type"] == "transcription" and m["is_final"]]
    assert any(
        m["transcript"].startswith("[") and "s of speech]" in m["transcript"] for m in finals
    )
    assert all(0.0 <= m["confidence"] <= 1.0 for m in finals)
    assert any(m["type"] == "emotion_update" and m["emotions"] for m in received)
    chunks = [m for m in received if m["type"] == "tts_chunk"]
    assert chunks and chunks[-1]["is_last"]
    tts = b"".join(base64.b64decode(m["content"]) for m in chunks)
    assert best_alignment(pcm_to_array(speech), pcm_to_array(tts))[1] >= 0.9
