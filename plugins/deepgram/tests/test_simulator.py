"""The Deepgram simulator on its own (no codec): authentication the way the
vendor checks it, Settings validation, client mistakes, scenarios, pacing."""

from __future__ import annotations

import json

import pytest

from voiceadapters.handshake import CloseFrame
from voiceadapters.simulator.base import DropConnection, SimRequest
from voiceadapters_deepgram import DeepgramConnection, DeepgramSimulator
from voiceadapters_deepgram import messages as m

KEY = "dg_sim_DO-NOT-LEAK_0f0f"
SETTINGS = m.settings(
    input_sample_rate=16000,
    output_sample_rate=24000,
    listen_model="nova-3",
    language="en",
    think_provider="open_ai",
    think_model="gpt-4o-mini",
    speak_model="aura-2-thalia-en",
)


def upgrade(authorization: str | None, path: str = "/v1/agent/converse") -> SimRequest:
    headers = {"upgrade": "websocket"}
    if authorization is not None:
        headers["authorization"] = authorization
    return SimRequest("GET", path, headers=headers)


def grant(authorization: str | None, method: str = "POST") -> SimRequest:
    headers = {} if authorization is None else {"authorization": authorization}
    return SimRequest(method, "/v1/auth/grant", headers=headers, body=b"{}")


def texts(connection: DeepgramConnection) -> list[dict]:
    return [json.loads(f) for f in connection.frames_to_send() if isinstance(f, str)]


def opened(scenario: str = "echo", pace: float = 0.0) -> DeepgramConnection:
    connection = DeepgramSimulator(KEY, scenario=scenario, pace=pace).open_websocket(
        upgrade(f"Token {KEY}"), 0.0
    )
    assert isinstance(connection, DeepgramConnection)
    connection.opened(0.0)
    return connection


@pytest.mark.parametrize("authorization", [f"Token {KEY}", f"token {KEY}", f"TOKEN  {KEY}"])
def test_the_api_key_header_opens_a_session(authorization):
    connection = DeepgramSimulator(KEY).open_websocket(upgrade(authorization), 0.0)
    assert isinstance(connection, DeepgramConnection)
    connection.opened(0.0)
    (welcome,) = texts(connection)
    assert welcome == m.welcome(connection.request_id)


@pytest.mark.parametrize(
    "authorization", [None, "Token wrong", f"Bearer {KEY}", f"Basic {KEY}", "Token", ""]
)
def test_anything_else_is_a_401_like_the_real_api(authorization):
    response = DeepgramSimulator(KEY).open_websocket(upgrade(authorization), 0.0)
    assert not isinstance(response, DeepgramConnection)
    assert response.status == 401 and KEY not in response.text()


def test_another_path_is_a_404():
    response = DeepgramSimulator(KEY).open_websocket(upgrade(f"Token {KEY}", "/v1/listen"), 0.0)
    assert not isinstance(response, DeepgramConnection) and response.status == 404


def test_a_granted_jwt_opens_sessions_until_it_expires():
    simulator = DeepgramSimulator(KEY)
    answer = simulator.handle_http(grant(f"Token {KEY}"), 10.0)
    assert answer.status == 200
    body = json.loads(answer.body)
    assert body["expires_in"] == 30 and body["access_token"].startswith("eyJ")
    bearer = f"Bearer {body['access_token']}"
    assert isinstance(simulator.open_websocket(upgrade(bearer), 39.0), DeepgramConnection)
    assert simulator.open_websocket(upgrade(bearer), 40.5).status == 401  # type: ignore[union-attr]
    assert simulator.open_websocket(upgrade("Bearer forged"), 11.0).status == 401  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("request_", "status"),
    [(grant(None), 401), (grant("Token wrong"), 401), (grant(f"Bearer {KEY}"), 401),
     (grant(f"Token {KEY}", "GET"), 405), (SimRequest("POST", "/v1/other"), 404)],
)  # fmt: skip
def test_grant_refusals(request_, status):
    assert DeepgramSimulator(KEY).handle_http(request_, 0.0).status == status


def test_settings_applied_and_formats_taken_from_settings():
    connection = opened()
    texts(connection)
    settings = dict(SETTINGS, audio={"input": {"encoding": "linear16", "sample_rate": 48000}})
    connection.receive_frame(m.encode(settings), 0.0)
    assert texts(connection) == [m.settings_applied()]
    assert connection.agent.audio_in.sample_rate == 48000
    assert connection.agent.audio_out.sample_rate == 24000  # the default output


@pytest.mark.parametrize(
    "audio",
    [
        {"input": {"encoding": "mulaw", "sample_rate": 8000}},
        {"input": {"encoding": "linear16", "sample_rate": 4000}},
        {"input": {"encoding": "linear16", "sample_rate": "16000"}},
        {"input": {"encoding": "linear16", "sample_rate": 16000}, "output": {"encoding": "mp3"}},
        {"input": {"encoding": "linear16", "sample_rate": 16000}, "output": {"container": "wav"}},
        "nope",
    ],
)
def test_invalid_settings_are_refused_and_the_session_closed(audio):
    connection = opened()
    texts(connection)
    connection.receive_frame(m.encode(dict(SETTINGS, audio=audio)), 0.0)
    frames = connection.frames_to_send()
    assert json.loads(frames[0])["code"] == "INVALID_SETTINGS"  # type: ignore[arg-type]
    assert frames[1] == CloseFrame(1000, "INVALID_SETTINGS")
    assert connection.invalid[0][0] == "INVALID_SETTINGS"


def test_client_mistakes_get_errors_and_the_session_goes_on():
    connection = opened()
    texts(connection)
    connection.receive_frame(bytes(320), 0.0)  # audio before Settings
    connection.receive_frame(m.encode(m.inject_user_message("x")), 0.0)  # before Settings
    connection.receive_frame(m.encode(m.keep_alive()), 0.0)  # allowed before Settings
    connection.receive_frame(m.encode(SETTINGS), 0.0)
    connection.receive_frame(m.encode(SETTINGS), 0.0)
    connection.receive_frame("not json", 0.0)
    connection.receive_frame('{"type": "Nonsense"}', 0.0)
    connection.receive_frame('{"type": "FunctionCallResponse", "id": 3}', 0.0)
    codes = [t.get("code") for t in texts(connection)]
    assert codes == [
        "SETTINGS_REQUIRED", "SETTINGS_REQUIRED", None, "SETTINGS_ALREADY_APPLIED",
        "UNPARSABLE_CLIENT_MESSAGE", "UNPARSABLE_CLIENT_MESSAGE", "UNPARSABLE_CLIENT_MESSAGE",
    ]  # fmt: skip
    assert connection.keep_alives == 1 and not connection.closed
    connection.receive_frame(m.encode({"type": "UpdatePrompt", "prompt": "p"}), 0.0)
    assert texts(connection) == [{"type": "PromptUpdated"}]


def test_text_input_gets_a_text_reply_and_audio_done():
    connection = opened()
    connection.receive_frame(m.encode(SETTINGS), 0.0)
    texts(connection)
    connection.receive_frame(m.encode(m.inject_user_message("hello")), 0.0)
    kinds = [(t["type"], t.get("role")) for t in texts(connection)]
    assert kinds == [
        ("ConversationText", "user"),
        ("AgentStartedSpeaking", None),
        ("ConversationText", "assistant"),
        ("AgentAudioDone", None),
    ]


def speak(connection: DeepgramConnection, speech: bytes, now: float = 0.0) -> float:
    for i in range(0, len(speech), 640):
        connection.receive_frame(speech[i : i + 640], now)
        now += 0.02
    return now


def run(connection: DeepgramConnection, until: float, now: float) -> list:
    out = []
    while True:
        due = connection.get_timer()
        if due is None or due > until:
            return out
        now = max(now, due)
        connection.handle_timer(now)
        out += connection.frames_to_send()


def test_pacing_one_frame_every_20_ms(speech16):
    connection = opened(pace=1.0)
    connection.receive_frame(m.encode(SETTINGS), 0.0)
    connection.frames_to_send()
    now = speak(connection, speech16)
    stamps = []
    while True:
        due = connection.get_timer()
        if due is None or due > now + 30:
            break
        connection.handle_timer(due)
        stamps += [due for f in connection.frames_to_send() if isinstance(f, bytes)]
    assert len(stamps) > 100
    span = stamps[-1] - stamps[0]
    assert span == pytest.approx((len(stamps) - 1) * 0.02, rel=0.01)


def test_drop_cuts_the_connection_after_the_first_audio_frame(speech16):
    connection = opened("drop")
    connection.receive_frame(m.encode(SETTINGS), 0.0)
    now = speak(connection, speech16)
    frames = connection.frames_to_send() + run(connection, now + 5, now)
    audio = [i for i, f in enumerate(frames) if isinstance(f, bytes)]
    assert len(audio) == 1 and frames[audio[0] + 1] == DropConnection()


def test_malformed_bursts_after_settings_and_before_each_reply(speech16):
    connection = opened("malformed")
    connection.receive_frame(m.encode(SETTINGS), 0.0)
    first = connection.frames_to_send()
    assert "this frame is not JSON {" in first and b"\x00" in first
    now = speak(connection, speech16)
    frames = connection.frames_to_send() + run(connection, now + 5, now)
    assert frames.count("this frame is not JSON {") == 1


def test_server_shutdown_closes_after_the_reply(speech16):
    connection = opened("server_shutdown")
    connection.receive_frame(m.encode(SETTINGS), 0.0)
    now = speak(connection, speech16)
    frames = connection.frames_to_send() + run(connection, now + 10, now)
    assert frames[-1] == CloseFrame(1000, "session ended")
    assert m.encode(m.agent_audio_done()) in frames


def test_an_unknown_scenario_or_an_empty_key_is_refused():
    with pytest.raises(ValueError, match="scenario"):
        DeepgramSimulator(KEY, scenario="nope")
    with pytest.raises(ValueError):
        DeepgramSimulator("")
    assert KEY not in repr(DeepgramSimulator(KEY))
