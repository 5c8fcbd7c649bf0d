"""The NextEVI codec, alone and against the NextEVI simulator in memory, on a
fake clock: the handshake as data, what goes on the wire, keep_alive timing,
every server message and its variants, fencing, audio containers, errors and
every way a session ends."""

from __future__ import annotations

import base64
import json
import random
import struct
from collections.abc import Callable
from typing import Any

import pytest

from voiceadapters.audio import best_alignment, pcm_to_array, wav_bytes
from voiceadapters.commands import Close, Interrupt, SendAudio, SendText, SendToolResult
from voiceadapters.errors import (
    AudioFormatError,
    ConfigError,
    SessionClosedError,
    UnsupportedCommandError,
)
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
from voiceadapters.handshake import CloseFrame, WebSocketRequest
from voiceadapters.secrets import Secret
from voiceadapters.testing import CodecPair
from voiceadapters_nextevi import (
    NextEVICodec,
    NextEVIProvider,
    messages,
    new_connection_id,
)
from voiceadapters_nextevi.provider import CONNECTION_ID_RE

PCM24 = AudioFormat(24000)
#: 20 ms of 24 kHz PCM16.
CHUNK = 960
Feed = Callable[..., list[Event]]


def has(kind: str) -> Callable[[list[Event]], bool]:
    return lambda events: any(e.type == kind for e in events)


def of(events: list[Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def audio_of(events: list[Event], turn_id: str) -> bytes:
    return b"".join(e.pcm for e in of(events, AgentAudio) if e.turn_id == turn_id)


def tts(pcm: bytes, *, is_last: bool = False) -> dict[str, Any]:
    return messages.tts_chunk(pcm, is_last=is_last, dialect="flat")


def text(content: str, *, final: bool, gen: str | None = None) -> dict[str, Any]:
    return messages.llm_response_chunk(content, is_final=final, generation_id=gen, dialect="flat")


INTERRUPTION = {"type": "tts_interruption", "content": ""}


def stream_until_ended(pair: CodecPair, pcm: bytes) -> None:
    """Stream ``pcm`` in real time until the server ends the session."""
    for at in range(0, len(pcm), CHUNK):
        pair.send(SendAudio(pcm=pcm[at : at + CHUNK]))
        pair.advance(0.02)
        if pair.ended:
            return
    pair.run_until(has("session_ended"))


# -- handshake as data ------------------------------------------------------------


def test_handshake_is_one_websocket_with_key_config_and_project_in_the_query(make_config, api_key):
    config = make_config("nextevi://?config_id=cfg-1&project_id=proj-9&connect_timeout=4.5")
    codec = NextEVICodec(config, connection_id="voice_1700000000000_abc123xyz")
    step = codec.handshake_step()
    assert isinstance(step, WebSocketRequest)
    assert step.url == "wss://api.nextevi.com/ws/voice/voice_1700000000000_abc123xyz"
    assert [name for name, _ in step.query] == ["api_key", "config_id", "project_id"]
    assert isinstance(dict(step.query)["api_key"], Secret)
    assert step.reveal_url() == (
        "wss://api.nextevi.com/ws/voice/voice_1700000000000_abc123xyz"
        f"?api_key={api_key}&config_id=cfg-1&project_id=proj-9"
    )
    assert step.headers == ()
    assert (step.open_timeout, step.ping_interval, step.ping_timeout) == (4.5, 30.0, 10.0)
    assert codec.handshake_step() == step, "the step repeats until the socket opens"
    codec.connection_opened()
    assert codec.handshake_step() is None


def test_project_id_is_left_out_when_not_set(make_config):
    codec = NextEVICodec(make_config("nextevi://?config_id=c"), connection_id="voice_1_a")
    step = codec.handshake_step()
    assert step is not None and [name for name, _ in step.query] == ["api_key", "config_id"]


def test_the_key_never_appears_in_the_request_codec_or_config_renderings(make_config, api_key):
    config = make_config("nextevi://?config_id=cfg-1")
    codec = NextEVICodec(config, connection_id="voice_1700000000000_abc123xyz")
    step = codec.handshake_step()
    renderings = [repr(step), str(step), repr(codec), str(codec.config), repr(codec.config)]
    renderings += [codec.connection_url, config.to_string()]
    for rendering in renderings:
        assert api_key not in rendering
    assert "api_key=***" in str(step) and "api_key=***" in repr(step)


def test_plain_loopback_config_uses_ws(make_config):
    codec = NextEVICodec(
        make_config("nextevi://127.0.0.1:8765?tls=false&config_id=c"), connection_id="voice_1_a"
    )
    assert codec.connection_url == "ws://127.0.0.1:8765/ws/voice/voice_1_a"


def test_the_provider_gives_every_codec_a_fresh_connection_id_in_the_vendor_form(make_config):
    provider = NextEVIProvider()
    config = make_config("nextevi://?config_id=c")
    ids = {provider.make_codec(config).connection_id for _ in range(20)}
    assert len(ids) == 20
    assert all(CONNECTION_ID_RE.fullmatch(i) for i in ids)


def test_new_connection_id_is_reproducible_from_a_time_and_a_seed():
    first = new_connection_id(epoch_ms=1700000000000, rng=random.Random(7))
    assert first == new_connection_id(epoch_ms=1700000000000, rng=random.Random(7))
    assert first.startswith("voice_1700000000000_") and CONNECTION_ID_RE.fullmatch(first)


@pytest.mark.parametrize("bad", ["", "a/b", "x?api_key=1", "voice 1", "é"])
def test_a_connection_id_that_is_not_one_path_segment_is_refused(make_config, bad):
    with pytest.raises(ValueError, match="connection_id"):
        NextEVICodec(make_config("nextevi://?config_id=c"), connection_id=bad)


def test_missing_api_key_is_a_config_error_naming_the_variable(make_config):
    with pytest.raises(ConfigError, match="NEXTEVI_API_KEY"):
        NextEVIProvider().make_codec(make_config("nextevi://?config_id=c", api_key=None))


# -- what goes on the wire ----------------------------------------------------------


def test_session_settings_is_sent_on_open_flat_and_nested_in_one_message(make_config):
    config = make_config(
        "nextevi://?config_id=c&emotion_detection=false&silence_threshold=0.8&turn_detection=true"
    )
    codec = NextEVICodec(config, connection_id="voice_1_a")
    codec.handshake_step()
    codec.connection_opened()
    (frame,) = codec.frames_to_send()
    assert isinstance(frame, str)
    assert json.loads(frame) == {
        "type": "session_settings",
        "message_id": "session_settings-1",
        "sample_rate": 24000,
        "channels": 1,
        "encoding": "linear16",
        "data": {
            "emotion_detection": {"enabled": False},
            "turn_detection": {"enabled": True, "silence_threshold": 0.8},
            "audio": {"sample_rate": 24000, "channels": 1, "encoding": "linear16"},
        },
    }
    assert codec.events_received() == [], "the session starts with connection_metadata"


def test_the_simulator_receives_settings_first_then_binary_audio(make_pair, speech24):
    pair = make_pair(pace=0)
    pair.stream_audio(speech24[: CHUNK * 10], 960)
    (settings,) = pair.server.settings
    assert settings["type"] == "session_settings"
    assert pair.server.received_messages == [settings]
    assert pair.server.binary_frame_sizes == [960] * 10
    assert bytes(pair.server.received_audio) == speech24[: CHUNK * 10]


def test_silent_frames_are_sent_not_dropped(open_codec):
    open_codec.handle_command(SendAudio(pcm=bytes(CHUNK)))
    open_codec.handle_command(SendAudio(pcm=bytes(CHUNK)))
    assert open_codec.frames_to_send() == [bytes(CHUNK), bytes(CHUNK)]


def test_empty_audio_sends_nothing_and_a_partial_sample_raises(open_codec):
    open_codec.handle_command(SendAudio(pcm=b""))
    assert open_codec.frames_to_send() == []
    with pytest.raises(AudioFormatError):
        open_codec.handle_command(SendAudio(pcm=b"\x00\x00\x00"))


def test_base64_option_sends_documented_audio_input_with_chunk_ids(make_pair, speech24):
    pair = make_pair(pace=0, options={"audio_input": "base64"})
    pair.stream_audio(speech24, CHUNK)
    pair.run_until(has("agent_audio_done"))
    sent = [json.loads(f) for f in pair.client_frames if isinstance(f, str)]
    audio_inputs = [m for m in sent if m["type"] == "audio_input"]
    first = audio_inputs[0]
    assert set(first) == {"type", "message_id", "data"} and set(first["data"]) == {
        "audio",
        "chunk_id",
    }
    assert base64.b64decode(first["data"]["audio"]) == speech24[:CHUNK]
    assert pair.server.chunk_ids[:3] == ["chunk-1", "chunk-2", "chunk-3"]
    assert pair.server.binary_frame_sizes == []
    assert bytes(pair.server.received_audio) == speech24
    _, ncc = best_alignment(pcm_to_array(speech24), pcm_to_array(audio_of(pair.events, "gen-1")))
    assert ncc >= 0.99


def test_send_text_reaches_the_simulator_and_the_agent_answers(make_pair):
    pair = make_pair()
    new = pair.send(SendText(text="book a table"))
    assert pair.server.texts == ["book a table"]
    (sent,) = [m for m in pair.server.received_messages if m["type"] == "text_input"]
    assert sent["text"] == "book a table" and sent["data"] == {"text": "book a table"}
    assert UserTranscript(text="book a table", final=True, confidence=1.0) in new
    (reply,) = of(new, AgentText)
    assert (reply.text, reply.delta, reply.final) == ("You wrote: book a table",) * 2 + (True,)


def test_interrupt_reaches_the_simulator_and_its_answer_fences_the_turn(make_pair, speech24):
    pair = make_pair(pace=1.0)
    pair.stream_audio(speech24, CHUNK)
    pair.run_until(has("agent_audio"))
    pair.advance(0.2)
    new = pair.send(Interrupt())
    assert pair.server.interrupts == 1
    (sent,) = [m for m in pair.server.received_messages if m["type"] == "interrupt"]
    assert set(sent) == {"type", "message_id"} and sent["message_id"].startswith("interrupt-")
    assert new == [Interruption(turn_id="gen-1")]
    later = pair.advance(5.0)
    assert not of(later, AgentAudio) and not of(later, AgentAudioDone)


# -- keep_alive -----------------------------------------------------------------------


def test_keep_alive_is_sent_after_the_interval_with_nothing_sent(make_pair):
    pair = make_pair()  # opened at t=1000 (CodecPair's clock); settings sent then
    pair.advance(29.9)
    assert pair.server.keep_alives == 0
    pair.advance(0.2)
    assert pair.server.keep_alives == 1
    pair.advance(30.0)
    assert pair.server.keep_alives == 2
    sent = [json.loads(f) for f in pair.client_frames if isinstance(f, str)]
    assert next(m for m in sent if m["type"] == "keep_alive") == {
        "type": "keep_alive",
        "message_id": "keep_alive-2",
    }


def test_no_keep_alive_while_audio_flows_and_one_soon_after_it_stops(make_pair):
    pair = make_pair()
    silence = bytes(CHUNK)
    for _ in range(50 * 45):  # 45 s of (silent) microphone audio in real time
        pair.send(SendAudio(pcm=silence))
        pair.advance(0.02)
    assert pair.server.keep_alives == 0
    pair.advance(29.0)
    assert pair.server.keep_alives == 0, "never before the interval"
    pair.advance(30.0 / 4 + 1.0)
    assert pair.server.keep_alives == 1, "at most a quarter interval late"


def test_keep_alive_interval_is_an_option_and_zero_disables_it(make_pair):
    fast = make_pair(options={"keep_alive_interval": 5})
    fast.advance(10.1)
    assert fast.server.keep_alives == 2
    off = make_pair(options={"keep_alive_interval": 0})
    off.advance(300)
    assert off.server.keep_alives == 0
    assert off.codec.get_timer() is None


# -- the echo session, message by message -----------------------------------------------


def test_echo_session_event_stream(make_pair, speech24):
    pair = make_pair(pace=1.0)
    pair.stream_audio(speech24, CHUNK)
    pair.stream_audio(bytes(24000 * 2), CHUNK)
    pair.run_until(has("agent_audio_done"))
    assert pair.events[0] == SessionStarted(session_id=pair.codec.connection_id)
    kinds = [e.type for e in pair.events]
    first = {kind: kinds.index(kind) for kind in set(kinds)}
    assert (
        first["user_speech_started"]
        < first["user_transcript"]
        < first["user_speech_stopped"]
        < first["agent_text"]
        < first["agent_audio"]
        < first["agent_audio_done"]
    )
    finals = [e for e in of(pair.events, UserTranscript) if e.final]
    assert len(finals) == 1 and finals[0].confidence == 0.9
    emotions = of(pair.events, Emotion)
    assert [e.source for e in emotions] == ["transcription", "emotion_update"]
    assert all(e.scores == {"calm": 0.62, "interest": 0.23, "joy": 0.15} for e in emotions)
    assert not of(pair.events, UnknownMessage), "turn_complete is known and gives no event"
    texts = of(pair.events, AgentText)
    assert texts[-1].final and "".join(t.delta for t in texts) == texts[-1].text
    assert {t.turn_id for t in texts} == {"gen-1"}
    assert of(pair.events, AgentAudioDone) == [AgentAudioDone(turn_id="gen-1")]
    echo = audio_of(pair.events, "gen-1")
    assert all(e.format == PCM24 for e in of(pair.events, AgentAudio))
    assert best_alignment(pcm_to_array(speech24), pcm_to_array(echo))[1] >= 0.99
    assert not of(pair.events, ProviderError) and not pair.ended


def test_emotion_detection_off_in_the_settings_stops_emotions(make_pair, speech24):
    pair = make_pair(pace=0, options={"emotion_detection": False})
    pair.stream_audio(speech24, CHUNK)
    pair.run_until(has("agent_audio_done"))
    assert not of(pair.events, Emotion)


def test_without_generation_ids_turns_get_synthetic_ids(make_pair, speech24):
    pair = make_pair(pace=0, generation_ids=False)
    for _ in range(2):
        pair.stream_audio(speech24, CHUNK)
        pair.stream_audio(bytes(24000), CHUNK)
    pair.run_until(lambda events: len(of(events, AgentAudioDone)) == 2)
    assert [d.turn_id for d in of(pair.events, AgentAudioDone)] == ["turn-1", "turn-2"]
    assert {t.turn_id for t in of(pair.events, AgentText)} == {"turn-1", "turn-2"}


# -- agent text (§9.4) --------------------------------------------------------------------


def test_deltas_accumulate_and_a_final_full_text_adds_only_what_is_new(open_codec, feed_frames):
    events = feed_frames(
        open_codec,
        text("Hello", final=False),
        text(" there", final=False),
        text("Hello there, friend.", final=True),
    )
    assert [(e.text, e.delta, e.final) for e in events] == [
        ("Hello", "Hello", False),
        ("Hello there", " there", False),
        ("Hello there, friend.", ", friend.", True),
    ]
    assert {e.turn_id for e in events} == {"turn-1"}


def test_a_final_chunk_that_does_not_repeat_the_text_is_a_last_delta(open_codec, feed_frames):
    events = feed_frames(
        open_codec,
        text("Hello", final=False),
        text(" there", final=False),
        text(" friend.", final=True),
    )
    assert [(e.text, e.delta) for e in events][-1] == ("Hello there friend.", " friend.")


def test_a_lone_final_chunk_is_the_whole_text_and_the_next_chunk_starts_a_turn(
    open_codec, feed_frames
):
    events = feed_frames(open_codec, text("Hi.", final=True), text("Next", final=False))
    assert [(e.text, e.delta, e.turn_id) for e in events] == [
        ("Hi.", "Hi.", "turn-1"),
        ("Next", "Next", "turn-2"),
    ]


@pytest.mark.parametrize("final_text", ["full", "delta"])
def test_either_final_text_convention_of_the_simulator_gives_the_same_text(
    make_pair, speech24, final_text
):
    pair = make_pair(pace=0, final_text=final_text)
    pair.stream_audio(speech24, CHUNK)
    pair.run_until(has("agent_audio_done"))
    texts = of(pair.events, AgentText)
    assert texts[-1].text.startswith("You said [") and texts[-1].text.endswith("of speech].")
    assert texts[-1].final
    assert "".join(t.delta for t in texts) == texts[-1].text


def test_a_new_generation_id_starts_a_new_turn(open_codec, feed_frames):
    events = feed_frames(
        open_codec,
        text("One", final=False, gen="g-1"),
        text("Two", final=False, gen="g-2"),
    )
    assert [(e.text, e.turn_id) for e in events] == [("One", "g-1"), ("Two", "g-2")]


# -- agent audio: raw PCM, WAV per chunk, broken containers ----------------------------------


def test_raw_pcm_chunks_are_24_khz_audio_of_the_current_turn(open_codec, feed_frames):
    pcm = struct.pack("<4h", 1, 2, 3, 4)
    events = feed_frames(open_codec, text("Hi", final=False), tts(pcm), tts(b"", is_last=True))
    assert events[1:] == [
        AgentAudio(pcm=pcm, format=PCM24, turn_id="turn-1"),
        AgentAudioDone(turn_id="turn-1"),
    ]


def test_audio_without_text_starts_its_own_turn_and_is_last_ends_it(open_codec, feed_frames):
    pcm = b"\x01\x00\x02\x00"
    events = feed_frames(open_codec, tts(pcm, is_last=True), tts(pcm))
    assert [(e.type, e.turn_id) for e in events] == [
        ("agent_audio", "turn-1"),
        ("agent_audio_done", "turn-1"),
        ("agent_audio", "turn-2"),
    ]


def test_wav_chunks_at_16_khz_become_16_khz_agent_audio(make_pair, speech24):
    pair = make_pair(pace=0, wav_chunks=True, wav_rate=16000)
    pair.stream_audio(speech24, CHUNK)
    pair.run_until(has("agent_audio_done"))
    audio = of(pair.events, AgentAudio)
    assert audio and all(e.format == AudioFormat(16000) for e in audio)
    assert all(len(e.pcm) == 640 for e in audio[:-1]), "20 ms of 16 kHz per WAV chunk"
    first = json.loads(
        next(f for f in pair.server_frames if isinstance(f, str) and "tts_chunk" in f)
    )
    assert base64.b64decode(first["content"])[:4] == b"RIFF", "the header was on the wire"
    from voiceadapters.audio import StreamConverter

    conv = StreamConverter(PCM24, AudioFormat(16000))
    reference = conv.convert(speech24) + conv.flush()
    _, ncc = best_alignment(pcm_to_array(reference), pcm_to_array(audio_of(pair.events, "gen-1")))
    assert ncc >= 0.99
    assert not of(pair.events, ProviderError)


def test_wav_scenario_at_24_khz_echoes_the_speech(make_pair, speech24):
    pair = make_pair("wav_chunks", pace=0)
    pair.stream_audio(speech24, CHUNK)
    pair.run_until(has("agent_audio_done"))
    echo = audio_of(pair.events, "gen-1")
    assert best_alignment(pcm_to_array(speech24), pcm_to_array(echo))[1] >= 0.99


def test_a_streamed_wav_header_sets_the_format_of_the_header_less_chunks_that_follow(
    open_codec, feed_frames
):
    pcm = struct.pack("<4h", 1, 2, 3, 4)
    header = bytearray(wav_bytes(pcm, AudioFormat(22050, channels=2)))
    struct.pack_into("<I", header, 40, 0xFFFFFFFF)  # streaming: data size unknown
    events = feed_frames(open_codec, tts(bytes(header)), tts(pcm), tts(pcm, is_last=True))
    stereo = AudioFormat(22050, channels=2)
    assert [e.format for e in of(events, AgentAudio)] == [stereo] * 3
    events = feed_frames(open_codec, tts(pcm))
    assert events[0].format == PCM24, "a new turn starts at the wire format again"


def test_bad_wav_scenario_reports_each_broken_chunk_and_the_turn_completes(make_pair, speech24):
    pair = make_pair("bad_wav", pace=0)
    pair.stream_audio(speech24, CHUNK)
    pair.run_until(has("agent_audio_done"))
    errors = of(pair.events, ProviderError)
    assert [e.code for e in errors] == ["malformed_wav", "malformed_wav"]
    assert "truncated" in errors[0].message and "format tag" in errors[1].message
    assert not any(e.fatal for e in errors)
    echo = audio_of(pair.events, "gen-1")
    assert best_alignment(pcm_to_array(speech24), pcm_to_array(echo))[1] >= 0.99
    assert not pair.ended
    pair.stream_audio(speech24, CHUNK)  # and the next turn works as well
    pair.run_until(lambda events: len(of(events, AgentAudioDone)) == 2)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (b"RIFF", ["truncated"]),
        (b"RIFF\x24\x00\x00\x00WAVEfmt \x10\x00\x00\x00\x01\x00", ["truncated"]),
        (b"RIFF\x24\x00\x00\x00AVI LIST", ["not a WAV"]),
        (wav_bytes(b"\x00" * 8, PCM24)[:36] + b"junk\x04\x00\x00\x00abcd", ["no 'data' chunk"]),
    ],
)
def test_a_wrong_or_truncated_wav_header_is_a_provider_error_and_the_chunk_is_skipped(
    open_codec, feed_frames, raw, words
):
    pcm = b"\x05\x00\x06\x00"
    events = feed_frames(open_codec, tts(raw), tts(pcm, is_last=True))
    error, audio, done = events
    assert isinstance(error, ProviderError) and error.code == "malformed_wav" and not error.fatal
    for word in words:
        assert word in error.message
    assert audio == AgentAudio(pcm=pcm, format=PCM24, turn_id="turn-1")
    assert done == AgentAudioDone(turn_id="turn-1")


def test_invalid_base64_and_odd_byte_counts_are_reported_and_the_rest_is_played(
    open_codec, feed_frames
):
    bad = {"type": "tts_chunk", "content": "!!not*base64!!", "is_last": False}
    events = feed_frames(open_codec, bad, tts(b"\x01\x00\x02"), tts(b"", is_last=True))
    assert [e.type for e in events] == [
        "provider_error",
        "provider_error",
        "agent_audio",
        "agent_audio_done",
    ]
    assert [e.code for e in of(events, ProviderError)] == ["malformed_audio", "odd_length_audio"]
    assert events[2].pcm == b"\x01\x00"


# -- interruption fencing -----------------------------------------------------------------


def test_late_audio_of_an_interrupted_turn_is_dropped_until_a_new_reply(open_codec, feed_frames):
    chunk = b"\x01\x00" * 480
    events = feed_frames(
        open_codec,
        text("Long answer", final=False),
        tts(chunk),
        INTERRUPTION,
        tts(chunk),  # the server raced the interruption
        tts(chunk),
        text("New reply", final=True),
        tts(chunk, is_last=True),
    )
    assert events == [
        AgentText(text="Long answer", delta="Long answer", final=False, turn_id="turn-1"),
        AgentAudio(pcm=chunk, format=PCM24, turn_id="turn-1"),
        Interruption(turn_id="turn-1"),
        AgentText(text="New reply", delta="New reply", final=True, turn_id="turn-2"),
        AgentAudio(pcm=chunk, format=PCM24, turn_id="turn-2"),
        AgentAudioDone(turn_id="turn-2"),
    ]
    assert open_codec.fenced_chunks == 2


def test_the_fence_also_lifts_at_the_interrupted_turns_is_last_or_a_final_transcript(
    open_codec, feed_frames
):
    chunk = b"\x02\x00" * 4
    final = messages.transcription("stop", is_final=True, dialect="flat")
    events = feed_frames(
        open_codec,
        tts(chunk),
        {"type": "user_interruption"},
        tts(chunk, is_last=True),  # the interrupted stream's end: dropped, lifts the fence
        tts(chunk),  # a new turn
        INTERRUPTION,
        final,  # the user finished a new utterance
        tts(chunk),
    )
    assert [(e.type, getattr(e, "turn_id", None)) for e in events] == [
        ("agent_audio", "turn-1"),
        ("interruption", "turn-1"),
        ("agent_audio", "turn-2"),
        ("interruption", "turn-2"),
        ("user_transcript", None),
        ("agent_audio", "turn-3"),
    ]


def test_text_of_an_interrupted_generation_is_dropped(open_codec, feed_frames):
    events = feed_frames(
        open_codec,
        text("Let me", final=False, gen="g-1"),
        INTERRUPTION,
        text(" explain", final=False, gen="g-1"),
        text("Sure", final=True, gen="g-2"),
    )
    assert [(e.type, getattr(e, "turn_id", None)) for e in events] == [
        ("agent_text", "g-1"),
        ("interruption", "g-1"),
        ("agent_text", "g-2"),
    ]


def test_interruption_before_any_agent_turn_names_no_turn(open_codec, feed_frames):
    assert feed_frames(open_codec, INTERRUPTION) == [Interruption(turn_id=None)]


def test_barge_in_delivers_no_audio_of_the_interrupted_turn_after_the_interruption(
    make_pair, speech24
):
    pair = make_pair("barge_in", pace=1.0)
    pair.stream_audio(speech24, CHUNK)
    pair.run_until(has("agent_audio"))
    pair.advance(0.3)
    pair.stream_audio(speech24, CHUNK)  # the user talks over the agent
    pair.stream_audio(bytes(24000), CHUNK)
    pair.run_until(
        lambda events: any(isinstance(e, AgentAudioDone) and e.turn_id == "gen-2" for e in events)
    )
    (interruption,) = of(pair.events, Interruption)
    assert interruption.turn_id == "gen-1"
    after = pair.events[pair.events.index(interruption) + 1 :]
    assert not [
        e for e in after if isinstance(e, AgentAudio | AgentAudioDone) and e.turn_id == "gen-1"
    ]
    assert [d.turn_id for d in of(pair.events, AgentAudioDone)] == ["gen-2"]


# -- transcripts and emotions -----------------------------------------------------------------


def test_transcription_fields_and_speech_events(open_codec, feed_frames):
    events = feed_frames(
        open_codec,
        messages.transcription("", is_final=False, event_type="speech_started", dialect="flat"),
        messages.transcription("hel", is_final=False, confidence=0.4, dialect="nested"),
        {"type": "transcription", "transcript": "hello", "confidence": 7, "is_final": True},
        {"type": "transcription", "data": {"transcript": "", "is_final": True,
                                           "metadata": {"event_type": "utterance_end"}}},
        {"type": "transcription", "transcript": "no flag"},
    )  # fmt: skip
    assert events == [
        UserSpeechStarted(),
        UserTranscript(text="hel", final=False, confidence=0.4),
        UserTranscript(text="hello", final=True, confidence=None),
        UserSpeechStopped(),
        UserTranscript(text="no flag", final=False),
    ]


@pytest.mark.parametrize(
    "message",
    [
        {"type": "emotion_update", "data": {"top_emotions": [{"name": "joy", "score": 0.61},
                                                              {"name": "calm", "score": 0.3}]}},
        {"type": "emotion_update", "top_emotions": [{"emotion": "joy", "percentage": 61.0},
                                                    {"emotion": "calm", "percentage": 30}]},
        {"type": "emotion_update", "top_emotions": [{"emotion": "joy", "confidence": 0.61},
                                                    {"emotion": "calm", "confidence": 0.3}]},
        {"type": "emotion_update", "emotions": {"joy": 0.61, "calm": 0.3}},
        {"type": "emotion_update", "emotions": [{"label": "joy", "score": 0.61},
                                                {"label": "calm", "score": 0.3}]},
        {"type": "emotion_update", "data": {"emotions": {"joy": {"percentage": 61},
                                                         "calm": {"confidence": 0.3}}}},
        messages.emotion_update({"joy": 0.61, "calm": 0.3}),
    ],
)  # fmt: skip
def test_every_emotion_update_variant_gives_scores_between_0_and_1(
    open_codec, feed_frames, message
):
    assert feed_frames(open_codec, message) == [
        Emotion(scores={"joy": 0.61, "calm": 0.3}, source="emotion_update")
    ]


def test_bad_emotion_entries_are_skipped_and_reported_once(open_codec, feed_frames):
    message = {
        "type": "emotion_update",
        "top_emotions": [
            {"emotion": "joy", "percentage": 140},
            {"score": 0.2},
            "sad",
            {"name": "calm", "score": "high"},
            {"name": "fear", "score": 0.1},
        ],
    }
    error, emotion = feed_frames(open_codec, message)
    assert isinstance(error, ProviderError) and error.code == "malformed_emotion"
    assert "joy" in error.message and "#1" in error.message and "calm" in error.message
    assert emotion == Emotion(scores={"fear": 0.1}, source="emotion_update")
    assert feed_frames(open_codec, {"type": "emotion_update", "top_emotions": []}) == []


# -- errors, unknown and malformed input ---------------------------------------------------------


@pytest.mark.parametrize(
    ("message", "code", "text"),
    [
        ({"type": "error", "error_code": "TURN_DETECTION_FAILED", "error_message": "no turn"},
         "TURN_DETECTION_FAILED", "no turn"),
        ({"type": "error", "error": "Something broke"}, "nextevi_error", "Something broke"),
        ({"type": "error", "data": {"code": "IDLE_TIMEOUT_WARNING", "message": "Idle"}},
         "IDLE_TIMEOUT_WARNING", "Idle"),
        ({"type": "error", "data": {"error_code": "X1", "error_message": "nested vendor"}},
         "X1", "nested vendor"),
        ({"type": "error", "error": {"code": "E2", "message": "object"}}, "E2", "object"),
        ({"type": "error", "code": 503, "message": "busy"}, "503", "busy"),
        ({"type": "error", "data": {"detail": "?"}}, "nextevi_error", '{"data":{"detail":"?"}}'),
        ({"type": "error", "code": True, "message": "a boolean is no code"},
         "nextevi_error", "a boolean is no code"),
        ({"type": "error"}, "nextevi_error", "(no details)"),
    ],
)  # fmt: skip
def test_every_error_shape_is_a_non_fatal_provider_error(
    open_codec, feed_frames, message, code, text
):
    assert feed_frames(open_codec, message) == [ProviderError(code=code, message=text)]
    assert not open_codec.ended


@pytest.mark.parametrize(
    ("message", "code", "text"),
    [
        ({"type": "error", "error_code": "CONFIG_NOT_FOUND", "error_message": "Unknown config"},
         "CONFIG_NOT_FOUND", "Unknown config"),
        ({"type": "error", "data": {"code": "JWT_TOKEN_EXPIRED", "message": "Token expired"}},
         "JWT_TOKEN_EXPIRED", "Token expired"),
        (messages.error("AUTHENTICATION_FAILED", "Invalid API key"),
         "AUTHENTICATION_FAILED", "Invalid API key"),
        (messages.error("IDLE_TIMEOUT_HANGUP", "Bye"), "IDLE_TIMEOUT_HANGUP", "Bye"),
    ],
)  # fmt: skip
def test_session_ending_error_codes_are_fatal(open_codec, feed_frames, message, code, text):
    assert feed_frames(open_codec, message) == [ProviderError(code=code, message=text, fatal=True)]


def test_every_error_followed_by_the_end_of_a_refused_session_is_fatal(make_pair):
    """The docs' contract (concepts/events.md): a fatal error is followed by
    session_ended; so an error the server follows with its refusal close is fatal."""
    refused = (
        make_pair(key="oak_wrong_key_000"),
        make_pair(options={"config_id": "cfg-missing"}, config_ids=("cfg-only",)),
    )
    for pair in refused:
        error, ended = pair.events
        assert isinstance(error, ProviderError) and error.fatal, error
        assert isinstance(ended, SessionEnded) and ended.close_code is not None


def test_error_scenario_reports_the_error_and_the_session_goes_on(make_pair, speech24):
    pair = make_pair("error", pace=0)
    pair.stream_audio(speech24, CHUNK)
    pair.run_until(has("agent_audio_done"))
    (error,) = of(pair.events, ProviderError)
    assert error.code == "TURN_DETECTION_FAILED" and not error.fatal
    assert not pair.ended


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("this frame is not JSON {", "malformed_json"),
        ("[1, 2]", "malformed_message"),
        ('{"data": {}}', "malformed_message"),
        (b"\x00\x01\x02\x03", "unexpected_binary"),
        ('{"type": "llm_response_chunk", "content": 5}', "malformed_message"),
        ('{"type": "tts_chunk", "content": "AAAA", "is_last": "yes"}', "malformed_message"),
        ('{"type": "transcription", "transcript": ["a"]}', "malformed_message"),
    ],
)
def test_malformed_frames_become_provider_errors(open_codec, feed_frames, frame, code):
    (error,) = feed_frames(open_codec, frame)
    assert isinstance(error, ProviderError) and error.code == code and not error.fatal


def test_malformed_field_errors_name_the_type_and_the_field(open_codec, feed_frames):
    (error,) = feed_frames(open_codec, '{"type": "tts_chunk", "data": {"is_last": 1}}')
    assert "tts_chunk" in error.message and "'is_last'" in error.message


def test_turn_complete_is_known_and_gives_no_event(open_codec, feed_frames):
    message = messages.turn_complete("what's the weather")
    assert feed_frames(open_codec, message) == []
    assert not open_codec.ended


@pytest.mark.parametrize("kind", ["idle_warning", "system_message", "status", "x"])
def test_unmapped_types_pass_through_as_unknown_messages(open_codec, feed_frames, kind):
    raw = {"type": kind, "data": {"anything": 1}}
    assert feed_frames(open_codec, raw) == [UnknownMessage(raw=raw)]


def test_a_second_connection_metadata_is_reported_not_repeated(open_codec, feed_frames):
    meta = messages.connection_metadata("voice_1_a", config_id="c")
    events = feed_frames(open_codec, meta, meta)
    assert events[0] == SessionStarted(session_id="voice_1_a")
    assert isinstance(events[1], ProviderError) and events[1].code == "unexpected_message"


def test_connection_metadata_without_an_id_starts_with_our_connection_id(open_codec, feed_frames):
    events = feed_frames(open_codec, {"type": "connection_metadata", "status": "connected"})
    assert events == [SessionStarted(session_id=open_codec.connection_id)]


# -- the end of a session -------------------------------------------------------------------


def test_a_wrong_key_gets_an_error_then_close_4001_and_ends_auth_failed(make_pair):
    pair = make_pair(key="oak_wrong_key_000")
    error, ended = pair.events
    assert isinstance(error, ProviderError) and error.code == "AUTHENTICATION_FAILED"
    assert ended == SessionEnded(
        reason="auth_failed", provider_reason="authentication failed", close_code=4001
    )
    assert not of(pair.events, SessionStarted)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        (1000, "completed"),
        (1005, "completed"),
        (1001, "server_shutdown"),
        (1012, "server_shutdown"),
        (4001, "auth_failed"),
        (1008, "auth_failed"),
        (4000, "error"),
        (4004, "error"),
        (4999, "error"),
        (1011, "error"),
        (1006, "connection_lost"),
        (None, "connection_lost"),
    ],
)
def test_close_codes_map_to_end_reasons(open_codec, code, reason):
    open_codec.receive_closed(code, "bye")
    assert open_codec.events_received() == [
        SessionEnded(reason=reason, provider_reason="bye", close_code=code)
    ]


@pytest.mark.parametrize(
    ("message", "ended"),
    [
        ({"type": "websocket.disconnect", "code": 1001, "reason": "server shutdown"},
         SessionEnded(reason="server_shutdown", provider_reason="server shutdown", close_code=1001)),
        ({"type": "websocket.disconnect", "data": {"code": 1000, "reason": "bye"}},
         SessionEnded(reason="completed", provider_reason="bye", close_code=1000)),
        ({"type": "websocket.disconnect", "code": 4001},
         SessionEnded(reason="auth_failed", close_code=4001)),
        ({"type": "websocket.disconnect"}, SessionEnded(reason="completed")),
    ],
)  # fmt: skip
def test_websocket_disconnect_ends_the_session_and_closes(open_codec, feed_frames, message, ended):
    assert feed_frames(open_codec, message) == [ended]
    assert open_codec.frames_to_send() == [CloseFrame(1000, "websocket.disconnect received")]
    assert open_codec.ended


def test_the_last_error_code_is_the_provider_reason_of_a_bare_close(open_codec, feed_frames):
    feed_frames(open_codec, {"type": "error", "error_code": "PROJECT_NOT_FOUND"})
    open_codec.receive_closed(4004, "")
    assert open_codec.events_received()[-1] == SessionEnded(
        reason="error", provider_reason="PROJECT_NOT_FOUND", close_code=4004
    )


def test_server_shutdown_scenario_sends_websocket_disconnect(make_pair, speech24):
    pair = make_pair("server_shutdown", pace=0)
    stream_until_ended(pair, speech24)
    assert pair.events[-1] == SessionEnded(
        reason="server_shutdown", provider_reason="server shutdown", close_code=1001
    )
    assert of(pair.events, AgentAudioDone), "the reply was complete before the end"


def test_idle_warning_scenario_warns_then_hangs_up_with_timeout(make_pair, speech24):
    pair = make_pair("idle_warning", pace=1.0)
    pair.stream_audio(speech24, CHUNK)
    pair.run_until(has("agent_audio_done"))
    done_at = pair.now
    pair.run_until(has("session_ended"))
    unknown = [(u.raw["type"], u.raw.get("warning_type")) for u in of(pair.events, UnknownMessage)]
    assert unknown[-3:] == [
        ("idle_warning", "warning"),
        ("idle_warning", "final_warning"),
        ("system_message", None),
    ]
    assert pair.events[-1] == SessionEnded(
        reason="timeout", provider_reason="idle timeout", close_code=1000
    )
    assert pair.now - done_at == pytest.approx(3.0, abs=0.1)


def test_dropped_connection_ends_with_connection_lost(make_pair, speech24):
    pair = make_pair("drop", pace=0)
    stream_until_ended(pair, speech24)
    assert pair.events[-1] == SessionEnded(reason="connection_lost")
    assert len(of(pair.events, AgentAudio)) == 1 and not of(pair.events, AgentAudioDone)


def test_client_close_ends_with_client_closed(make_pair):
    pair = make_pair()
    (ended,) = pair.send(Close())
    assert isinstance(ended, SessionEnded)
    assert (ended.reason, ended.close_code) == ("client_closed", 1000)
    assert pair.client_frames[-1] == CloseFrame(1000, "client closed")
    assert pair.server.close_code == 1000
    with pytest.raises(SessionClosedError):
        pair.send(SendAudio(pcm=bytes(CHUNK)))


def test_no_keep_alive_after_the_client_closed(make_pair):
    pair = make_pair()
    pair.send(Close())
    assert pair.codec.get_timer() is None


# -- capabilities ------------------------------------------------------------------------------


def test_tool_results_are_refused_naming_nextevi_and_the_capability(open_codec):
    with pytest.raises(UnsupportedCommandError) as info:
        open_codec.handle_command(SendToolResult(call_id="c", output="x"))
    assert (info.value.provider, info.value.capability) == ("nextevi", "tool_calls")
    assert open_codec.frames_to_send() == []


def test_the_codec_module_imports_no_clock_and_no_randomness():
    import types

    from voiceadapters_nextevi import codec as codec_module

    imported = {
        value.__name__
        for value in vars(codec_module).values()
        if isinstance(value, types.ModuleType)
    }
    assert imported.isdisjoint({"time", "random", "secrets", "uuid", "datetime", "os", "asyncio"})
