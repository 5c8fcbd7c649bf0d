"""Hostile frames from a NextEVI server (issue 11): what the application sees.

Each bug the fuzz harness (``python -m voiceadapters_conformance.fuzz``)
found, or issue 11 reported, has its test here."""

from __future__ import annotations

from voiceadapters.events import Emotion, ProviderError, SessionEnded, UserTranscript
from voiceadapters_nextevi import messages

DEEP = "[" * 200_000 + "]" * 200_000
HUGE = "9" * 400


def test_a_frame_nested_200000_deep_is_a_provider_error_and_the_session_goes_on(
    open_codec, feed_frames
):
    (error,) = feed_frames(open_codec, DEEP)
    assert isinstance(error, ProviderError) and error.code == "malformed_json"
    assert not error.fatal and len(error.message) < 300
    assert feed_frames(open_codec, {"type": "transcription", "transcript": "hi"}) == [
        UserTranscript(text="hi", final=False)
    ]


def test_a_400_digit_confidence_is_left_out_not_an_overflow_error(open_codec, feed_frames):
    frame = f'{{"type":"transcription","transcript":"hi","is_final":true,"confidence":{HUGE}}}'
    assert feed_frames(open_codec, frame) == [UserTranscript(text="hi", final=True)]


def test_non_finite_confidences_are_left_out(open_codec, feed_frames):
    for literal in ("NaN", "Infinity", "1e400", "-1e400"):
        frame = f'{{"type":"transcription","transcript":"hi","confidence":{literal}}}'
        assert feed_frames(open_codec, frame) == [UserTranscript(text="hi", final=False)]


def test_a_400_digit_emotion_score_is_skipped_and_reported(open_codec, feed_frames):
    frame = (
        '{"type":"emotion_update","top_emotions":['
        f'{{"name":"joy","score":{HUGE}}},{{"emotion":"calm","percentage":1e400}},'
        '{"name":"sad","score":0.25}]}'
    )
    error, emotion = feed_frames(open_codec, frame)
    assert error.code == "malformed_emotion" and not error.fatal
    assert "(joy): no numeric score" in error.message
    assert "(calm): no numeric score" in error.message
    assert emotion == Emotion(scores={"sad": 0.25}, source="emotion_update")


def test_a_400_digit_score_in_a_transcript_emotion_map_is_skipped(open_codec, feed_frames):
    frame = f'{{"type":"transcription","transcript":"","emotions":{{"joy":{HUGE},"calm":0.5}}}}'
    error, emotion = feed_frames(open_codec, frame)
    assert error.code == "malformed_emotion"
    assert emotion == Emotion(scores={"calm": 0.5}, source="transcription")


def test_a_nested_error_payload_is_reported_as_a_bounded_excerpt(open_codec, feed_frames):
    """An error with no message: the codec quotes its JSON, which used to be a
    json.dumps of whatever depth the server sent."""
    payload = "[" * 60 + "]" * 60
    (error,) = feed_frames(open_codec, f'{{"type":"error","data":{{"detail":{payload}}}}}')
    assert error == ProviderError(
        code="nextevi_error", message='{"data":{"detail":' + "[" * 60 + "]" * 60 + "}}"
    )
    (error,) = feed_frames(open_codec, '{"type":"error","error":' + DEEP + "}")
    assert error.code == "malformed_json" and len(error.message) < 300


def test_an_error_of_a_megabyte_is_cut_in_the_event(open_codec, feed_frames):
    text = "x" * (1 << 20)
    (error,) = feed_frames(open_codec, messages.error("TURN_DETECTION_FAILED", text))
    assert error.code == "TURN_DETECTION_FAILED" and not error.fatal
    assert error.message == "x" * 2000 + f"… ({(1 << 20) - 2000} more characters)"


def test_a_huge_error_code_is_cut_too_and_still_ends_the_session_with_a_reason(
    open_codec, feed_frames
):
    code = "E" * 10_000
    (error,) = feed_frames(open_codec, {"type": "error", "error_code": code})
    assert error.code.startswith("E" * 100) and len(error.code) < 150
    open_codec.receive_closed(4000, "")
    (ended,) = open_codec.events_received()
    assert isinstance(ended, SessionEnded) and ended.reason == "error"
    assert ended.provider_reason is not None and len(ended.provider_reason) < 600


def test_an_authentication_error_then_the_close_is_fatal_then_ended(open_codec, feed_frames):
    events = feed_frames(open_codec, messages.error("AUTHENTICATION_FAILED", "Invalid API key"))
    open_codec.receive_closed(4001, "authentication failed")
    assert events + open_codec.events_received() == [
        ProviderError(code="AUTHENTICATION_FAILED", message="Invalid API key", fatal=True),
        SessionEnded(
            reason="auth_failed", provider_reason="authentication failed", close_code=4001
        ),
    ]
