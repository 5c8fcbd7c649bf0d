"""The common bounds (:mod:`voiceadapters.limits`) and the helpers that keep
secrets out of token errors, without any network."""

from __future__ import annotations

import pytest

from voiceadapters.errors import ConfigError, TokenRequestError, token_error
from voiceadapters.handshake import (
    DEFAULT_MAX_BODY,
    HttpRequest,
    HttpResponse,
    WebSocketRequest,
    parse_retry_after,
)
from voiceadapters.limits import Limits
from voiceadapters.secrets import Secret, redact


def test_limits_replace_only_what_the_application_set() -> None:
    ws = WebSocketRequest("wss://h/ws", open_timeout=4.0, first_message_timeout=4.0)
    http = HttpRequest("POST", "https://h/token", timeout=4.0)
    assert Limits().apply(ws) is ws and Limits().apply(http) is http
    limits = Limits(open_timeout=0.5, idle_timeout=2.0, max_message_size=1000, http_timeout=1.0)
    applied = limits.apply(ws)
    assert (applied.open_timeout, applied.first_message_timeout) == (0.5, 4.0)
    assert (applied.idle_timeout, applied.max_size) == (2.0, 1000)
    assert limits.apply(http).timeout == 1.0
    assert limits.apply(http).max_body == DEFAULT_MAX_BODY


def test_zero_turns_a_receive_deadline_or_keepalive_off() -> None:
    limits = Limits.pop_options(
        {"first_message_timeout": "0", "idle_timeout": "0", "ping_interval": 0}
    )
    step = limits.apply(WebSocketRequest("wss://h/ws", idle_timeout=5.0))
    assert step.first_message_timeout is None and step.idle_timeout is None
    assert step.ping_interval is None


def test_limit_options_are_taken_out_of_the_options_and_rendered_back() -> None:
    options: dict[str, object] = {"agent_id": "a", "http_timeout": "2.5", "max_token_body": "4096"}
    limits = Limits.pop_options(options)
    assert options == {"agent_id": "a"}
    assert limits == Limits(http_timeout=2.5, max_token_body=4096)
    assert limits.options() == {"http_timeout": "2.5", "max_token_body": "4096"}


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("http_timeout", "0"),
        ("open_timeout", "-1"),
        ("idle_timeout", "soon"),
        ("first_message_timeout", "inf"),
        ("max_message_size", "1.5"),
        ("max_token_body", "0"),
        ("ping_timeout", "nan"),
    ],
)
def test_a_bad_limit_is_a_config_error_naming_the_option(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Limits.pop_options({name: value})


def test_redact_masks_plain_url_encoded_and_bearer_forms() -> None:
    key = Secret("Bearer sk/a+b=c")
    text = "got Bearer sk/a+b=c, then sk/a+b=c, sk%2Fa%2Bb%3Dc and sk%2Fa%2Bb%3Dc again"
    assert redact(text, [key]) == "got ***, then ***, *** and *** again"


def test_an_error_body_is_masked_before_a_codec_reads_it() -> None:
    key = Secret("Bearer sk-secret-key")
    body = b'{"error": "bad key sk-secret-key"}'
    response = HttpResponse(401, body, redact=(key,))
    assert response.error_message() == "bad key ***"
    assert "sk-secret-key" not in response.text()


def test_describe_body_gives_size_and_type_never_the_text() -> None:
    response = HttpResponse(200, b"token=abc", {"content-type": "text/plain; charset=utf-8"})
    assert response.describe_body() == "9 bytes of text/plain"
    assert HttpResponse(200).describe_body() == "(empty body)"


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("30", 30.0),
        (" 0 ", 0.0),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 60.0),  # 100 s after the epoch, "now" is 40
        ("tomorrow", None),
        ("-5", None),
        (None, None),
    ],
)
def test_retry_after_is_seconds_or_an_http_date(value: str | None, seconds: float | None) -> None:
    assert parse_retry_after(value, now=40.0) == seconds


def test_retry_after_is_read_from_the_response_and_shown_on_the_error() -> None:
    response = HttpResponse(429, b"", {"retry-after": "12"})
    exc = token_error("vatel", 429, "slow down", retry_after=response.retry_after())
    assert type(exc) is TokenRequestError and exc.retry_after == 12.0
    assert str(exc) == "vatel: token request failed with HTTP 429: slow down (Retry-After: 12 s)"


def test_grant_is_the_json_object_of_a_200_or_none() -> None:
    ok = HttpResponse(200, b'{"token":"t"}', {"Content-Type": "application/json"})
    assert ok.grant("p", url="http://x/token") == {"token": "t"}
    assert HttpResponse(200, b"[1, 2]").grant("p") is None
    assert HttpResponse(200, b"not json").grant("p") is None
    assert HttpResponse(200).grant("p") is None


def test_grant_of_an_error_status_raises_the_typed_error_with_the_servers_words() -> None:
    from voiceadapters.errors import AuthenticationError

    denied = HttpResponse(401, b'{"error": "bad key"}')
    with pytest.raises(AuthenticationError, match="bad key"):
        denied.grant("p", url="http://x/token")
    busy = HttpResponse(503, b"busy", {"Retry-After": "2"})
    with pytest.raises(TokenRequestError) as info:
        busy.grant("p")
    assert info.value.status == 503 and info.value.retry_after == 2.0
