"""Hostile frames from a Deepgram server: what the application sees, and a
short fuzz run of the codec and the simulator (no exception may escape)."""

from __future__ import annotations

import json

from voiceadapters.events import ProviderError, ToolCall, UnknownMessage, UserTranscript
from voiceadapters_deepgram import messages as m

DEEP = "[" * 200_000 + "]" * 200_000


def test_a_frame_nested_200000_deep_is_a_provider_error_and_the_session_goes_on(
    make_codec, feed_frames
):
    codec = make_codec()
    (error,) = feed_frames(codec, DEEP)
    assert isinstance(error, ProviderError) and error.code == "malformed_json"
    assert not error.fatal and len(error.message) < 300
    assert feed_frames(codec, m.conversation_text("user", "hi")) == [
        UserTranscript(text="hi", final=True)
    ]


def test_deeply_nested_tool_arguments_are_reported_not_raised(make_codec, feed_frames):
    message = m.function_call_request("fc", "f", {})
    message["functions"][0]["arguments"] = "[" * 100_000
    error, call = feed_frames(make_codec(), message)
    assert isinstance(error, ProviderError) and call == ToolCall(call_id="fc", name="f")


def test_a_megabyte_error_description_is_bounded(make_codec, feed_frames):
    (error,) = feed_frames(make_codec(), m.error("E" * 10_000, "x" * 1_000_000))
    assert isinstance(error, ProviderError) and len(error.message) < 3000 and len(error.code) < 200


def test_an_unknown_message_nested_to_the_limit_still_renders(make_codec, feed_frames):
    value = "[" * 60 + "]" * 60
    (unknown,) = feed_frames(make_codec(), f'{{"type": "New", "x": {value}}}')
    assert isinstance(unknown, UnknownMessage)
    json.dumps(unknown.model_dump(mode="json"))
    assert repr(unknown)


def test_lone_surrogates_are_replaced_and_reported(make_codec, feed_frames):
    error, transcript = feed_frames(
        make_codec(), '{"type":"ConversationText","role":"user","content":"a\\ud800b"}'
    )
    assert isinstance(error, ProviderError) and error.code == "invalid_unicode"
    assert transcript == UserTranscript(text="a\ufffdb", final=True)


def test_a_short_fuzz_run_finds_nothing() -> None:
    from voiceadapters_conformance.fuzz import main

    assert main(["deepgram", "--inputs", "3000", "--seed", "7"]) == 0
