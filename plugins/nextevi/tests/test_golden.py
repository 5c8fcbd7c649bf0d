"""Golden sessions: the documented (nested) dialect and the vendor (flat)
dialect of the same session produce the same normalized events."""

from __future__ import annotations

import json
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentText,
    Emotion,
    Event,
    Interruption,
    ProviderError,
    SessionEnded,
    SessionStarted,
    UnknownMessage,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)
from voiceadapters.format import AudioFormat
from voiceadapters_nextevi import NextEVICodec

DATA = Path(__file__).parent / "data"
DIALECTS = ["nested_session.json", "flat_session.json"]
PCM24 = AudioFormat(24000)


def load(name: str) -> list[dict[str, Any]]:
    messages = json.loads((DATA / name).read_text())
    assert isinstance(messages, list)
    return messages


def run(codec: NextEVICodec, messages: list[dict[str, Any]]) -> list[Event]:
    events: list[Event] = []
    for message in messages:
        codec.receive_frame(json.dumps(message))
        events += codec.events_received()
    return events


def comparable(events: list[Event]) -> list[Any]:
    """Events as they are, except ``unknown_message``: its ``raw`` is the raw
    message of its dialect, so only its type is compared."""
    return [
        ("unknown_message", e.raw["type"]) if isinstance(e, UnknownMessage) else e for e in events
    ]


EXPECTED: list[Any] = [
    SessionStarted(session_id="voice_1700000000000_abc123xyz"),
    UserSpeechStarted(),
    UserTranscript(text="what's the", final=False, confidence=0.61),
    UserTranscript(text="what's the weather", final=True, confidence=0.93),
    Emotion(scores={"curiosity": 0.7, "calm": 0.2}, source="transcription"),
    UserSpeechStopped(),
    AgentText(text="It is ", delta="It is ", final=False, turn_id="g-1"),
    AgentText(text="It is sunny", delta="sunny", final=False, turn_id="g-1"),
    AgentAudio(pcm=struct.pack("<4h", 1, -1, 2, -2), format=PCM24, turn_id="g-1"),
    AgentText(text="It is sunny.", delta=".", final=True, turn_id="g-1"),
    AgentAudio(pcm=struct.pack("<3h", 7, 8, 9), format=AudioFormat(16000), turn_id="g-1"),
    AgentAudioDone(turn_id="g-1"),
    Emotion(scores={"joy": 0.61, "calm": 0.3}, source="emotion_update"),
    AgentText(text="Let me", delta="Let me", final=False, turn_id="turn-2"),
    AgentAudio(pcm=struct.pack("<2h", 100, 200), format=PCM24, turn_id="turn-2"),
    Interruption(turn_id="turn-2"),
    ProviderError(code="TURN_DETECTION_FAILED", message="Turn detection failed", fatal=False),
    ("unknown_message", "idle_warning"),
    ("unknown_message", "system_message"),
    SessionEnded(reason="timeout", provider_reason="idle timeout", close_code=1000),
]


@pytest.mark.parametrize("name", DIALECTS)
def test_each_dialect_produces_the_expected_events(
    name: str, make_codec: Callable[..., NextEVICodec]
) -> None:
    codec = make_codec()
    assert comparable(run(codec, load(name))) == EXPECTED
    assert codec.fenced_chunks == 2, "both late chunks of the interrupted turn were dropped"
    assert codec.ended


def test_nested_and_flat_dialects_produce_the_same_events(
    make_codec: Callable[..., NextEVICodec],
) -> None:
    nested, flat = (comparable(run(make_codec(), load(name))) for name in DIALECTS)
    assert nested == flat


def test_the_two_fixtures_really_differ_in_shape() -> None:
    nested, flat = (load(name) for name in DIALECTS)
    assert [m["type"] for m in nested] == [m["type"] for m in flat]
    assert all("data" in m for m in nested) and not any("data" in m for m in flat)
    assert not any("timestamp" in m for m in flat)


def test_the_superset_form_of_every_golden_message_gives_the_same_events(
    make_codec: Callable[..., NextEVICodec],
) -> None:
    """Flat fields plus the nested ``data`` in one message (the simulator's
    dialect) read the same as either alone."""
    nested_messages, flat_messages = (load(name) for name in DIALECTS)
    merged = [
        {**flat, **nested} for nested, flat in zip(nested_messages, flat_messages, strict=True)
    ]
    assert comparable(run(make_codec(), merged)) == EXPECTED
