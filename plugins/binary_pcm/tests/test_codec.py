"""The binary-PCM codec against the binary-PCM simulator, in memory, on a fake clock.

Handshake values, token errors, the ``ws_url`` TLS rule, audio held before
``connected``, exact 640-byte framing, every error code and close code, the
``session_ended`` reasons, malformed input and every way a session ends.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from voiceadapters.commands import Close, Interrupt, SendAudio, SendText, SendToolResult
from voiceadapters.errors import (
    AudioFormatError,
    AuthenticationError,
    BufferOverflowError,
    ConfigError,
    SessionClosedError,
    TokenRequestError,
    UnsupportedCommandError,
)
from voiceadapters.events import (
    AgentAudio,
    Event,
    ProviderError,
    SessionEnded,
    SessionStarted,
    UnknownMessage,
)
from voiceadapters.format import AudioFormat
from voiceadapters.handshake import CloseFrame, HttpRequest, HttpResponse, WebSocketRequest
from voiceadapters.secrets import Secret
from voiceadapters.simulator.base import SimRequest
from voiceadapters.testing import CodecPair, http_to_sim_request, speech_sample, ws_to_sim_request
from voiceadapters_binary_pcm import BinaryPcmCodec, BinaryPcmSimulator, messages

Feed = Callable[..., list[Event]]
PCM16 = AudioFormat(16000)


def has(kind: str) -> Callable[[list[Event]], bool]:
    return lambda events: any(e.type == kind for e in events)


def of(events: list[Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def binary(frames: list[Any]) -> list[bytes]:
    return [f for f in frames if isinstance(f, bytes)]


def ramp(n_bytes: int, start: int = 0) -> bytes:
    """Distinct, recognisable samples (so order and loss are visible)."""
    return b"".join(
        ((start + i) % 30000).to_bytes(2, "little", signed=True) for i in range(n_bytes // 2)
    )


# -- handshake as data ----------------------------------------------------------


def test_token_request_is_a_bodiless_post_with_the_bearer_key(make_config, provider, api_key):
    codec = provider.make_codec(make_config("binary-pcm://"))
    step = codec.handshake_step()
    assert isinstance(step, HttpRequest)
    assert (step.method, step.url) == ("POST", "https://api.getworkbuddy.com/api/v1/sdk/token")
    assert step.json is None and step.body() is None and step.query == ()
    assert isinstance(dict(step.headers)["Authorization"], Secret)
    assert step.reveal_headers() == {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json",
    }
    assert step.timeout == 10.0
    assert codec.handshake_step() == step, "the step repeats until its response is fed"


def test_the_workbuddy_alias_and_a_path_prefix_build_the_same_request(make_config, provider):
    codec = provider.make_codec(make_config("workbuddy://voice.example.com/prefix?timeout=3"))
    step = codec.handshake_step()
    assert isinstance(step, HttpRequest)
    assert step.url == "https://voice.example.com/prefix/api/v1/sdk/token"
    assert step.timeout == 3.0


def test_websocket_step_is_ws_url_as_given_and_the_token_is_the_first_message(
    make_config, provider
):
    codec = provider.make_codec(make_config("binary-pcm://?timeout=4.5"))
    codec.handshake_step()
    body = b'{"token":"eyJ.a+b/c==","ws_url":"wss://edge-7.example.net:8443/api/v1/sdk/ws?r=eu"}'
    codec.receive_http_response(HttpResponse(200, body))
    step = codec.handshake_step()
    assert isinstance(step, WebSocketRequest)
    assert step.reveal_url() == "wss://edge-7.example.net:8443/api/v1/sdk/ws?r=eu"
    assert step.headers == () and "eyJ" not in step.reveal_url(), "no token in the URL or headers"
    assert step.describe() == "WS wss://edge-7.example.net:8443/api/v1/sdk/ws?r=***", (
        "the query values of a URL the server chose are masked: they may be credentials"
    )
    assert step.open_timeout == 4.5
    assert step.first_message_timeout is None, "the codec bounds the wait for connected itself"
    codec.connection_opened()
    assert codec.handshake_step() is None
    assert codec.frames_to_send() == ['{"token":"eyJ.a+b/c=="}']
    assert codec.events_received() == [], "the session starts on the server's connected"


def test_plain_loopback_config_uses_http(make_config, provider):
    step = provider.make_codec(
        make_config("binary-pcm://127.0.0.1:8765?tls=false")
    ).handshake_step()
    assert isinstance(step, HttpRequest)
    assert step.url == "http://127.0.0.1:8765/api/v1/sdk/token"


def test_the_first_message_over_the_simulator_is_the_issued_token(make_pair):
    pair = make_pair()
    issued = json.loads(pair.http_responses[0].body)
    assert pair.client_frames[0] == messages.encode({"token": issued["token"]})
    assert pair.server.received_messages[0] == {"token": issued["token"]}
    assert issued["ws_url"] == "ws://127.0.0.1:8765/api/v1/sdk/ws"  # from the Host header
    assert [e.type for e in pair.events] == ["session_started", "agent_ready"]
    assert pair.events[0] == SessionStarted(session_id=None)


def test_api_key_and_token_never_appear_in_any_rendering(make_pair, api_key):
    pcm, _ = speech_sample()
    pair = make_pair()
    token = json.loads(pair.http_responses[0].body)["token"]
    pair.stream_audio(pcm, 1000, realtime=False)
    pair.advance(3.0)
    pair.send(Close())
    codec = pair.codec
    renderings = [repr(codec), str(codec.config), repr(codec.config), codec.config.to_string()]
    renderings += [repr(pair.simulator), repr(pair.server)]
    renderings += [repr(e) for e in pair.events] + [str(e.model_dump()) for e in pair.events]
    for text in renderings:
        assert api_key not in text
        assert token not in text


def test_requests_mask_key_and_token_in_repr_and_str(make_config, provider, api_key):
    codec = provider.make_codec(make_config("binary-pcm://"))
    http = codec.handshake_step()
    codec.receive_http_response(
        HttpResponse(200, b'{"token":"secret-jwt-value","ws_url":"wss://h/api/v1/sdk/ws"}')
    )
    ws = codec.handshake_step()
    for text in (repr(http), str(http), repr(ws), str(ws), repr(codec)):
        assert api_key not in text
        assert "secret-jwt-value" not in text
    assert "***" in repr(http)


def test_missing_api_key_is_a_config_error_naming_the_variable(make_config, provider):
    with pytest.raises(ConfigError, match="BINARY_PCM_API_KEY"):
        provider.make_codec(make_config("binary-pcm://", api_key=None))


# -- token errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "error", "status", "message"),
    [
        (HttpResponse(401, b'{"error":"invalid or missing API key"}'),
         AuthenticationError, 401, "invalid or missing API key"),
        (HttpResponse(403, b'{"error":"kiosk is inactive or disabled"}'),
         AuthenticationError, 403, "kiosk is inactive or disabled"),
        (HttpResponse(500, b'{"error":"try again later"}'), TokenRequestError, 500, "try again later"),
        (HttpResponse(502, b"<html>Bad gateway</html>"),
         TokenRequestError, 502, "<html>Bad gateway</html>"),
        (HttpResponse(500, b'{"detail":"no error key"}'),
         TokenRequestError, 500, "no error key"),  # 'detail' is read too
        (HttpResponse(503, b""), TokenRequestError, 503, "(empty body)"),
    ],
)  # fmt: skip
def test_token_error_statuses_map_to_typed_errors(
    make_config, provider, response, error, status, message
):
    codec = provider.make_codec(make_config("binary-pcm://"))
    codec.handshake_step()
    with pytest.raises(error) as info:
        codec.receive_http_response(response)
    assert type(info.value) is error
    assert (info.value.status, info.value.provider_message) == (status, message)
    assert f"HTTP {status}" in str(info.value) and "binary-pcm" in str(info.value)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"<html>ok</html>", "not a JSON object"),
        (b'["token"]', "not a JSON object"),
        (b"", "(empty body)"),
        (b'{"ws_url":"wss://h/ws","jwt":"abc"}', "'token'"),
        (b'{"token":"abc"}', "'ws_url'"),
        (b'{"token":"","ws_url":""}', "'token' and 'ws_url'"),
        (b'{"token":"abc","ws_url":42}', "'ws_url'"),
    ],
)
def test_a_200_without_token_and_ws_url_strings_is_a_token_request_error(
    make_config, provider, body, detail
):
    codec = provider.make_codec(make_config("binary-pcm://"))
    codec.handshake_step()
    with pytest.raises(TokenRequestError) as info:
        codec.receive_http_response(HttpResponse(200, body))
    assert info.value.status == 200 and "HTTP 200" in str(info.value)
    assert detail in info.value.provider_message
    assert "abc" not in str(info.value), "a token-like value is never echoed"


@pytest.mark.parametrize(
    ("config", "ws_url", "accepted"),
    [
        ("binary-pcm://", "wss://edge.example.net/api/v1/sdk/ws", True),
        ("binary-pcm://", "ws://127.0.0.1:9000/api/v1/sdk/ws", True),
        ("binary-pcm://", "ws://localhost/api/v1/sdk/ws", True),
        ("binary-pcm://", "ws://edge.example.net/api/v1/sdk/ws", False),
        ("binary-pcm://127.0.0.1:1?tls=false", "ws://edge.example.net/api/v1/sdk/ws", False),
        ("binary-pcm://127.0.0.1:1?tls=false", "wss://edge.example.net/api/v1/sdk/ws", True),
        ("binary-pcm://10.0.0.5:80?tls=false&allow_insecure=true",
         "ws://10.0.0.5:80/api/v1/sdk/ws", True),
        ("binary-pcm://", "https://edge.example.net/api/v1/sdk/ws", False),
        ("binary-pcm://", "/api/v1/sdk/ws", False),
        ("binary-pcm://", "wss://edge.example.net:99999/ws", False),
    ],
)  # fmt: skip
def test_ws_url_obeys_the_configs_tls_and_loopback_rule(
    make_config, provider, config, ws_url, accepted
):
    codec = provider.make_codec(make_config(config))
    codec.handshake_step()
    response = HttpResponse(200, json.dumps({"token": "t0k3n", "ws_url": ws_url}).encode())
    if accepted:
        codec.receive_http_response(response)
        step = codec.handshake_step()
        assert isinstance(step, WebSocketRequest) and step.url == ws_url
        return
    with pytest.raises(TokenRequestError) as info:
        codec.receive_http_response(response)
    assert info.value.status == 200 and "ws_url" in info.value.provider_message
    assert "t0k3n" not in str(info.value)
    assert isinstance(codec.handshake_step(), HttpRequest), "nothing was accepted"


def test_plain_ws_url_refusal_says_why_and_how_to_allow_it(make_config, provider):
    codec = provider.make_codec(make_config("binary-pcm://"))
    codec.handshake_step()
    body = b'{"token":"t","ws_url":"ws://edge.example.net/api/v1/sdk/ws"}'
    with pytest.raises(TokenRequestError, match=r"clear text.*allow_insecure=true"):
        codec.receive_http_response(HttpResponse(200, body))


# -- audio: framing, holding, overflow ---------------------------------------------------


def test_every_microphone_frame_is_640_bytes_whatever_the_chunking(make_pair):
    pair = make_pair()
    pcm = ramp(32000)
    for size in (1, 2, 3, 7, 640, 641, 1281, 5000):
        size -= size % 2
        if size:
            pair.send(SendAudio(pcm=pcm[:size]))
    sent = binary(pair.client_frames)
    assert sent and {len(f) for f in sent} == {640}
    assert set(pair.server.binary_frame_sizes) == {640}
    total = sum(s - s % 2 for s in (1, 2, 3, 7, 640, 641, 1281, 5000))
    assert len(pair.server.received_audio) == total - total % 640


def test_audio_before_connected_is_held_then_delivered_in_order(make_pair):
    pair = make_pair(connected_delay=0.5)
    assert [e.type for e in pair.events] == [], "connected is 0.5 s away"
    pcm = ramp(9000)
    for i in range(0, len(pcm), 1000):
        pair.send(SendAudio(pcm=pcm[i : i + 1000]))
    assert binary(pair.client_frames) == [], "nothing goes out before connected"
    assert pair.codec.held_bytes == len(pcm)
    pair.advance(0.5)
    assert pair.events[0] == SessionStarted()
    whole = len(pcm) - len(pcm) % 640
    assert bytes(pair.server.received_audio) == pcm[:whole]
    assert pair.server.invalid == [], "no audio reached the server before connected"
    # The remainder is completed by the next chunk, in order.
    pair.send(SendAudio(pcm=ramp(640, start=len(pcm) // 2)))
    assert (
        bytes(pair.server.received_audio) == (pcm + ramp(640, start=len(pcm) // 2))[: whole + 640]
    )


def test_held_audio_goes_out_before_anything_else_after_connected(make_pair):
    pair = make_pair(connected_delay=0.2)
    pair.send(SendAudio(pcm=ramp(1280)))
    mark = len(pair.client_frames)
    pair.advance(0.2)
    assert pair.client_frames[mark:][:2] == [ramp(1280)[:640], ramp(1280)[640:]]


def test_overflowing_chunk_raises_and_consumes_nothing(make_pair):
    pair = make_pair(connected_delay=1.0, options={"preconnect_buffer_seconds": 0.1})
    codec = pair.codec
    assert codec.buffer_limit == 3200
    first = ramp(3000)
    pair.send(SendAudio(pcm=first))
    rejected = ramp(640, start=9000)
    with pytest.raises(BufferOverflowError) as info:
        pair.send(SendAudio(pcm=rejected))
    error = info.value
    assert (error.provider, error.limit_bytes, error.pending_bytes, error.chunk_bytes) == (
        "binary-pcm",
        3200,
        3000,
        640,
    )
    assert "binary-pcm" in str(error) and "3200" in str(error)
    assert codec.held_bytes == 3000, "nothing of the rejected chunk was taken"
    fits = ramp(200, start=20000)
    pair.send(SendAudio(pcm=fits))
    assert codec.held_bytes == 3200
    pair.advance(1.0)
    pair.send(Close())
    assert bytes(pair.server.received_audio) == first + fits, "exactly what was accepted"
    assert all(len(f) == 640 for f in binary(pair.client_frames))


def test_a_zero_buffer_refuses_audio_before_connected(make_pair):
    pair = make_pair(connected_delay=1.0, options={"preconnect_buffer_seconds": 0})
    with pytest.raises(BufferOverflowError):
        pair.send(SendAudio(pcm=bytes(2)))
    pair.advance(1.0)
    pair.send(SendAudio(pcm=bytes(640)))
    assert pair.server.binary_frame_sizes == [640]


def test_odd_audio_raises_and_empty_audio_sends_nothing(connected_codec):
    connected_codec.handle_command(SendAudio(pcm=b""))
    with pytest.raises(AudioFormatError):
        connected_codec.handle_command(SendAudio(pcm=b"\x00\x01\x02"))
    connected_codec.handle_command(SendAudio(pcm=bytes(640)))
    assert connected_codec.frames_to_send() == [bytes(640)], "the odd chunk left no trace"


def test_close_zero_pads_the_last_partial_frame_then_closes_1000(make_pair):
    pair = make_pair()
    pcm = ramp(1000)
    pair.send(SendAudio(pcm=pcm))
    (ended,) = pair.send(Close())
    assert binary(pair.client_frames) == [pcm[:640], pcm[640:] + bytes(280)]
    assert pair.client_frames[-1] == CloseFrame(1000, "client closed")
    assert (ended.reason, ended.close_code) == ("client_closed", 1000)
    assert pair.server.close_code == 1000


def test_close_without_a_partial_frame_adds_no_padding(make_pair):
    pair = make_pair()
    pair.send(SendAudio(pcm=ramp(1280)))
    pair.send(Close())
    assert [len(f) for f in binary(pair.client_frames)] == [640, 640]


def test_close_before_connected_sends_the_held_audio_when_connected_arrives(make_pair):
    pair = make_pair(connected_delay=0.3)
    pcm = ramp(1000)
    pair.send(SendAudio(pcm=pcm))
    assert pair.send(Close()) == []
    assert binary(pair.client_frames) == [] and not pair.ended
    pair.advance(0.3)
    assert binary(pair.client_frames) == [pcm[:640], pcm[640:] + bytes(280)]
    assert pair.events[0] == SessionStarted()
    assert pair.events[-1] == SessionEnded(
        reason="client_closed", provider_reason="client closed", close_code=1000
    )
    assert bytes(pair.server.received_audio) == pcm + bytes(280)


# -- an echo session ------------------------------------------------------------------


def test_echo_returns_the_utterance_as_16k_agent_audio_with_no_turns(make_pair):
    pcm, fmt = speech_sample()
    pair = make_pair(pace=1.0)
    assert [e.type for e in pair.events] == ["session_started"]
    pair.advance(0.25)
    assert [e.type for e in pair.events] == ["session_started", "agent_ready"]
    pair.stream_audio(pcm + bytes(fmt.bytes_for(1.0)), 640)
    pair.advance(5.0)
    audio = of(pair.events, AgentAudio)
    assert audio and all(e.format == PCM16 and e.turn_id is None for e in audio)
    assert all(len(e.pcm) == 640 for e in audio)
    echo = b"".join(e.pcm for e in audio)
    assert (
        bytes(pair.server.received_audio)
        == (pcm + bytes(fmt.bytes_for(1.0)))[: len(pair.server.received_audio)]
    )
    start = pcm.find(echo[:6400])
    assert start >= 0 and pcm[start : start + len(echo)] == echo[: len(pcm) - start]
    kinds = {e.type for e in pair.events}
    assert kinds == {"session_started", "agent_ready", "agent_audio"}, "nothing else exists"


def test_burst_scenario_delivers_all_agent_audio_at_once(make_pair):
    pcm, fmt = speech_sample()
    pair = make_pair("burst", pace=1.0)
    pair.stream_audio(pcm + bytes(fmt.bytes_for(1.0)), 640)
    pair.run_until(has("agent_audio"))
    audio = b"".join(e.pcm for e in of(pair.events, AgentAudio))
    assert len(audio) == len(pair.server.sent_audio) > fmt.bytes_for(1.0)
    assert pair.next_timer() is None, "nothing left to pace"


def test_tool_call_scenario_runs_the_tool_server_side_and_only_audio_arrives(make_pair):
    pcm, fmt = speech_sample()
    pair = make_pair("tool_call")
    pair.stream_audio(pcm + bytes(fmt.bytes_for(1.0)), 640, realtime=False)
    pair.advance(1.0)
    assert of(pair.events, AgentAudio)
    assert not has("tool_call")(pair.events)


def test_barge_in_just_stops_the_agent_audio_without_an_interruption_event(make_pair):
    pcm, fmt = speech_sample()
    pair = make_pair("barge_in", pace=1.0)
    pair.stream_audio(pcm + bytes(fmt.bytes_for(0.8)), 640)
    pair.run_until(has("agent_audio"))
    pair.stream_audio(pcm, 640)  # the user talks over the (three times longer) reply
    sent = len(pair.server.sent_audio)
    pair.advance(0.5)  # under the hangover: the user's turn is still open
    assert len(pair.server.sent_audio) == sent, "the agent stopped sending"
    assert sent < 2 * len(pcm), "the triple-length reply was cut short"
    assert {e.type for e in pair.events} == {"session_started", "agent_ready", "agent_audio"}
    # The user's audio stopped arriving: the barge-in was a turn, and is answered.
    pair.advance(15.0)
    assert pair.server.agent.turns == 2
    assert len(pair.server.sent_audio) - sent > 2 * len(pcm), "the second triple-length reply"


# -- error codes and close codes ----------------------------------------------------------


def _connect_raw(simulator: BinaryPcmSimulator, now: float = 0.0) -> Any:  # -> BinaryPcmConnection
    connection = simulator.open_websocket(
        SimRequest("GET", messages.WS_PATH, headers={"upgrade": "websocket"}), now
    )
    assert not isinstance(connection, HttpResponse)
    connection.opened(now)
    return connection


def _deliver(codec: BinaryPcmCodec, frames: list[Any]) -> list[Event]:
    """Hand the server's frames to ``codec`` as the driver would."""
    for frame in frames:
        if isinstance(frame, CloseFrame):
            codec.receive_closed(frame.code, frame.reason)
        else:
            codec.receive_frame(frame)
    return codec.events_received()


def _ended(code: str, reason: str, close: int) -> list[Event]:
    return [
        ProviderError(code=code, message=messages.DEFAULT_ERROR_MESSAGES[code], fatal=True),
        SessionEnded(reason=reason, provider_reason=code, close_code=close),
    ]


def test_auth_timeout_when_the_token_comes_after_the_10_s_deadline(make_config, provider):
    simulator = BinaryPcmSimulator("k", pace=0)
    codec = provider.make_codec(make_config("binary-pcm://127.0.0.1:1?tls=false", api_key="k"))
    now = 1000.0
    step = codec.handshake_step()
    assert isinstance(step, HttpRequest)
    codec.receive_http_response(simulator.handle_http(http_to_sim_request(step), now))
    ws = codec.handshake_step()
    assert isinstance(ws, WebSocketRequest)
    server = simulator.open_websocket(ws_to_sim_request(ws), now)
    assert not isinstance(server, HttpResponse)
    server.opened(now)
    assert server.get_timer() == now + 10.0
    # The client is slow: 10 s pass on the fake clock before its token goes out.
    now += 10.0
    server.handle_timer(now)
    codec.connection_opened()
    for frame in codec.frames_to_send():
        server.receive_frame(frame, now)  # too late: the server has closed
    assert server.closed and server.close_code == 4001
    assert _deliver(codec, server.frames_to_send()) == _ended("AUTH_TIMEOUT", "timeout", 4001)


def test_a_token_arriving_at_the_deadline_is_too_late(make_pair):
    pair = make_pair(token_deadline=0.0)
    assert pair.events == _ended("AUTH_TIMEOUT", "timeout", 4001)
    assert pair.server.errors_sent == ["AUTH_TIMEOUT"]


@pytest.mark.parametrize(
    "first",
    ['{"tok":"x"}', '{"token":""}', '{"token":42}', "not json", "[1,2]", b"\x00\x00" * 320],
)
def test_a_first_message_without_a_token_is_invalid_auth_and_close_4002(open_codec, first):
    server = _connect_raw(BinaryPcmSimulator("k"))
    server.receive_frame(first, 0.0)
    assert server.close_code == 4002 and server.received_audio == b""
    assert _deliver(open_codec, server.frames_to_send()) == _ended(
        "INVALID_AUTH", "auth_failed", 4002
    )


def test_a_reused_token_is_auth_failed_and_close_4003(make_pair, provider, make_config):
    first = make_pair()
    assert has("session_started")(first.events)
    second = provider.make_codec(first.codec.config)
    second.handshake_step()
    second.receive_http_response(first.http_responses[0])  # the same token again
    pair = CodecPair(second, first.simulator)
    assert pair.events == _ended("AUTH_FAILED", "auth_failed", 4003)


def test_an_expired_token_is_auth_failed_and_close_4003(make_config, provider):
    simulator = BinaryPcmSimulator("k", pace=0)
    codec = provider.make_codec(make_config("binary-pcm://127.0.0.1:1?tls=false", api_key="k"))
    step = codec.handshake_step()
    assert isinstance(step, HttpRequest)
    codec.receive_http_response(simulator.handle_http(http_to_sim_request(step), 1000.0))
    # Five minutes and a second later (the token lives 300 s).
    pair = CodecPair(codec, simulator, start=1000.0 + 301.0)
    assert pair.events == _ended("AUTH_FAILED", "auth_failed", 4003)


def test_a_token_the_server_never_issued_is_auth_failed(make_config, provider):
    simulator = BinaryPcmSimulator("k")
    codec = provider.make_codec(make_config("binary-pcm://127.0.0.1:1?tls=false", api_key="k"))
    codec.handshake_step()
    codec.receive_http_response(
        HttpResponse(200, b'{"token":"forged","ws_url":"ws://127.0.0.1:1/api/v1/sdk/ws"}')
    )
    assert CodecPair(codec, simulator).events == _ended("AUTH_FAILED", "auth_failed", 4003)


def test_session_setup_failed_is_an_error_end_with_close_4500(make_pair):
    pair = make_pair("setup_failed")
    assert pair.events == _ended("SESSION_SETUP_FAILED", "error", 4500)
    with pytest.raises(SessionClosedError):
        pair.send(SendAudio(pcm=bytes(640)))


@pytest.mark.parametrize(
    ("code", "close_reason", "reason", "provider_reason"),
    [
        (4001, "authentication timeout", "timeout", "authentication timeout"),
        (4002, "", "auth_failed", None),
        (4003, "bad token", "auth_failed", "bad token"),
        (4500, "", "error", None),
        (1000, "", "completed", None),
        (1001, "going away", "server_shutdown", "going away"),
        (1006, "", "connection_lost", None),
        (None, "", "connection_lost", None),
        (4999, "", "error", None),
    ],
)
def test_close_codes_without_an_error_message_map_to_end_reasons(
    open_codec, code, close_reason, reason, provider_reason
):
    open_codec.receive_closed(code, close_reason)
    assert open_codec.events_received() == [
        SessionEnded(reason=reason, provider_reason=provider_reason, close_code=code)
    ]


def test_a_fatal_error_decides_the_reason_even_if_the_connection_then_drops(
    open_codec, feed_frames
):
    events = feed_frames(open_codec, messages.error("AUTH_FAILED", "Invalid or expired token"))
    assert events == [
        ProviderError(code="AUTH_FAILED", message="Invalid or expired token", fatal=True)
    ]
    open_codec.receive_closed(None, "")
    assert open_codec.events_received() == [
        SessionEnded(reason="auth_failed", provider_reason="AUTH_FAILED", close_code=None)
    ]


def test_an_unknown_error_code_is_not_fatal_and_names_the_close(connected_codec, feed_frames):
    events = feed_frames(connected_codec, messages.error("RATE_LIMITED", "slow down"))
    assert events == [ProviderError(code="RATE_LIMITED", message="slow down", fatal=False)]
    assert not connected_codec.ended
    connected_codec.receive_frame(bytes(640))
    assert connected_codec.events_received()[0].type == "agent_audio"
    assert feed_frames(connected_codec, CloseFrame(1011, "")) == [
        SessionEnded(reason="error", provider_reason="RATE_LIMITED", close_code=1011)
    ]


def test_an_error_without_code_or_message_is_still_reported(connected_codec, feed_frames):
    assert feed_frames(connected_codec, {"type": "error"}) == [
        ProviderError(code="unspecified", message="", fatal=False)
    ]


def test_connected_never_arriving_ends_with_timeout_after_the_timeout_option(make_pair):
    pair = make_pair(connected_delay=60.0, options={"timeout": 2.0})
    pair.send(SendAudio(pcm=bytes(1000)))
    assert pair.next_timer() == pair.now + 2.0
    pair.advance(2.0)
    assert pair.events == [
        SessionEnded(reason="timeout", provider_reason="no 'connected' within 2 s")
    ]
    assert pair.client_frames[-1] == CloseFrame(1000, "no connected message")
    assert binary(pair.client_frames) == [], "held audio is never sent unauthenticated"


def test_a_fatal_error_with_no_close_still_ends_at_the_deadline(open_codec, feed_frames):
    open_codec.handle_timer(50.0)  # the WebSocket opened at t=50
    feed_frames(open_codec, messages.error("SESSION_SETUP_FAILED"))
    assert open_codec.get_timer() == 60.0
    open_codec.handle_timer(60.0)
    assert open_codec.events_received() == [
        SessionEnded(reason="error", provider_reason="SESSION_SETUP_FAILED")
    ]
    assert open_codec.frames_to_send() == [CloseFrame(1000, "no connected message")]


# -- session_ended reasons ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("scenario", "reason", "raw"),
    [
        ("end_agent_disconnected", "completed", "agent_disconnected"),
        ("end_room_closed", "completed", "room_closed"),
        ("end_session_closed", "completed", "session_closed"),
        ("server_shutdown", "server_shutdown", "server_shutdown"),
    ],
)
def test_session_ended_reasons_normalize_and_keep_the_raw_reason(make_pair, scenario, reason, raw):
    pcm, fmt = speech_sample()
    pair = make_pair(scenario)
    pair.stream_audio(pcm + bytes(fmt.bytes_for(1.0)), 640, realtime=False)
    pair.run_until(has("session_ended"))
    assert pair.events[-1] == SessionEnded(reason=reason, provider_reason=raw)
    assert of(pair.events, AgentAudio), "the reply came before the end"
    assert pair.client_frames[-1] == CloseFrame(1000, "session ended")
    assert pair.server.closed and pair.server.close_code == 1000


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ({"type": "session_ended", "reason": "room_closed"},
         [SessionEnded(reason="completed", provider_reason="room_closed")]),
        ({"type": "session_ended", "reason": "session_closed"},
         [SessionEnded(reason="completed", provider_reason="session_closed")]),
        ({"type": "session_ended", "reason": "kiosk_rebooted"},
         [SessionEnded(reason="completed", provider_reason="kiosk_rebooted")]),
        ({"type": "session_ended"}, [SessionEnded(reason="completed")]),
        ({"type": "session_ended", "reason": 7},
         [ProviderError(code="malformed_message",
                        message="session_ended: field 'reason' must be a string"),
          SessionEnded(reason="completed")]),
    ],
)  # fmt: skip
def test_session_ended_reason_is_an_open_string(connected_codec, feed_frames, message, expected):
    assert feed_frames(connected_codec, message) == expected
    assert connected_codec.frames_to_send() == [CloseFrame(1000, "session ended")]
    assert feed_frames(connected_codec, CloseFrame(1000, "")) == [], "the close changes nothing"


# -- malformed and unexpected input ------------------------------------------------------------


def test_odd_length_agent_frames_deliver_the_whole_samples_and_report(connected_codec, feed_frames):
    events = feed_frames(connected_codec, b"\x01\x00\x02", b"", b"\x05")
    assert events == [
        ProviderError(
            code="odd_length_audio",
            message="binary frame of 3 bytes is not whole 16-bit samples; the last byte was dropped",
        ),
        AgentAudio(pcm=b"\x01\x00", format=PCM16),
        ProviderError(
            code="odd_length_audio",
            message="binary frame of 1 bytes is not whole 16-bit samples; the last byte was dropped",
        ),
    ]


def test_malformed_scenario_reports_each_fault_and_the_session_goes_on(make_pair):
    pcm, fmt = speech_sample()
    pair = make_pair("malformed")
    assert [e.type for e in pair.events] == [
        "session_started",
        "provider_error",
        "provider_error",
        "agent_audio",
        "unknown_message",
        "agent_ready",
    ]
    errors = of(pair.events, ProviderError)
    assert [e.code for e in errors] == ["malformed_json", "odd_length_audio"]
    assert not any(e.fatal for e in errors)
    assert of(pair.events, UnknownMessage)[0].raw["type"] == "simulator_fault"
    pair.stream_audio(pcm + bytes(fmt.bytes_for(1.0)), 640, realtime=False)
    assert len(of(pair.events, AgentAudio)) > 1 and not pair.ended


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("{not json", "malformed_json"),
        ("[1, 2]", "malformed_message"),
        ('{"reason":"x"}', "malformed_message"),
        ('{"type":5}', "malformed_message"),
    ],
)
def test_malformed_text_frames_become_non_fatal_provider_errors(connected_codec, frame, code):
    connected_codec.receive_frame(frame)
    (event,) = connected_codec.events_received()
    assert isinstance(event, ProviderError) and event.code == code and not event.fatal
    assert not connected_codec.ended


def test_unknown_type_is_an_unknown_message_with_the_raw_object(connected_codec, feed_frames):
    raw = {"type": "transcript", "text": "hello"}
    assert feed_frames(connected_codec, raw) == [UnknownMessage(raw=raw)]


def test_connected_may_carry_a_session_id_and_a_second_one_is_reported(open_codec, feed_frames):
    events = feed_frames(
        open_codec, {"type": "connected", "session_id": "s-1"}, messages.connected()
    )
    assert events[0] == SessionStarted(session_id="s-1")
    assert isinstance(events[1], ProviderError) and events[1].code == "unexpected_message"


def test_agent_ready_before_connected_starts_the_session_and_flushes_held_audio(
    open_codec, feed_frames
):
    open_codec.handle_command(SendAudio(pcm=ramp(640)))
    assert open_codec.frames_to_send() == []
    events = feed_frames(open_codec, messages.agent_ready())
    assert [e.type for e in events] == ["provider_error", "session_started", "agent_ready"]
    assert events[0].code == "unexpected_message"
    assert open_codec.frames_to_send() == [ramp(640)]
    assert open_codec.connected and open_codec.agent_is_ready


def test_agent_audio_before_connected_is_delivered(open_codec, feed_frames):
    assert feed_frames(open_codec, bytes(640)) == [AgentAudio(pcm=bytes(640), format=PCM16)]


# -- the other ends ---------------------------------------------------------------------------------


def test_dropped_connection_ends_with_connection_lost(make_pair):
    pcm, fmt = speech_sample()
    pair = make_pair("drop")
    audio = pcm + bytes(fmt.bytes_for(1.0))
    for at in range(0, len(audio), 640):
        pair.send(SendAudio(pcm=audio[at : at + 640]))
        if pair.ended:
            break
    assert pair.events[-1] == SessionEnded(reason="connection_lost", close_code=None)
    assert len(of(pair.events, AgentAudio)) == 1, "cut right after the first frame"


def test_client_close_ends_with_client_closed(make_pair):
    pair = make_pair()
    (ended,) = pair.send(Close())
    assert (ended.reason, ended.close_code) == ("client_closed", 1000)
    assert pair.client_frames[-1] == CloseFrame(1000, "client closed")


@pytest.mark.parametrize(
    ("command", "capability"),
    [
        (SendText(text="hello"), "text_input"),
        (Interrupt(), "client_interrupt"),
        (SendToolResult(call_id="c", output="{}"), "tool_calls"),
    ],
)
def test_commands_the_protocol_lacks_name_the_provider_and_capability(
    connected_codec, command, capability
):
    with pytest.raises(UnsupportedCommandError) as info:
        connected_codec.handle_command(command)
    assert (info.value.provider, info.value.capability) == ("binary-pcm", capability)
    assert connected_codec.frames_to_send() == []
