"""Unit tests of the example codec: feed it frames, read its events and frames."""

from __future__ import annotations

import json

from voiceadapters.config import parse_config, resolve_config
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    ProviderError,
    SessionEnded,
    SessionStarted,
    UnknownMessage,
    UserTranscript,
)
from voiceadapters.handshake import WebSocketRequest
from voiceadapters.secrets import Secret
from voiceadapters_example import WIRE_FORMAT, ExampleProvider
from voiceadapters_example.codec import ExampleCodec

KEY = "sk-example-test-key"


def make_codec(config: str = "example://?voice=macaw") -> ExampleCodec:
    provider = ExampleProvider()
    resolved = resolve_config(parse_config(config), provider, api_key=KEY, environ={})
    codec = provider.make_codec(resolved)
    codec.connection_opened()
    return codec


def feed(codec: ExampleCodec, *frames: str | bytes | dict[str, object]) -> list[object]:
    for frame in frames:
        codec.receive_frame(json.dumps(frame) if isinstance(frame, dict) else frame)
    return list(codec.events_received())


def test_handshake_is_one_websocket_with_a_secret_header() -> None:
    provider = ExampleProvider()
    config = resolve_config(parse_config("example://"), provider, api_key=KEY, environ={})
    codec = provider.make_codec(config)
    step = codec.handshake_step()
    assert isinstance(step, WebSocketRequest)
    assert step.url == "wss://parrot.example.com/v1/talk"
    assert step.query == (("voice", "polly"),)
    assert step.headers == (("Authorization", Secret("Bearer " + KEY)),)
    assert KEY not in repr(step) and KEY not in repr(codec)
    codec.connection_opened()
    assert codec.handshake_step() is None


def test_a_turn_maps_to_transcripts_audio_and_done() -> None:
    codec = make_codec()
    pcm = bytes(WIRE_FORMAT.bytes_for(0.02))
    events = feed(
        codec,
        {"event": "ready", "session": "s-1"},
        {"event": "heard", "text": "hel", "final": False, "turn": "turn-1"},
        {"event": "heard", "text": "hello", "final": True, "turn": "turn-1"},
        {"event": "speaking", "turn": "turn-1"},
        pcm,
        {"event": "done", "turn": "turn-1"},
    )
    assert events == [
        SessionStarted(session_id="s-1"),
        UserTranscript(text="hel", final=False, turn_id="turn-1"),
        UserTranscript(text="hello", final=True, turn_id="turn-1"),
        AgentAudio(pcm=pcm, format=WIRE_FORMAT, turn_id="turn-1"),
        AgentAudioDone(turn_id="turn-1"),
    ]


def test_bye_ends_the_session_with_its_reason() -> None:
    codec = make_codec()
    events = feed(codec, {"event": "bye", "reason": "shutdown"}, {"event": "ready", "session": "x"})
    assert events == [SessionEnded(reason="server_shutdown", provider_reason="shutdown")]
    assert codec.ended


def test_peer_misbehaviour_becomes_events() -> None:
    codec = make_codec()
    events = feed(
        codec,
        "{not json",
        {"event": "heard", "text": 42},
        {"type": "something-new"},
        b"\x01\x02\x03",
    )
    assert [type(e) for e in events] == [
        ProviderError,
        ProviderError,
        UnknownMessage,
        ProviderError,
        AgentAudio,
    ]
    assert [e.code for e in events if isinstance(e, ProviderError)] == [
        "malformed_json",
        "malformed_message",
        "odd_length_audio",
    ]
    assert events[2] == UnknownMessage(raw={"type": "something-new"})
    assert events[4] == AgentAudio(pcm=b"\x01\x02", format=WIRE_FORMAT)
    assert not codec.ended
