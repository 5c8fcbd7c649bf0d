"""Small helpers shared by the cases."""

from __future__ import annotations

from functools import cache

from voiceadapters.audio import StreamConverter
from voiceadapters.events import AgentAudio, AgentAudioDone, Event, SessionEnded
from voiceadapters.format import AudioFormat
from voiceadapters.testing import speech_sample


@cache
def speech(fmt: AudioFormat) -> bytes:
    """The bundled speech sample in ``fmt``."""
    pcm, src = speech_sample()
    if src == fmt:
        return pcm
    conv = StreamConverter(src, fmt)
    return conv.convert(pcm) + conv.flush()


def of_type(events: list[Event], kind: type) -> list[Event]:
    return [e for e in events if isinstance(e, kind)]


def turn_done(events: list[Event]) -> bool:
    """An agent turn finished (``agent_audio_done``) or the session ended."""
    return any(isinstance(e, AgentAudioDone | SessionEnded) for e in events)


def has_audio(events: list[Event]) -> bool:
    return any(isinstance(e, AgentAudio) for e in events)


def ended(events: list[Event]) -> bool:
    return any(isinstance(e, SessionEnded) for e in events)


def agent_pcm(events: list[Event]) -> bytes:
    return b"".join(e.pcm for e in events if isinstance(e, AgentAudio))


def quiet_turn_complete(provider_has_done: bool):  # type: ignore[no-untyped-def]
    """A predicate for "the echo reply is over": agent_audio_done where the
    provider marks turn ends, else some agent audio followed by nothing for
    the caller's timeout (the predicate alone cannot see silence)."""

    def predicate(events: list[Event]) -> bool:
        if provider_has_done:
            return turn_done(events)
        return ended(events)

    return predicate
