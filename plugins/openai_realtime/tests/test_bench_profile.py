"""The bench profile (not the benchmark): its messages are GA events the
SDK's models accept, and the codec finds the profile's audio in them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from voiceadapters.events import AgentAudio, SessionStarted

pytest.importorskip("voiceadapters_bench")


def test_the_profile_speaks_ga_and_the_codec_hears_it(kit: Any) -> None:
    from voiceadapters_openai import RealtimeCodec
    from voiceadapters_openai.bench import PROFILE

    pcm = bytes(range(256)) * 3 + bytes(192)  # 20 ms at 24 kHz
    audio = PROFILE.agent_audio(pcm)
    assert PROFILE.agent_pcm(audio) == pcm
    for message in (*PROFILE.open_messages, audio):
        assert isinstance(message, str)
        kit.sdk_server_event(message)
        if message is not audio:
            assert PROFILE.agent_pcm(message) is None
    kit.sdk_client_event(json.loads(PROFILE.mic_audio(pcm)))
    codec = RealtimeCodec(kit.config(), provider=kit.PROVIDERS["openai"])
    codec.handshake_step()
    codec.connection_opened()
    for message in (*PROFILE.open_messages, audio):
        codec.receive_frame(message)
    events = codec.events_received()
    assert isinstance(events[0], SessionStarted)
    assert [e.pcm for e in events if isinstance(e, AgentAudio)] == [pcm]
