"""The cassettes this plugin ships replay green (docs/cassettes.md): two
recorded from the simulator (tools/record_cassettes.py: ``echo`` and
``tool_call``), one hand-made from OpenAI's documented GA examples
(tools/make_doc_cassettes.py).

Each is served on 127.0.0.1 by a real CassetteServer and the plugin's
adapter runs against it: same events (type, order, text, audio length within
a frame), same client messages. The JSON messages of every cassette, both
ways, are also judged by the ``openai`` SDK's GA models
(``RealtimeServerEvent`` for what the server sent, ``RealtimeClientEvent``
for what the client sent; no undeclared field), as test_sdk_models.py judges
the simulator's, so the hand-made one cannot drift from the protocol either."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

import pytest

from voiceadapters.cassette import load, replay
from voiceadapters.cassette.scrub import Scrubber, find_audio
from voiceadapters_openai import OpenAIProvider

CASSETTES = sorted((Path(__file__).parent / "cassettes").glob("*.jsonl"))
FIELDS = OpenAIProvider.wire_audio_fields


def test_the_plugin_ships_cassettes() -> None:
    assert {load(p).header["source"] for p in CASSETTES} == {"recorded", "hand-made"}


@pytest.mark.network
@pytest.mark.parametrize("path", CASSETTES, ids=lambda p: p.name)
def test_a_shipped_cassette_replays_green(path: Path) -> None:
    cassette = load(path)
    assert cassette.provider == "openai"
    report = asyncio.run(replay(cassette, timeout=30))
    assert report.ok, "\n".join(report.lines())
    assert report.events == len(cassette.events())


@pytest.mark.parametrize("path", CASSETTES, ids=lambda p: p.name)
def test_every_message_of_a_shipped_cassette_fits_the_sdk_models(kit: Any, path: Path) -> None:
    judged: set[tuple[str, str]] = set()
    for line in load(path).lines:
        if line.get("k") not in ("send", "recv") or line.get("type") != "text":
            continue
        judge = kit.sdk_server_event if line["k"] == "recv" else kit.sdk_client_event
        judged.add((line["k"], judge(line["text"]).type))
    assert ("send", "session.update") in judged and ("recv", "session.created") in judged
    assert len(judged) >= 10


# -- where audio is (docs/cassettes.md#audio) ---------------------------------------------

AUDIO = base64.b64encode(bytes(480)).decode()


@pytest.mark.parametrize(
    "message",
    [
        {"type": "input_audio_buffer.append", "audio": AUDIO},
        {"type": "response.output_audio.delta", "delta": AUDIO},
        {"type": "response.audio.delta", "delta": AUDIO},  # the beta name
        {
            "type": "conversation.item.create",
            "item": {"type": "message", "content": [{"type": "input_audio", "audio": AUDIO}]},
        },
    ],
    ids=lambda m: m["type"],
)
def test_the_declared_audio_is_found(message: dict[str, Any]) -> None:
    assert [size for _, size in find_audio(message, FIELDS)] == [480]


@pytest.mark.parametrize(
    "kind",
    [
        "response.output_audio_transcript.delta",
        "response.output_text.delta",
        "response.function_call_arguments.delta",
        "conversation.item.input_audio_transcription.delta",
        "response.audio_transcript.delta",
    ],
)
@pytest.mark.parametrize("policy", ["truncate", "marker"])
def test_a_text_delta_is_never_taken_for_audio(kind: str, policy: str) -> None:
    # "Sure" and "abcd" are valid base64: only the message type tells them from audio.
    for delta in ("Sure", "abcd", AUDIO):
        text = json.dumps({"type": kind, "delta": delta, "item_id": "item_1"})
        assert find_audio(json.loads(text), FIELDS) == []
        assert Scrubber(audio=policy, audio_fields=FIELDS).message_text(text) == (text, ())
