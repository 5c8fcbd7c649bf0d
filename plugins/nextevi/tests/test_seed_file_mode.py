"""Seed 004's Python "file mode" against the NextEVI simulator over loopback.

The vendor docs' asyncio client (``NextEVIPythonClient.run_conversation(
audio_file)``) is written here as it is there, with the ``websockets``
library: connect to ``/ws/voice/<connection id>?api_key=…&config_id=…``,
send ``session_settings`` (the nested ``data`` form), read the WAV's frames
with :mod:`wave` and send them all in one ``audio_input`` message, then only
listen for ten seconds. It sends no trailing silence and nothing after the
file, so the simulator's agent must end the turn because audio stopped
arriving (the NextEVI wire spec §9.2: clients may send a whole file in one
message).
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
import wave
from pathlib import Path
from typing import Any

import pytest
import websockets

from voiceadapters.audio import StreamConverter, best_alignment, pcm_to_array, wav_bytes
from voiceadapters.format import AudioFormat
from voiceadapters.testing import serve_simulator, speech_sample

pytestmark = pytest.mark.network

KEY = "oak_seed_file_mode_0123456789"
#: How long the seed's example listens after sending the file.
LISTEN = 10.0


def speech_wav(path: Path) -> bytes:
    """The bundled speech sample as a 24 kHz mono WAV file, as a user records one."""
    pcm, fmt = speech_sample()
    conv = StreamConverter(fmt, AudioFormat(24000))
    speech = conv.convert(pcm) + conv.flush()
    path.write_bytes(wav_bytes(speech, AudioFormat(24000)))
    return speech


async def run_file_mode(uri: str, wav_path: Path) -> list[dict[str, Any]]:
    """Seed 004's ``connect`` + ``send_audio_file`` + listen, minus the prints."""
    received: list[dict[str, Any]] = []
    async with websockets.connect(uri, max_size=None) as ws:
        await ws.send(
            json.dumps(
                {
                    "type": "session_settings",
                    "timestamp": time.time(),
                    "message_id": str(uuid.uuid4()),
                    "data": {
                        "emotion_detection": {"enabled": True},
                        "turn_detection": {"enabled": True},
                        "audio": {"sample_rate": 24000, "channels": 1, "encoding": "linear16"},
                    },
                }
            )
        )
        with wave.open(str(wav_path), "rb") as wav_file:
            frames = wav_file.readframes(wav_file.getnframes())
        await ws.send(
            json.dumps(
                {
                    "type": "audio_input",
                    "timestamp": time.time(),
                    "message_id": str(uuid.uuid4()),
                    "data": {
                        "audio": base64.b64encode(frames).decode("utf-8"),
                        "chunk_id": f"chunk-{time.time()}",
                    },
                }
            )
        )

        async def listen() -> None:
            async for message in ws:
                data = json.loads(message)
                received.append(data)
                if data.get("type") == "tts_chunk" and data.get("is_last"):
                    return

        await asyncio.wait_for(listen(), LISTEN)
    return received


async def test_seed_004_file_mode_gets_a_transcript_and_the_spoken_reply(tmp_path: Path) -> None:
    speech = speech_wav(tmp_path / "sample_audio.wav")
    async with serve_simulator("nextevi", api_key=KEY) as (server, _config, sim):
        uri = (
            f"ws://127.0.0.1:{server.port}/ws/voice/conn-{uuid.uuid4()}"
            f"?api_key={KEY}&config_id={sim.config_id}"
        )
        received = await run_file_mode(uri, tmp_path / "sample_audio.wav")

    (connection,) = sim.connections
    assert bytes(connection.received_audio) == speech, "the whole file, in one message"
    assert len(connection.chunk_ids) == 1 and connection.invalid == []
    # What the seed's handle_message reads: data.is_final / data.transcript,
    # data.content of llm_response_chunk, the top-level content of tts_chunk.
    finals = [
        m["data"]["transcript"]
        for m in received
        if m["type"] == "transcription" and m["data"]["is_final"]
    ]
    assert finals and "s of speech]" in finals[-1]
    assert any(m["type"] == "llm_response_chunk" and m["data"]["is_final"] for m in received)
    tts = b"".join(base64.b64decode(m["content"]) for m in received if m["type"] == "tts_chunk")
    assert best_alignment(pcm_to_array(speech), pcm_to_array(tts))[1] >= 0.9
