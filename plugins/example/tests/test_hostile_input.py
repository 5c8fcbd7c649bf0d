"""Hostile frames from a Parrot server (issue 11): what the application sees.

The example codec decodes through the base class's ``_parse_json_object``,
as a third-party codec should; these tests show what that buys."""

from __future__ import annotations

import json

from voiceadapters.config import parse_config, resolve_config
from voiceadapters.events import ProviderError, SessionStarted, UnknownMessage
from voiceadapters_example import ExampleProvider
from voiceadapters_example.codec import ExampleCodec

DEEP = "[" * 200_000 + "]" * 200_000


def make_codec() -> ExampleCodec:
    provider = ExampleProvider()
    config = resolve_config(parse_config("example://"), provider, api_key="k", environ={})
    codec = provider.make_codec(config)
    codec.connection_opened()
    return codec


def feed(codec: ExampleCodec, frame: str | bytes) -> list[object]:
    codec.receive_frame(frame)
    return list(codec.events_received())


def test_a_frame_nested_200000_deep_is_a_provider_error_and_the_session_goes_on() -> None:
    codec = make_codec()
    (error,) = feed(codec, DEEP)
    assert isinstance(error, ProviderError) and error.code == "malformed_json"
    assert not error.fatal and len(error.message) < 300
    assert feed(codec, '{"event": "ready", "session": "s"}') == [SessionStarted(session_id="s")]


def test_json_that_is_not_an_object_is_a_malformed_message() -> None:
    (error,) = feed(make_codec(), "[1, 2]")
    assert isinstance(error, ProviderError) and error.code == "malformed_message"


def test_an_unknown_message_nested_to_the_limit_still_renders() -> None:
    value = "[" * 60 + "]" * 60
    (unknown,) = feed(make_codec(), f'{{"event": "new", "x": {value}}}')
    assert isinstance(unknown, UnknownMessage)
    json.dumps(unknown.model_dump(mode="json"))
    assert repr(unknown)
