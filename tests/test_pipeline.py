"""The session's sans-I/O audio pipeline (:class:`voiceadapters.pipeline.AudioPipeline`).

Audio crosses it both ways: the application's microphone PCM is checked and
converted to the codec's wire format, and the codec's ``agent_audio`` is
converted to the application's format, re-framed into fixed frames, flushed
at every turn end and cleared on interruption. Everything here is real
audio (the bundled speech sample) through the real converters.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiceadapters.audio import StreamConverter, best_alignment, pcm_to_array
from voiceadapters.errors import AudioFormatError
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentText,
    Event,
    Interruption,
    SessionEnded,
)
from voiceadapters.format import AudioFormat
from voiceadapters.pipeline import AudioPipeline
from voiceadapters.testing import speech_sample

PCM16 = AudioFormat(16000)
RATES = [16000, 24000, 48000]


def convert(pcm: bytes, src: AudioFormat, dst: AudioFormat) -> bytes:
    conv = StreamConverter(src, dst)
    return conv.convert(pcm) + conv.flush()


def chunks(pcm: bytes, size: int) -> list[bytes]:
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def audio_of(events: list[Event]) -> bytes:
    return b"".join(e.pcm for e in events if isinstance(e, AgentAudio))


def agent_audio(pcm: bytes, fmt: AudioFormat = PCM16, turn: str | None = "t1") -> AgentAudio:
    return AgentAudio(pcm=pcm, format=fmt, turn_id=turn)


def assert_same_audio(expected: bytes, got: bytes, *, samples: int = 2) -> None:
    """``got`` is ``expected`` within ``samples`` samples of length, well correlated."""
    assert abs(len(got) - len(expected)) <= 2 * samples, (len(expected), len(got))
    lag, ncc = best_alignment(pcm_to_array(expected), pcm_to_array(got))
    assert lag == 0
    assert ncc > 0.999


# -- application → wire ------------------------------------------------------------------


@pytest.mark.parametrize("app_rate", RATES)
def test_microphone_audio_is_converted_to_the_wire_format(app_rate: int) -> None:
    speech, _ = speech_sample()
    app = AudioFormat(app_rate)
    mic = convert(speech, PCM16, app)
    pipeline = AudioPipeline(PCM16, app, app)
    wire = b"".join(pipeline.encode(c) for c in chunks(mic, app.bytes_for(0.02)))
    wire += pipeline.flush_input()
    assert_same_audio(convert(mic, app, PCM16), wire)


def test_microphone_audio_in_the_wire_format_passes_through_unchanged() -> None:
    speech, _ = speech_sample()
    pipeline = AudioPipeline(PCM16, PCM16, PCM16)
    wire = b"".join(pipeline.encode(c) for c in chunks(speech, 999 * 2))
    assert wire + pipeline.flush_input() == speech


def test_a_partial_sample_frame_raises_and_consumes_nothing() -> None:
    speech, _ = speech_sample()
    app = AudioFormat(48000)
    mic = convert(speech[:32000], PCM16, app)
    pipeline, reference = AudioPipeline(PCM16, app, app), AudioPipeline(PCM16, app, app)
    first = pipeline.encode(mic[:4800])
    with pytest.raises(AudioFormatError):
        pipeline.encode(mic[4800:9601])
    rest = pipeline.encode(mic[4800:]) + pipeline.flush_input()
    # Byte for byte what a pipeline that never saw the bad chunk produces.
    assert first + rest == reference.encode(mic[:4800]) + reference.encode(mic[4800:]) + (
        reference.flush_input()
    )


@pytest.mark.parametrize("app_rate", RATES)
def test_max_encoded_bounds_what_encode_returns(app_rate: int) -> None:
    speech, _ = speech_sample()
    app = AudioFormat(app_rate)
    mic = convert(speech, PCM16, app)
    pipeline = AudioPipeline(AudioFormat(24000), app, app)
    for size in (2, 160, 1000, 4802, 9600):
        for chunk in chunks(mic[: size * 20], size):
            assert len(pipeline.encode(chunk)) <= pipeline.max_encoded(len(chunk))


# -- wire → application ------------------------------------------------------------------


@pytest.mark.parametrize("app_rate", RATES)
def test_agent_audio_is_converted_and_framed_in_the_application_format(app_rate: int) -> None:
    speech, _ = speech_sample()
    wire = AudioFormat(24000)
    app = AudioFormat(app_rate)
    agent = convert(speech, PCM16, wire)
    pipeline = AudioPipeline(wire, app, app, output_frame_ms=20)
    out: list[Event] = []
    for chunk in chunks(agent, 1234):  # the provider's chunking, not ours
        out += pipeline.process([agent_audio(chunk, wire)])
    out += pipeline.process([AgentAudioDone(turn_id="t1")])
    frames = [e for e in out if isinstance(e, AgentAudio)]
    assert all(e.format == app and e.turn_id == "t1" for e in frames)
    assert {len(e.pcm) for e in frames[:-1]} == {app.bytes_for(0.02)}
    assert 0 < len(frames[-1].pcm) <= app.bytes_for(0.02)
    assert isinstance(out[-1], AgentAudioDone)
    assert_same_audio(convert(agent, wire, app), audio_of(out))


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(min_value=1, max_value=1500), min_size=1, max_size=30),
    frame_ms=st.sampled_from([None, 10, 20, 60]),
)
def test_reframing_loses_and_invents_no_sample_across_any_chunking(
    sizes: list[int], frame_ms: int | None
) -> None:
    speech, _ = speech_sample()
    pipeline = AudioPipeline(PCM16, PCM16, PCM16, output_frame_ms=frame_ms)
    sent: list[bytes] = []
    out: list[Event] = []
    offset = 0
    for samples in sizes:
        chunk = speech[offset : offset + 2 * samples]
        offset += 2 * samples
        sent.append(chunk)
        out += pipeline.process([agent_audio(chunk)])
    out += pipeline.process([AgentAudioDone(turn_id="t1")])
    assert audio_of(out) == b"".join(sent)
    lengths = [len(e.pcm) for e in out if isinstance(e, AgentAudio)]
    if frame_ms is not None:
        assert all(n == PCM16.bytes_for(frame_ms / 1000) for n in lengths[:-1])
    assert all(n > 0 for n in lengths)


@pytest.mark.parametrize(
    "end",
    [AgentAudioDone(turn_id="t1"), SessionEnded(reason="completed")],
    ids=["agent_audio_done", "session_ended"],
)
def test_the_converter_tail_is_flushed_before_the_end_of_the_turn(end: Event) -> None:
    speech, _ = speech_sample()
    wire = AudioFormat(24000)
    agent = convert(speech[:16000], PCM16, wire)
    pipeline = AudioPipeline(wire, PCM16, PCM16)
    held = audio_of(pipeline.process([agent_audio(agent, wire)]))
    expected = len(convert(agent, wire, PCM16))
    assert pipeline.pending_output and len(held) < expected, "the converter holds a tail"
    out = pipeline.process([end])
    assert out[-1] is end, "the end comes after the audio it ends"
    assert len(held + audio_of(out)) == expected
    assert not pipeline.pending_output


def test_a_new_turn_flushes_the_previous_turns_tail_under_its_own_turn_id() -> None:
    pipeline = AudioPipeline(PCM16, PCM16, PCM16, output_frame_ms=20)
    out = pipeline.process([agent_audio(b"\x01\x00" * 250, turn="t1")])  # 15.6 ms
    assert out == []
    out = pipeline.process([agent_audio(b"\x02\x00" * 320, turn="t2")])
    assert [(e.turn_id, len(e.pcm)) for e in out if isinstance(e, AgentAudio)] == [
        ("t1", 500),
        ("t2", 640),
    ]


def test_flush_output_releases_the_tail_for_providers_without_turn_ends() -> None:
    pipeline = AudioPipeline(PCM16, PCM16, PCM16, output_frame_ms=20)
    assert pipeline.process([agent_audio(b"\x01\x00" * 500, turn=None)]) != []
    tail = pipeline.flush_output()
    assert audio_of(tail) == b"\x01\x00" * 180
    assert pipeline.flush_output() == []


def test_interruption_clears_held_audio_and_the_next_turn_starts_clean() -> None:
    pipeline = AudioPipeline(PCM16, PCM16, PCM16, output_frame_ms=20)
    first = pipeline.process([agent_audio(b"\x01\x00" * 480, turn="t1")])  # 30 ms
    assert audio_of(first) == b"\x01\x00" * 320
    interruption = Interruption(turn_id="t1")
    assert pipeline.process([interruption]) == [interruption], "the held 10 ms are dropped"
    out = pipeline.process([agent_audio(b"\x02\x00" * 320, turn="t2")])
    assert audio_of(out) == b"\x02\x00" * 320, "nothing of t1 leaks into t2"


def test_interruption_clears_the_resampler_tail() -> None:
    speech, _ = speech_sample()
    wire = AudioFormat(24000)
    pipeline = AudioPipeline(wire, PCM16, PCM16, output_frame_ms=None)
    pipeline.process([agent_audio(convert(speech[:8000], PCM16, wire), wire)])
    interruption = Interruption(turn_id="t1")
    assert pipeline.process([interruption, AgentAudioDone(turn_id="t1")]) == [
        interruption,
        AgentAudioDone(turn_id="t1"),
    ]


def test_later_audio_of_a_named_interrupted_turn_is_fenced() -> None:
    pipeline = AudioPipeline(PCM16, PCM16, PCM16, output_frame_ms=None)
    pipeline.process([agent_audio(b"\x01\x00" * 320, turn="t1"), Interruption(turn_id="t1")])
    late = pipeline.process([agent_audio(b"\x01\x00" * 320, turn="t1")])
    assert late == []
    assert pipeline.fenced_audio_events == 1
    nxt = pipeline.process([agent_audio(b"\x02\x00" * 320, turn="t2")])
    assert audio_of(nxt) == b"\x02\x00" * 320


def test_an_unnamed_interruption_fences_nothing_for_good() -> None:
    pipeline = AudioPipeline(PCM16, PCM16, PCM16, output_frame_ms=None)
    pipeline.process([agent_audio(b"\x01\x00" * 320, turn=None), Interruption(turn_id=None)])
    after = pipeline.process([agent_audio(b"\x02\x00" * 320, turn=None)])
    assert audio_of(after) == b"\x02\x00" * 320, "the next unnamed turn is heard"
    assert pipeline.fenced_audio_events == 0


def test_other_events_pass_through_in_order() -> None:
    pipeline = AudioPipeline(PCM16, PCM16, PCM16, output_frame_ms=None)
    text = AgentText(text="hi", delta="hi", final=True, turn_id="t1")
    audio = agent_audio(b"\x01\x00" * 10)
    out = pipeline.process([text, audio, AgentAudioDone(turn_id="t1")])
    assert out[0] is text
    assert [e.type for e in out] == ["agent_text", "agent_audio", "agent_audio_done"]


@pytest.mark.parametrize("frame_ms", [None, 20])
def test_the_codecs_event_is_reused_when_already_in_the_application_format(
    frame_ms: int | None,
) -> None:
    pipeline = AudioPipeline(PCM16, PCM16, PCM16, output_frame_ms=frame_ms)
    event = agent_audio(b"\x05\x00" * 320)  # 20 ms of 16 kHz: one whole frame
    out = pipeline.process([event])
    assert len(out) == 1 and out[0] is event


def test_the_codecs_event_is_not_reused_when_it_must_be_converted() -> None:
    pipeline = AudioPipeline(PCM16, AudioFormat(24000), AudioFormat(24000), output_frame_ms=None)
    event = agent_audio(b"\x05\x00" * 3200)
    out = pipeline.process([event]) + pipeline.flush_output()
    assert all(e is not event and e.format == AudioFormat(24000) for e in out)


# One event at a time takes the pass-through shortcut where it applies;
# a batch of two or more always takes the whole path. Both must agree.
_STEP = st.one_of(
    st.tuples(
        st.just("audio"),
        st.sampled_from([320, 640, 100]),  # samples: 20 ms, 40 ms, a short frame
        st.sampled_from(["t1", "t2", None]),
        st.sampled_from([16000, 24000]),
    ),
    st.tuples(st.just("interrupt"), st.sampled_from(["t1", "t2", None])),
    st.tuples(st.just("done"), st.sampled_from(["t1", "t2", None])),
    st.tuples(st.just("flush")),
    st.tuples(st.just("reconnect")),
)


def _run(steps: list[tuple[object, ...]], *, batched: bool) -> list[object]:
    formats = {16000: PCM16, 24000: AudioFormat(24000)}
    pipeline = AudioPipeline(PCM16, PCM16, PCM16, output_frame_ms=20)
    seen: list[object] = []
    n = 0
    for step in steps:
        kind = step[0]
        event: Event | None = None
        if kind == "audio":
            n += 1
            samples, turn, rate = step[1], step[2], step[3]
            assert isinstance(samples, int) and isinstance(rate, int)
            assert turn is None or isinstance(turn, str)
            event = AgentAudio.new(bytes([n % 256, 0]) * samples, formats[rate], turn)
        elif kind == "interrupt":
            event = Interruption(turn_id=step[1])  # type: ignore[arg-type]
        elif kind == "done":
            event = AgentAudioDone(turn_id=step[1])  # type: ignore[arg-type]
        if event is not None:
            if batched:
                out = pipeline.process([event, AgentText(text="", delta="", final=False)])[:-1]
            else:
                out = pipeline.process([event])
        elif kind == "flush":
            out = pipeline.flush_output()
        else:
            out = pipeline.end_of_connection()
        seen.append([(e.type, e.pcm, e.turn_id) if isinstance(e, AgentAudio) else e for e in out])
        seen.append((pipeline.pending_output, pipeline.fenced_audio_events))
    return seen


@settings(max_examples=300, deadline=None)
@given(st.lists(_STEP, max_size=30))
def test_one_event_at_a_time_gives_what_a_batch_gives(steps: list[tuple[object, ...]]) -> None:
    assert _run(steps, batched=False) == _run(steps, batched=True)
