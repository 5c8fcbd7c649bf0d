"""The binary-PCM simulator as a server: HTTP endpoints, CORS, tokens, the
token-first WebSocket and how a connection treats what the client sends
(sans I/O, no codec)."""

from __future__ import annotations

import itertools
import json
from typing import Any

import pytest

from voiceadapters.handshake import CloseFrame, HttpResponse
from voiceadapters.simulator.base import DropConnection, SimRequest
from voiceadapters.testing import speech_sample
from voiceadapters_binary_pcm import BinaryPcmConnection, BinaryPcmSimulator, messages
from voiceadapters_binary_pcm.simulator import CORS_HEADERS

KEY = "sim-key"
TOKEN = messages.TOKEN_PATH


def post(
    path: str = TOKEN,
    *,
    auth: str | None = f"Bearer {KEY}",
    host: str | None = "127.0.0.1:8765",
    method: str = "POST",
    body: bytes = b"",
) -> SimRequest:
    headers = {}
    if auth is not None:
        headers["authorization"] = auth
    if host is not None:
        headers["host"] = host
    return SimRequest(method, path, {}, headers, body)


def answer(simulator: BinaryPcmSimulator, request: SimRequest, now: float = 0.0) -> HttpResponse:
    return simulator.handle_http(request, now)


def issue(simulator: BinaryPcmSimulator, now: float = 0.0) -> str:
    response = answer(simulator, post(), now)
    assert response.status == 200
    return str(response.json()["token"])


def connect(simulator: BinaryPcmSimulator, now: float = 0.0) -> BinaryPcmConnection:
    result = simulator.open_websocket(SimRequest("GET", messages.WS_PATH), now)
    assert isinstance(result, BinaryPcmConnection)
    result.opened(now)
    return result


def sent(connection: BinaryPcmConnection) -> list[Any]:
    """What the server queued: JSON messages decoded, binary frames as bytes."""
    out: list[Any] = []
    for frame in connection.frames_to_send():
        out.append(json.loads(frame) if isinstance(frame, str) else frame)
    return out


def authenticated(simulator: BinaryPcmSimulator, now: float = 0.0) -> BinaryPcmConnection:
    connection = connect(simulator, now)
    connection.receive_frame(messages.encode(messages.auth(issue(simulator, now))), now)
    return connection


# -- HTTP ------------------------------------------------------------------------------------


def test_token_answer_has_a_token_and_a_ws_url_built_from_the_host_header():
    simulator = BinaryPcmSimulator(KEY)
    response = answer(simulator, post(host="localhost:9123"))
    body = response.json()
    assert response.status == 200 and set(body) == {"token", "ws_url"}
    assert body["ws_url"] == "ws://localhost:9123/api/v1/sdk/ws"
    assert body["token"] in simulator.grants
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert issue(simulator) != body["token"], "each token is fresh"


@pytest.mark.parametrize(
    ("host", "ws_url"),
    [(None, "ws://127.0.0.1/api/v1/sdk/ws"), ("[::1]:80", "ws://[::1]:80/api/v1/sdk/ws")],
)
def test_ws_url_falls_back_to_the_public_host_and_handles_ipv6(host, ws_url):
    response = answer(BinaryPcmSimulator(KEY), post(host=host))
    assert response.json()["ws_url"] == ws_url


def test_a_malformed_host_header_is_refused():
    response = answer(BinaryPcmSimulator(KEY), post(host="evil.example/../x"))
    assert response.status == 400


def test_the_body_and_content_type_are_ignored():
    response = answer(BinaryPcmSimulator(KEY), post(body=b"not json at all"))
    assert response.status == 200


@pytest.mark.parametrize(
    ("auth", "scenario", "status", "error"),
    [
        (None, "echo", 401, "invalid or missing API key"),
        ("Bearer wrong", "echo", 401, "invalid or missing API key"),
        (f"Basic {KEY}", "echo", 401, "invalid or missing API key"),
        (f"Bearer {KEY}", "disabled", 403, "kiosk is inactive or disabled"),
        (f"Bearer {KEY}", "token_500", 500, "internal server error (simulated)"),
    ],
)
def test_token_endpoint_errors_are_json_with_cors(auth, scenario, status, error):
    response = answer(BinaryPcmSimulator(KEY, scenario=scenario), post(auth=auth))
    assert (response.status, response.json()) == (status, {"error": error})
    assert response.headers["Access-Control-Allow-Origin"] == "*"


def test_cors_preflight_is_answered_with_204():
    response = answer(BinaryPcmSimulator(KEY), post(method="OPTIONS", auth=None))
    assert response.status == 204 and response.body == b""
    assert dict(response.headers) == CORS_HEADERS
    assert response.headers["Access-Control-Allow-Methods"] == "POST"
    assert response.headers["Access-Control-Allow-Headers"] == "Authorization, Content-Type"


def test_heartbeat_answers_ok_with_the_key_and_401_without():
    simulator = BinaryPcmSimulator(KEY, scenario="token_500")
    ok = answer(simulator, post(messages.HEARTBEAT_PATH))
    assert (ok.status, ok.json()) == (200, {"status": "ok"})
    assert simulator.heartbeats == 1
    assert answer(simulator, post(messages.HEARTBEAT_PATH, auth="Bearer nope")).status == 401


@pytest.mark.parametrize(
    ("request_", "status"),
    [(post("/api/v1/sdk/other"), 404), (post(method="GET"), 405), (post("/"), 404)],
)
def test_other_paths_and_methods(request_, status):
    assert answer(BinaryPcmSimulator(KEY), request_).status == status


def test_websocket_upgrade_on_another_path_is_404():
    simulator = BinaryPcmSimulator(KEY)
    result = simulator.open_websocket(SimRequest("GET", "/ws"), 0.0)
    assert isinstance(result, HttpResponse) and result.status == 404
    assert simulator.websocket_paths() == ("/api/v1/sdk/ws",)


def test_unknown_scenario_and_empty_key_are_refused():
    with pytest.raises(ValueError, match="scenario"):
        BinaryPcmSimulator(KEY, scenario="nope")
    with pytest.raises(ValueError):
        BinaryPcmSimulator("")


# -- tokens ----------------------------------------------------------------------------------


def test_tokens_are_single_use_and_expire_after_five_minutes():
    simulator = BinaryPcmSimulator(KEY)
    token = issue(simulator, now=0.0)
    assert simulator.grants[token].expires == 300.0
    assert simulator.redeem(token, 10.0)
    assert not simulator.redeem(token, 11.0), "used"
    late = issue(simulator, now=0.0)
    assert not simulator.redeem(late, 300.0), "expired"
    assert not simulator.redeem("never-issued", 0.0)


def test_reuse_is_allowed_when_single_use_is_off():
    simulator = BinaryPcmSimulator(KEY, single_use=False, token_ttl=1.0)
    token = issue(simulator)
    assert simulator.redeem(token, 0.1) and simulator.redeem(token, 0.2)
    assert not simulator.redeem(token, 1.0)


# -- the token-first WebSocket -------------------------------------------------------------------


def test_a_valid_token_gets_connected_then_agent_ready_after_the_ready_delay():
    simulator = BinaryPcmSimulator(KEY, pace=1.0)
    connection = connect(simulator, now=5.0)
    assert sent(connection) == [] and connection.get_timer() == 15.0
    connection.receive_frame(messages.encode(messages.auth(issue(simulator, 5.0))), 5.0)
    assert sent(connection) == [{"type": "connected"}]
    assert connection.get_timer() == 5.25
    connection.handle_timer(5.25)
    assert sent(connection) == [{"type": "agent_ready"}]
    assert connection.agent_ready_sent and connection.get_timer() is None


def test_connected_delay_is_honoured():
    simulator = BinaryPcmSimulator(KEY, pace=0, connected_delay=0.4)
    connection = authenticated(simulator, 1.0)
    assert sent(connection) == [] and connection.authenticated
    assert connection.get_timer() == 1.4
    connection.handle_timer(1.4)
    assert sent(connection) == [{"type": "connected"}, {"type": "agent_ready"}]


def test_no_first_message_within_the_deadline_is_auth_timeout_4001():
    connection = connect(BinaryPcmSimulator(KEY, token_deadline=2.0), now=0.0)
    connection.handle_timer(1.99)
    assert sent(connection) == []
    connection.handle_timer(2.0)
    assert sent(connection) == [
        messages.error("AUTH_TIMEOUT"),
        CloseFrame(4001, "Token not sent within 10 seconds"),
    ]
    assert connection.closed and connection.close_code == 4001


@pytest.mark.parametrize(
    "first",
    [
        '{"tok":"x"}',
        '{"token":null}',
        "not json",
        '"token"',
        b"\x00\x00" * 320,
        '{"token":' + "[" * 200_000 + "]" * 200_000 + "}",  # a RecursionError before issue 11
    ],
)
def test_a_first_message_without_a_token_is_invalid_auth_4002(first):
    connection = connect(BinaryPcmSimulator(KEY))
    connection.receive_frame(first, 0.0)
    out = sent(connection)
    assert out[0] == messages.error("INVALID_AUTH")
    assert isinstance(out[1], CloseFrame) and out[1].code == 4002
    assert connection.errors_sent == ["INVALID_AUTH"] and connection.received_audio == b""


def test_binary_first_frame_is_recorded_as_audio_before_authentication():
    connection = connect(BinaryPcmSimulator(KEY))
    connection.receive_frame(bytes(640), 0.0)
    assert connection.binary_frame_sizes == [640]
    assert connection.invalid == ["binary frame of 640 bytes before authentication"]


def test_unknown_used_or_expired_tokens_are_auth_failed_4003():
    simulator = BinaryPcmSimulator(KEY, token_ttl=60.0)
    token = issue(simulator)
    for frame, now in (
        (messages.encode(messages.auth("forged")), 0.0),
        (messages.encode(messages.auth(token)), 60.0),  # expired
    ):
        connection = connect(simulator, now)
        connection.receive_frame(frame, now)
        assert sent(connection)[0] == messages.error("AUTH_FAILED")
        assert connection.close_code == 4003
    fresh = issue(simulator)
    assert authenticated_with(simulator, fresh).connected_sent
    again = connect(simulator)
    again.receive_frame(messages.encode(messages.auth(fresh)), 0.0)
    assert again.close_code == 4003, "reused"


def authenticated_with(simulator: BinaryPcmSimulator, token: str) -> BinaryPcmConnection:
    connection = connect(simulator)
    connection.receive_frame(messages.encode(messages.auth(token)), 0.0)
    return connection


def test_setup_failed_scenario_is_session_setup_failed_4500():
    connection = authenticated(BinaryPcmSimulator(KEY, scenario="setup_failed"))
    out = sent(connection)
    assert out[0] == messages.error("SESSION_SETUP_FAILED")
    assert isinstance(out[1], CloseFrame) and out[1].code == 4500


def test_mic_audio_is_recorded_from_connected_on_and_violations_are_noted():
    simulator = BinaryPcmSimulator(KEY, pace=0, connected_delay=1.0)
    connection = authenticated(simulator)
    connection.receive_frame(bytes(640), 0.5)  # before connected was sent
    connection.handle_timer(1.0)
    connection.receive_frame(b"\x01\x00" * 320, 1.1)
    connection.receive_frame(b"\x02\x00\x03", 1.2)
    connection.receive_frame('{"type":"hello"}', 1.3)
    assert bytes(connection.received_audio) == b"\x01\x00" * 320 + b"\x02\x00"
    assert connection.binary_frame_sizes == [640, 640, 3]
    assert connection.invalid == [
        "binary frame of 640 bytes before connected; dropped",
        "binary frame of 3 bytes; odd byte dropped",
        "text message after authentication",
    ]
    assert not connection.closed


@pytest.mark.parametrize(("frame", "reason"), [(bytes(320), "640"), ('{"a":1}', "binary")])
def test_strict_mode_closes_1003_on_wrong_frames(frame, reason):
    connection = authenticated(BinaryPcmSimulator(KEY, pace=0, strict=True))
    sent(connection)
    connection.receive_frame(bytes(640), 0.0)
    assert not connection.closed
    connection.receive_frame(frame, 0.0)
    (close,) = sent(connection)
    assert isinstance(close, CloseFrame) and close.code == 1003 and reason in close.reason


# -- the agent on the wire ------------------------------------------------------------------------


def _speak(connection: BinaryPcmConnection, start: float) -> float:
    """Stream the speech sample and 1 s of silence in real time; return the clock."""
    pcm, fmt = speech_sample()
    audio = pcm + bytes(fmt.bytes_for(1.0))
    now = start
    for i in range(0, len(audio), 640):
        connection.receive_frame(audio[i : i + 640], now)
        now += 0.02
        if connection.get_timer() is not None and connection.get_timer() <= now:
            connection.handle_timer(now)
    return now


def test_agent_audio_goes_out_in_640_byte_frames_paced_at_20_ms():
    connection = authenticated(BinaryPcmSimulator(KEY, pace=1.0))
    now = _speak(connection, 0.0)
    times = []
    while (timer := connection.get_timer()) is not None and timer < now + 10:
        now = max(now, timer)
        connection.handle_timer(now)
        for frame in connection.frames_to_send():
            if isinstance(frame, bytes):
                times.append(now)
    assert len(times) > 50
    assert set(connection.sent_frame_sizes) == {640}
    steps = {round(b - a, 6) for a, b in itertools.pairwise(times[-50:])}
    assert steps == {0.02}


def test_burst_scenario_sends_the_whole_reply_at_once():
    connection = authenticated(BinaryPcmSimulator(KEY, scenario="burst", pace=1.0))
    _speak(connection, 0.0)
    audio = [f for f in sent(connection) if isinstance(f, bytes)]
    assert len(audio) > 50 and {len(f) for f in audio} == {640}


def test_drop_scenario_cuts_the_connection_after_the_first_agent_frame():
    connection = authenticated(BinaryPcmSimulator(KEY, scenario="drop", pace=0))
    _speak(connection, 0.0)
    out = sent(connection)
    audio = [f for f in out if isinstance(f, bytes)]
    assert len(audio) == 1 and isinstance(out[-1], DropConnection) and connection.closed


@pytest.mark.parametrize(
    ("scenario", "end_reason", "reason"),
    [
        ("server_shutdown", None, "server_shutdown"),
        ("end_room_closed", None, "room_closed"),
        ("end_session_closed", None, "session_closed"),
        ("end_agent_disconnected", None, "agent_disconnected"),
        ("end_room_closed", "kiosk_rebooted", "kiosk_rebooted"),
    ],
)
def test_ending_scenarios_send_session_ended_then_close_1000(scenario, end_reason, reason):
    simulator = BinaryPcmSimulator(KEY, scenario=scenario, pace=0, end_reason=end_reason)
    connection = authenticated(simulator)
    now = _speak(connection, 0.0)
    while not connection.closed and (timer := connection.get_timer()) is not None:
        connection.handle_timer(max(now, timer))
    out = sent(connection)
    assert out[-2:] == [messages.session_ended(reason), CloseFrame(1000, "session ended")]


def test_malformed_scenario_sends_its_faults_after_connected():
    connection = authenticated(BinaryPcmSimulator(KEY, scenario="malformed", pace=0))
    out = connection.frames_to_send()
    assert out[0] == messages.encode(messages.connected())
    assert out[1:4] == [
        "this frame is not JSON {",
        b"\x00\x00\x00",
        '{"type":"simulator_fault","detail":"unknown message type"}',
    ]


def test_reprs_show_state_not_secrets():
    simulator = BinaryPcmSimulator(KEY)
    token = issue(simulator)
    connection = authenticated_with(simulator, token)
    for text in (repr(simulator), repr(connection), repr(simulator.grants[token])):
        assert token not in text and KEY not in text
    assert "connected" in repr(connection)
