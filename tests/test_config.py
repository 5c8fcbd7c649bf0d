"""Config strings: grammar, provider defaults, TLS rules, and secret masking."""

from __future__ import annotations

import logging

import pytest

from voiceadapters.config import is_loopback, parse_config, resolve_config
from voiceadapters.errors import ConfigError
from voiceadapters.secrets import Secret

KEY = "sk-live-0123456789abcdef"


def test_parse_splits_provider_transport_host_port_path_and_options() -> None:
    url = parse_config("vatel+websocket://api.example.com:8443/base?agent_id=a1&x=1")
    assert url.provider == "vatel"
    assert url.transport == "websocket"
    assert url.host == "api.example.com"
    assert url.port == 8443
    assert url.path == "/base"
    assert url.options == {"agent_id": "a1", "x": "1"}


def test_parse_accepts_no_host() -> None:
    url = parse_config("vatel://?agent_id=abc")
    assert url.host is None and url.port is None and url.options == {"agent_id": "abc"}


@pytest.mark.parametrize(
    "bad, fragment",
    [
        ("vatel", "no '://'"),
        ("://host", "names no provider"),
        ("vatel://host:notaport", "vatel://host:notaport"),
        ("vatel://?a=1&a=2", "given twice"),
    ],
)
def test_parse_errors_say_what_is_wrong(bad: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        parse_config(bad)


def test_api_key_option_is_a_secret_and_never_rendered() -> None:
    url = parse_config(f"vatel://?agent_id=a&api_key={KEY}")
    assert isinstance(url.api_key, Secret)
    assert "api_key" not in url.options
    for text in (repr(url), str(url), url.render(), f"{url}"):
        assert KEY not in text
        assert "***" in text


def test_syntax_error_message_masks_the_key() -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(f"vatel?api_key={KEY}")
    assert KEY not in str(info.value)


def test_defaults_come_from_the_provider(toy) -> None:  # type: ignore[no-untyped-def]
    config = resolve_config(parse_config("toy://"), toy, environ={})
    assert config.host == "toy.example.com"
    assert config.port == 443
    assert config.tls is True
    assert config.http_base == "https://toy.example.com"
    assert config.ws_base == "wss://toy.example.com"
    assert config.options.model_dump() == {"room": "lobby", "retries": 1}


def test_host_and_port_override_defaults(toy) -> None:  # type: ignore[no-untyped-def]
    config = resolve_config(parse_config("toy://eu.example.com:9443/v2?room=x"), toy, environ={})
    assert config.ws_base == "wss://eu.example.com:9443/v2"
    assert config.options.room == "x"  # type: ignore[attr-defined]


def test_plain_transport_is_allowed_to_loopback(toy) -> None:  # type: ignore[no-untyped-def]
    config = resolve_config(parse_config("toy://127.0.0.1:8080?tls=false"), toy, environ={})
    assert config.ws_base == "ws://127.0.0.1:8080"
    assert config.http_base == "http://127.0.0.1:8080"


@pytest.mark.parametrize("host", ["example.com", "10.0.0.1", "192.168.1.2"])
def test_plain_transport_elsewhere_needs_explicit_opt_in(toy, host: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="allow_insecure"):
        resolve_config(parse_config(f"toy://{host}?tls=false"), toy, environ={})
    config = resolve_config(
        parse_config(f"toy://{host}?tls=false&allow_insecure=true"), toy, environ={}
    )
    assert config.ws_base.startswith("ws://")


@pytest.mark.parametrize(
    "host, loopback",
    [
        ("127.0.0.1", True),
        ("127.3.2.1", True),
        ("::1", True),
        ("localhost", True),
        ("example.com", False),
        ("10.1.1.1", False),
        ("0.0.0.0", False),
    ],
)
def test_loopback_detection(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_api_key_precedence_keyword_then_option_then_environment(toy) -> None:  # type: ignore[no-untyped-def]
    env = {"TOY_API_KEY": "from-env"}
    assert resolve_config(parse_config("toy://"), toy, environ=env).api_key == Secret("from-env")
    with_option = parse_config("toy://?api_key=from-option")
    assert resolve_config(with_option, toy, environ=env).api_key == Secret("from-option")
    chosen = resolve_config(with_option, toy, environ=env, api_key="from-kwarg")
    assert chosen.api_key == Secret("from-kwarg")


def test_resolved_config_never_shows_the_key(toy, caplog) -> None:  # type: ignore[no-untyped-def]
    config = resolve_config(parse_config("toy://"), toy, environ={}, api_key=KEY)
    logging.getLogger("test").warning("config %s %r", config, config)
    rendered = [
        repr(config),
        str(config),
        config.to_string(),
        config.model_dump_json(),
        caplog.text,
    ]
    for text in rendered:
        assert KEY not in text
    assert "api_key=***" in config.to_string()


def test_unknown_option_names_it_and_lists_known_options(toy) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError) as info:
        resolve_config(parse_config("toy://?colour=red"), toy, environ={})
    message = str(info.value)
    assert "colour" in message and "room" in message and "retries" in message


def test_invalid_option_value_is_reported(toy) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="retries"):
        resolve_config(parse_config("toy://?retries=many"), toy, environ={})


def test_bad_boolean_is_reported(toy) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="tls"):
        resolve_config(parse_config("toy://?tls=maybe"), toy, environ={})


def test_unsupported_transport_is_reported(toy) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match="transport 'webrtc'"):
        resolve_config(parse_config("toy+webrtc://"), toy, environ={})


def test_missing_key_error_names_the_environment_variable(toy) -> None:  # type: ignore[no-untyped-def]
    config = resolve_config(parse_config("toy://"), toy, environ={})
    with pytest.raises(ConfigError, match="TOY_API_KEY"):
        config.require_api_key("TOY_API_KEY")


def test_secret_renders_masked_everywhere() -> None:
    secret = Secret(KEY)
    assert KEY not in repr(secret) + str(secret) + f"{secret}" + f"{secret!r}" + f"{secret}"
    assert secret.reveal() == KEY
    with pytest.raises(TypeError):
        import pickle

        pickle.dumps(secret)


def test_ipv6_hosts_keep_their_brackets() -> None:
    url = parse_config("vatel://[::1]:9000/x?agent_id=a")
    assert url.host == "::1"
    assert url.render() == "vatel://[::1]:9000/x?agent_id=a"


@pytest.mark.parametrize(
    "config",
    [
        "toy://127.0.0.1:8080?tls=false&room=x",
        "toy://example.com:80?tls=false&allow_insecure=true&retries=3",
        "toy://example.com:9443/v2?room=a%20b",
    ],
)
def test_to_string_round_trips(toy, config: str) -> None:  # type: ignore[no-untyped-def]
    first = resolve_config(parse_config(config), toy, environ={})
    again = resolve_config(parse_config(first.to_string()), toy, environ={})
    assert again == first


def test_loopback_config_brackets_ipv6_and_quotes_options() -> None:
    from voiceadapters.config import loopback_config

    assert loopback_config("vatel", "127.0.0.1", 80, agent_id="a b") == (
        "vatel://127.0.0.1:80?tls=false&agent_id=a%20b"
    )
    assert loopback_config("x", "::1", 9) == "x://[::1]:9?tls=false"


def test_options_as_validates_foreign_options_into_the_plugin_schema(toy) -> None:  # type: ignore[no-untyped-def]
    from pydantic import BaseModel

    from .conftest import ToyOptions

    config = resolve_config(parse_config("toy://?room=x"), toy, environ={})
    assert config.options_as(ToyOptions) is config.options

    class Other(BaseModel):
        room: int

    with pytest.raises(ConfigError, match="invalid options"):
        config.options_as(Other)
