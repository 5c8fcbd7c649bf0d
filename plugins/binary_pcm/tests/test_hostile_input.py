"""Hostile frames from a binary-pcm server (issue 11): what the application sees.

Each bug the fuzz harness (``python -m voiceadapters_conformance.fuzz``)
found has its test here; the harness itself runs in conformance/tests."""

from __future__ import annotations

import pytest

from voiceadapters.errors import TokenRequestError
from voiceadapters.events import AgentAudio, ProviderError, SessionEnded, SessionStarted
from voiceadapters.handshake import HttpResponse

DEEP = "[" * 200_000 + "]" * 200_000


def test_a_frame_nested_200000_deep_is_a_provider_error_and_the_session_goes_on(
    open_codec, feed_frames
):
    (error,) = feed_frames(open_codec, DEEP)
    assert isinstance(error, ProviderError) and error.code == "malformed_json"
    assert not error.fatal and len(error.message) < 300
    assert feed_frames(open_codec, {"type": "connected"}) == [SessionStarted()]


def test_json_in_a_binary_frame_is_audio_as_the_protocol_says(connected_codec, feed_frames):
    (audio,) = feed_frames(connected_codec, b'{"type":"x"}')
    assert isinstance(audio, AgentAudio) and audio.pcm == b'{"type":"x"}'


def test_a_lone_surrogate_in_an_error_code_is_replaced_and_reported(connected_codec, feed_frames):
    warning, error = feed_frames(
        connected_codec, '{"type":"error","code":"E\\ud800","message":"m\\udfff"}'
    )
    assert warning.code == "invalid_unicode" and "2 lone UTF-16 surrogate(s)" in warning.message
    assert error == ProviderError(code="E\ufffd", message="m\ufffd")


def test_a_huge_session_ended_reason_is_cut_in_the_event(connected_codec, feed_frames):
    (ended,) = feed_frames(connected_codec, {"type": "session_ended", "reason": "r" * 100_000})
    assert isinstance(ended, SessionEnded) and ended.reason == "completed"
    assert ended.provider_reason is not None and len(ended.provider_reason) < 600


def test_a_token_response_nested_200000_deep_is_a_token_request_error(provider, make_config):
    codec = provider.make_codec(make_config("binary-pcm://127.0.0.1:1?tls=false"))
    codec.handshake_step()
    body = b'{"token":"t","ws_url":' + DEEP.encode() + b"}"
    with pytest.raises(TokenRequestError) as caught:
        codec.receive_http_response(HttpResponse(200, body))
    assert caught.value.status == 200 and "not a JSON object" in str(caught.value)
