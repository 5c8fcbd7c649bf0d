"""Every first-party simulator ends the user's turn when audio stops arriving.

A real provider answers a client that stops sending after speech (a file sent
whole, then listening) or that drops all-zero frames (the NextEVI vendor
plugin does), not only one that streams quiet audio. Each plugin's codec is
paired in memory with its simulator (:class:`voiceadapters.testing.CodecPair`,
fake clock): speech is streamed, then the client stops, drops its silence, or
sends true digital silence, and the agent's reply (transcript and audio)
arrives once the clock passes the agent's hangover (0.7 s) — and not before.
"""

from __future__ import annotations

import pytest

from voiceadapters import get_provider, parse_config
from voiceadapters.audio import StreamConverter
from voiceadapters.commands import SendAudio
from voiceadapters.config import resolve_config
from voiceadapters.events import AgentAudio, Event, SessionStarted, UserTranscript
from voiceadapters.provider import Provider
from voiceadapters.testing import CodecPair, speech_sample

PROVIDERS = ["vatel", "binary-pcm", "nextevi", "example", "deepgram", "openai"]
KEY = "oak_turns_0123456789"
HANGOVER = 0.7


def make_pair(name: str) -> tuple[Provider, CodecPair]:
    provider = get_provider(name)
    simulator = provider.make_simulator(api_key=KEY, pace=0)
    url = parse_config(provider.simulator_config("127.0.0.1", 1, simulator))
    codec = provider.make_codec(resolve_config(url, provider, api_key=KEY))
    pair = CodecPair(codec, simulator)
    pair.run_until(lambda events: any(isinstance(e, SessionStarted) for e in events))
    pair.advance(0.5)  # any "ready" delay of the protocol
    return provider, pair


def speech_for(pair: CodecPair) -> bytes:
    pcm, fmt = speech_sample()
    conv = StreamConverter(fmt, pair.codec.wire_input)
    return conv.convert(pcm) + conv.flush()


def frame_bytes(pair: CodecPair) -> int:
    return pair.codec.wire_input.bytes_for(0.02)


def replied(provider: Provider, events: list[Event]) -> bool:
    """The agent answered: its audio, and a final transcript where the protocol has one."""
    audio = sum(e.duration for e in events if isinstance(e, AgentAudio))
    transcript = any(isinstance(e, UserTranscript) and e.final for e in events)
    return audio > 2.0 and (transcript or not provider.capabilities.user_transcripts)


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_client_that_stops_sending_after_speech_gets_the_reply(name: str) -> None:
    provider, pair = make_pair(name)
    pair.stream_audio(speech_for(pair), frame_bytes(pair))  # real time, then nothing
    mark = len(pair.events)
    early = pair.advance(HANGOVER - 0.05)
    assert not any(isinstance(e, AgentAudio) for e in early), "no reply before the hangover"
    pair.advance(0.1)
    assert replied(provider, pair.events[mark:])
    assert pair.server.agent is not None and pair.server.agent.turns == 1


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_client_that_drops_its_silent_frames_gets_the_reply(name: str) -> None:
    provider, pair = make_pair(name)
    pair.stream_audio(speech_for(pair), frame_bytes(pair))
    mark = len(pair.events)
    for _ in range(60):  # 1.2 s of microphone silence, every frame dropped
        pair.advance(0.02)
    assert replied(provider, pair.events[mark:])


@pytest.mark.parametrize("name", PROVIDERS)
def test_true_digital_silence_after_speech_gets_the_reply(name: str) -> None:
    provider, pair = make_pair(name)
    silence = bytes(pair.codec.wire_input.bytes_for(1.2))
    mark = len(pair.events)
    pair.stream_audio(speech_for(pair) + silence, frame_bytes(pair))
    assert replied(provider, pair.events[mark:])


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_client_faster_than_real_time_is_answered_a_hangover_after_it_stops(
    name: str,
) -> None:
    provider, pair = make_pair(name)
    pair.stream_audio(speech_for(pair), frame_bytes(pair), realtime=False)  # 3.3 s at once
    mark = len(pair.events)
    assert not any(isinstance(e, AgentAudio) for e in pair.advance(HANGOVER - 0.01))
    pair.advance(0.02)
    assert replied(provider, pair.events[mark:])


@pytest.mark.parametrize("name", PROVIDERS)
def test_audio_still_arriving_keeps_the_turn_open(name: str) -> None:
    # Chunks of 0.5 s, each sent 0.5 s after the last: never a 0.7 s gap, so
    # the whole sample is one turn however the clock jumps between chunks.
    provider, pair = make_pair(name)
    speech = speech_for(pair)
    chunk = pair.codec.wire_input.bytes_for(0.5)
    for at in range(0, len(speech), chunk):
        pair.send(SendAudio(pcm=speech[at : at + chunk]))
        assert not any(isinstance(e, AgentAudio) for e in pair.advance(0.5))
    pair.advance(HANGOVER)
    assert pair.server.agent is not None and pair.server.agent.turns == 1
    assert replied(provider, pair.events)
