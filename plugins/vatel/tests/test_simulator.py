"""The Vatel simulator as a server: the token endpoint, the WebSocket upgrade
and how a connection treats invalid client input (sans I/O, no codec)."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from voiceadapters.handshake import CloseFrame, HttpResponse
from voiceadapters.simulator.base import SimRequest
from voiceadapters_vatel import VatelConnection, VatelSimulator, messages
from voiceadapters_vatel.simulator import DEFAULT_AGENT_ID

KEY = "sim-key"
AGENT = DEFAULT_AGENT_ID
OTHER_UUID = "11111111-2222-4333-8444-555555555555"


def token_request(
    body: Any = None,
    *,
    raw: bytes | None = None,
    query: dict[str, str] | None = None,
    auth: str | None = f"Bearer {KEY}",
    method: str = "POST",
    path: str = "/v1/session-token",
) -> SimRequest:
    headers = {"content-type": "application/json"}
    if auth is not None:
        headers["authorization"] = auth
    if raw is None:
        raw = b"" if body is None else json.dumps(body).encode()
    return SimRequest(method, path, query or {}, headers, raw)


def answer(simulator: VatelSimulator, request: SimRequest, now: float = 0.0) -> tuple[int, Any]:
    response = simulator.handle_http(request, now)
    return response.status, response.json()


def issue(simulator: VatelSimulator, now: float = 0.0) -> str:
    status, body = answer(simulator, token_request({"agent_id": AGENT}), now)
    assert status == 200
    return str(body["token"])


def connect(simulator: VatelSimulator, token: str, now: float = 0.0) -> VatelConnection:
    result = simulator.open_websocket(SimRequest("GET", "/v1/connection", {"token": token}), now)
    assert isinstance(result, VatelConnection)
    result.opened(now)
    return result


# -- token endpoint ------------------------------------------------------------------


def test_token_request_with_explicit_nulls_like_the_python_sdk_succeeds():
    simulator = VatelSimulator(KEY)
    body = {
        "agent_id": AGENT,
        "version_id": None,
        "chat_id": None,
        "transport": None,
        "first_message": None,
        "prompt": None,
        "chat": None,
    }
    status, answer_body = answer(simulator, token_request(body))
    assert status == 200 and set(answer_body) == {"token"}
    assert answer_body["token"] in simulator.grants


def test_each_token_is_a_fresh_opaque_string_remembering_the_request():
    simulator = VatelSimulator(KEY)
    first = issue(simulator)
    body = {"agent_id": AGENT, "version_id": OTHER_UUID, "first_message": "Hi", "chat": True}
    second = answer(simulator, token_request(body))[1]["token"]
    assert first != second and KEY not in first + second
    grant = simulator.grants[second]
    assert (grant.version_id, grant.first_message, grant.chat) == (OTHER_UUID, "Hi", True)
    assert grant.legacy_form is False


def test_legacy_query_form_is_accepted_with_an_empty_body():
    simulator = VatelSimulator(KEY)
    status, body = answer(simulator, token_request(query={"agentId": AGENT}))
    assert status == 200
    assert simulator.grants[body["token"]].legacy_form is True


@pytest.mark.parametrize(
    ("request_", "status", "error"),
    [
        (token_request(), 400, "agent_id is required"),
        (token_request(raw=b"{not json"), 400, "invalid JSON body"),
        (token_request(["agent_id"]), 400, "request body must be a JSON object"),
        (token_request(raw=b"[" * 200_000 + b"]" * 200_000), 400, "invalid JSON body"),
        (token_request(raw=b'{"agent_id": "\xff"}'), 400, "invalid JSON body"),
        (token_request({"agent_id": "not-a-uuid"}), 400, "agent_id must be a UUID"),
        (token_request({"agent_id": 7}), 400, "agent_id must be a UUID"),
        (token_request({"agent_id": AGENT, "version_id": "v1"}), 400, "version_id must be a UUID"),
        (token_request({"agent_id": AGENT, "transport": "sip"}), 400, "transport must be"),
        (token_request({"agent_id": AGENT, "chat": "yes"}), 400, "chat must be a boolean"),
        (token_request({"agent_id": OTHER_UUID}), 404, "agent not found"),
        (token_request({"agent_id": AGENT, "transport": "webrtc"}), 503, "WebRTC"),
        (token_request({"agent_id": AGENT}, auth=None), 401, "invalid API key"),
        (token_request({"agent_id": AGENT}, auth="Bearer nope"), 401, "invalid API key"),
        (token_request({"agent_id": AGENT}, auth=f"Basic {KEY}"), 401, "invalid API key"),
        (token_request(method="GET"), 405, "method not allowed"),
        (token_request(path="/v1/agents"), 404, "not found"),
    ],
)
def test_token_endpoint_rejects_like_the_real_api(request_, status, error):
    got_status, body = answer(VatelSimulator(KEY), request_)
    assert got_status == status
    assert set(body) == {"error"} and error in body["error"]


def test_extra_body_properties_are_ignored_unless_strict():
    body = {"agent_id": AGENT, "variables": [{"key": "name", "value": "Ada"}]}
    assert answer(VatelSimulator(KEY), token_request(body))[0] == 200
    status, error = answer(VatelSimulator(KEY, strict=True), token_request(body))
    assert status == 400 and "variables" in error["error"]


def test_token_500_scenario_still_checks_the_key_first():
    simulator = VatelSimulator(KEY, scenario="token_500")
    assert answer(simulator, token_request({"agent_id": AGENT}, auth=None))[0] == 401
    assert answer(simulator, token_request({"agent_id": AGENT}))[0] == 500


def test_unknown_scenario_is_refused_with_the_list():
    with pytest.raises(ValueError, match="malformed"):
        VatelSimulator(KEY, scenario="nope")


# -- WebSocket upgrade ------------------------------------------------------------------


def test_upgrade_needs_a_token_it_issued_and_not_expired():
    simulator = VatelSimulator(KEY, token_ttl=60.0)
    token = issue(simulator, now=100.0)

    def status(query: dict[str, str], now: float = 100.0) -> int:
        result = simulator.open_websocket(SimRequest("GET", "/v1/connection", query), now)
        return result.status if isinstance(result, HttpResponse) else 101

    assert status({}) == 400
    assert status({"token": "forged"}) == 401
    assert status({"token": token}, now=160.0) == 401, "expired"
    assert status({"token": token, "agentId": OTHER_UUID, "versionId": "x"}) == 101
    assert status({"token": token}, now=159.0) == 101, "reusable until it expires"
    assert len(simulator.connections) == 2
    assert simulator.websocket_paths() == ("/v1/connection",)


def test_connection_starts_with_session_started_carrying_a_uuid():
    simulator = VatelSimulator(KEY)
    connection = connect(simulator, issue(simulator))
    (frame,) = connection.frames_to_send()
    assert isinstance(frame, str)
    message = json.loads(frame)
    assert message == messages.session_started(connection.session_id)
    uuid.UUID(connection.session_id)


# -- invalid client input ----------------------------------------------------------------


INVALID = [
    (b"\x00\x01", 1003),
    ("not json", 1007),
    (json.dumps({"type": "input_audio", "data": {"audio": "@@@"}}), 1007),
    (json.dumps({"type": "input_audio", "data": {}}), 1007),
    (messages.encode(messages.input_audio(b"\x00\x00\x00")), 1007),
    (json.dumps({"type": "tool_call_output", "data": {"toolCallId": "x"}}), 1007),
    (json.dumps({"type": "input_audio"}), 1007),
    (json.dumps({"type": "commit", "data": {}}), 1008),
    ("[" * 200_000 + "]" * 200_000, 1007),  # a RecursionError before issue 11
]


@pytest.mark.parametrize(("frame", "code"), INVALID)
def test_strict_connection_closes_on_invalid_client_input(frame, code):
    simulator = VatelSimulator(KEY, strict=True)
    connection = connect(simulator, issue(simulator))
    connection.frames_to_send()
    connection.receive_frame(frame, 1.0)
    (close,) = connection.frames_to_send()
    assert isinstance(close, CloseFrame) and close.code == code
    assert connection.closed and len(connection.invalid) == 1


@pytest.mark.parametrize(("frame", "code"), INVALID)
def test_lenient_connection_records_invalid_input_and_carries_on(frame, code):
    simulator = VatelSimulator(KEY)
    connection = connect(simulator, issue(simulator))
    connection.frames_to_send()
    connection.receive_frame(frame, 1.0)
    assert connection.frames_to_send() == []
    assert not connection.closed and len(connection.invalid) == 1
    assert len(connection.received_audio) % 2 == 0, "a dangling odd byte is dropped"
    connection.receive_frame(messages.encode(messages.input_audio(b"\x01\x00")), 1.1)
    assert connection.received_audio.endswith(b"\x01\x00")


def test_tool_output_for_an_unknown_call_is_recorded_and_ignored():
    simulator = VatelSimulator(KEY, scenario="tool_call")
    connection = connect(simulator, issue(simulator))
    connection.frames_to_send()
    connection.receive_frame(messages.encode(messages.tool_call_output("nope", "ok")), 1.0)
    assert connection.tool_outputs == [("nope", "ok")]
    assert connection.frames_to_send() == [] and connection.invalid == []


def test_input_audio_is_decoded_into_received_audio():
    simulator = VatelSimulator(KEY)
    connection = connect(simulator, issue(simulator))
    pcm = bytes(range(256)) * 4
    connection.receive_frame(
        json.dumps({"type": "input_audio", "data": {"audio": base64.b64encode(pcm).decode()}}), 1
    )
    assert bytes(connection.received_audio) == pcm
