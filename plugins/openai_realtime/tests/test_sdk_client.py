"""The vendor's own client against our simulator: the official ``openai``
SDK's realtime client (``AsyncOpenAI(websocket_base_url=…)``,
``client.realtime.connect(model=…)``) over a real WebSocket on 127.0.0.1.

Every event it receives is parsed twice: by the SDK client itself
(``parse_event``, what an application using the SDK gets) and strictly by
the SDK's GA models (``kit.sdk_server_event``: validated, no undeclared field).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
import websockets
from openai import AsyncOpenAI

from voiceadapters.testing import serve_simulator

pytestmark = pytest.mark.network

TIMEOUT = 30.0
CHUNK = 4800  # 100 ms at 24 kHz


async def _events_until(connection: Any, kit: Any, done: str, seen: list[dict[str, Any]]) -> None:
    """Receive until an event of type ``done``; keep the raw events."""

    async def loop() -> None:
        while True:
            raw = await connection.recv_bytes()
            parsed = connection.parse_event(raw)  # the SDK client's own parse
            data = json.loads(raw)
            assert parsed.type == data["type"]
            kit.sdk_server_event(data)
            seen.append(data)
            if data["type"] == done:
                return

    await asyncio.wait_for(loop(), TIMEOUT)


def _client(server: Any, key: str) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key, websocket_base_url=f"ws://127.0.0.1:{server.port}/v1")


async def test_the_sdk_client_runs_a_whole_turn(kit: Any) -> None:
    pcm = kit.make_speech(tail=0.2)
    async with serve_simulator("openai", api_key=kit.API_KEY, pace=0) as (server, _, sim):
        client = _client(server, kit.API_KEY)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            seen: list[dict[str, Any]] = []
            await _events_until(connection, kit, "session.created", seen)
            await connection.session.update(
                session={
                    "type": "realtime",
                    "output_modalities": ["audio"],
                    "audio": {
                        "input": {
                            "format": {"type": "audio/pcm", "rate": 24000},
                            "turn_detection": None,
                            "transcription": {"model": "gpt-4o-mini-transcribe"},
                        },
                        "output": {
                            "format": {"type": "audio/pcm", "rate": 24000},
                            "voice": "marin",
                        },
                    },
                }
            )
            await _events_until(connection, kit, "session.updated", seen)
            for i in range(0, len(pcm), CHUNK):
                await connection.input_audio_buffer.append(
                    audio=base64.b64encode(pcm[i : i + CHUNK]).decode()
                )
            await connection.input_audio_buffer.commit()
            await connection.response.create()
            await _events_until(connection, kit, "response.done", seen)
        await client.close()
    kinds = [e["type"] for e in seen]
    for expected in (
        "input_audio_buffer.committed",
        "conversation.item.input_audio_transcription.completed",
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_audio_transcript.delta",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.output_item.done",
    ):
        assert expected in kinds, expected
    # No VAD events: the client turned turn detection off.
    assert "input_audio_buffer.speech_started" not in kinds
    done = seen[-1]["response"]
    assert done["status"] == "completed" and done["usage"]["total_tokens"] > 0
    audio = b"".join(
        base64.b64decode(e["delta"]) for e in seen if e["type"] == "response.output_audio.delta"
    )
    assert len(audio) > 24000  # the echo of ~1.5 s of speech
    # What the SDK sent reached the simulator as GA client events.
    connection_record = sim.connections[-1]
    assert list(connection_record.client_events)[:1] == ["session.update"]
    assert "input_audio_buffer.commit" in connection_record.client_events


async def test_the_sdk_client_runs_a_tool_round_trip(kit: Any) -> None:
    pcm = kit.make_speech()
    async with serve_simulator("openai", api_key=kit.API_KEY, scenario="tool_call", pace=0) as (
        server,
        _,
        sim,
    ):
        client = _client(server, kit.API_KEY)
        async with client.realtime.connect(model="gpt-realtime") as connection:
            seen: list[dict[str, Any]] = []
            await _events_until(connection, kit, "session.created", seen)
            for i in range(0, len(pcm), CHUNK):
                await connection.input_audio_buffer.append(
                    audio=base64.b64encode(pcm[i : i + CHUNK]).decode()
                )
            # Server VAD (the default) ends the turn; the agent calls a tool.
            await _events_until(connection, kit, "response.function_call_arguments.done", seen)
            call = seen[-1]
            arguments = json.loads(call["arguments"])
            assert call["name"] == "lookup_utterance" and "seconds" in arguments
            await _events_until(connection, kit, "response.done", seen)
            await connection.conversation.item.create(
                item={
                    "type": "function_call_output",
                    "call_id": call["call_id"],
                    "output": json.dumps({"sdk": "tool-ok"}),
                }
            )
            await connection.response.create(response={"metadata": {"request": "sdk-1"}})
            reply: list[dict[str, Any]] = []
            await _events_until(connection, kit, "response.done", reply)
        await client.close()
    transcript = next(e for e in reply if e["type"] == "response.output_audio_transcript.done")
    assert "tool-ok" in transcript["transcript"]
    assert any(e["type"] == "response.output_audio.delta" for e in reply)
    # The response object carries the metadata of the request that asked for it.
    created = next(e for e in reply if e["type"] == "response.created")
    assert created["response"]["metadata"] == {"request": "sdk-1"}
    assert call["response_id"] != created["response"]["id"]
    assert sim.connections[-1].tool_outputs[-1] == (call["call_id"], '{"sdk": "tool-ok"}')


async def test_the_sdk_client_is_refused_with_a_wrong_key(kit: Any) -> None:
    async with serve_simulator("openai", api_key=kit.API_KEY, pace=0) as (server, _, _sim):
        client = _client(server, "sk-wrong")
        # The SDK connects with websockets, whose handshake error carries the status.
        with pytest.raises(websockets.exceptions.InvalidStatus) as caught:
            async with client.realtime.connect(model="gpt-realtime") as connection:
                await asyncio.wait_for(connection.recv(), TIMEOUT)
        await client.close()
    assert caught.value.response.status_code == 401
