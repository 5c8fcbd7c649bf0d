"""``Codec.handle_audio``: the session's microphone path is the ``SendAudio``
command's, without building the command.

Every first-party codec is paired in memory with its simulator twice
(:class:`voiceadapters.testing.CodecPair`, fake clock); the same speech goes
in as ``handle_audio`` chunks in one and as ``SendAudio`` commands in the
other, and the two must put the same frames on the wire and produce the same
events. A codec that handles only commands, or that overrides
``handle_command``, still sees every chunk.
"""

from __future__ import annotations

import pytest

from voiceadapters import get_provider, parse_config
from voiceadapters.audio import StreamConverter
from voiceadapters.codec import Codec
from voiceadapters.commands import Command, SendAudio
from voiceadapters.config import resolve_config
from voiceadapters.errors import AudioFormatError, SessionClosedError
from voiceadapters.events import AgentAudio, Event, SessionStarted, UserTranscript
from voiceadapters.frames import Frame
from voiceadapters.testing import CodecPair, speech_sample
from voiceadapters_example.codec import ExampleCodec

PROVIDERS = ["vatel", "binary-pcm", "nextevi", "example", "deepgram", "openai"]
KEY = "oak_audio_input_0123456789"


def make_pair(name: str) -> CodecPair:
    provider = get_provider(name)
    simulator = provider.make_simulator(api_key=KEY, pace=0)
    url = parse_config(provider.simulator_config("127.0.0.1", 1, simulator))
    codec = provider.make_codec(resolve_config(url, provider, api_key=KEY))
    pair = CodecPair(codec, simulator)
    pair.run_until(lambda events: any(isinstance(e, SessionStarted) for e in events))
    return pair


def speech(pair: CodecPair) -> bytes:
    pcm, fmt = speech_sample()
    conv = StreamConverter(fmt, pair.codec.wire_input)
    return conv.convert(pcm) + conv.flush()


def stream(pair: CodecPair, pcm: bytes, *, as_command: bool) -> None:
    chunk = pair.codec.wire_input.bytes_for(0.02)
    step = chunk / pair.codec.wire_input.bytes_per_second
    for i in range(0, len(pcm), chunk):
        if as_command:
            pair.codec.handle_command(SendAudio(pcm=pcm[i : i + chunk]))
        else:
            pair.codec.handle_audio(pcm[i : i + chunk])
        pair.pump()
        pair.advance(step)
    pair.advance(3.0)  # the agent's reply


def comparable(events: list[Event]) -> list[object]:
    """The events with what differs between two sessions (provider session
    ids) left out: types in order, and the agent's audio."""
    out: list[object] = []
    for event in events:
        if isinstance(event, AgentAudio):
            out.append(("agent_audio", event.pcm))
        elif isinstance(event, UserTranscript):
            out.append(("user_transcript", event.text, event.final))
        else:
            out.append(event.type)
    return out


@pytest.mark.parametrize("name", PROVIDERS)
def test_handle_audio_sends_what_send_audio_commands_send(name: str) -> None:
    by_audio, by_command = make_pair(name), make_pair(name)
    pcm = speech(by_audio)
    stream(by_audio, pcm, as_command=False)
    stream(by_command, pcm, as_command=True)
    # What reached the provider: every sample, the same on both inputs, with
    # the same messages around it (tokens and ids are random per session).
    assert bytes(by_audio.server.received_audio) == bytes(by_command.server.received_audio)
    assert len(bytes(by_audio.server.received_audio)) >= len(pcm) - 640
    assert [type(f) for f in by_audio.client_frames] == [type(f) for f in by_command.client_frames]
    assert any(isinstance(e, AgentAudio) for e in by_audio.events), "the agent replied"
    assert comparable(by_audio.events) == comparable(by_command.events)


@pytest.mark.parametrize("name", PROVIDERS)
def test_handle_audio_treats_a_partial_sample_as_send_audio_does(name: str) -> None:
    """Codecs that check whole samples themselves raise the same error on
    both inputs and send nothing; the others leave the check to the session
    (``send_audio`` raises before either input is reached)."""
    outcomes = []
    for feed in (
        lambda c: c.handle_audio(b"\x01\x00\x02"),
        lambda c: c.handle_command(SendAudio(pcm=b"\x01\x00\x02")),
    ):
        pair = make_pair(name)
        before = len(pair.client_frames)
        try:
            feed(pair.codec)
            outcome = "accepted"
        except AudioFormatError as exc:
            outcome = f"refused: {exc}"
            pair.pump()
            assert len(pair.client_frames) == before, "nothing of a refused chunk is sent"
        outcomes.append(outcome)
    assert outcomes[0] == outcomes[1]


@pytest.mark.parametrize("name", PROVIDERS)
def test_handle_audio_after_the_end_raises_session_closed(name: str) -> None:
    pair = make_pair(name)
    pair.drop_connection()
    assert pair.ended
    with pytest.raises(SessionClosedError):
        pair.codec.handle_audio(b"\x00\x00" * 160)


def _opened(codec: Codec) -> Codec:
    codec.handshake_step()
    codec.connection_opened()
    codec.frames_to_send()
    return codec


def _example() -> ExampleCodec:
    provider = get_provider("example")
    config = resolve_config(parse_config("example://127.0.0.1:1"), provider, api_key=KEY)
    codec = provider.make_codec(config)
    assert isinstance(codec, ExampleCodec)
    return codec


def test_a_codec_that_handles_only_commands_gets_audio_as_send_audio() -> None:
    seen: list[Command] = []

    class CommandsOnly(ExampleCodec):
        # Written before handle_audio: only _on_command.
        _on_send_audio = Codec._on_send_audio

        def _on_command(self, command: Command) -> None:
            seen.append(command)
            if isinstance(command, SendAudio):
                self._send(command.pcm)

    codec = _opened(CommandsOnly(_example().config))
    codec.handle_audio(b"\x01\x00\x02\x00")
    assert seen == [SendAudio(pcm=b"\x01\x00\x02\x00")]
    assert codec.frames_to_send() == [b"\x01\x00\x02\x00"]


def test_a_codec_overriding_handle_command_sees_the_audio_there() -> None:
    seen: list[str] = []

    class Watching(ExampleCodec):
        def handle_command(self, command: Command) -> None:
            seen.append(command.type)
            super().handle_command(command)

    class WatchingSubclass(Watching):  # inherits the override: still routed
        pass

    for cls in (Watching, WatchingSubclass):
        seen.clear()
        codec = _opened(cls(_example().config))
        codec.handle_audio(b"\x05\x00")
        out: list[Frame] = [f for f in codec.frames_to_send() if isinstance(f, bytes | str)]
        assert seen == ["send_audio"]
        assert out == [b"\x05\x00"]
