"""The Vatel codec against the Vatel simulator, in memory, on a fake clock.

Handshake values, token and upgrade errors, the normalized event stream of
each scenario, audio fidelity, interruption fencing, malformed input and
every way a session ends.
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
    ConfigError,
    SessionClosedError,
    TokenRequestError,
    UnsupportedCommandError,
    WebSocketRejected,
)
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentText,
    Event,
    Interruption,
    ProviderError,
    SessionEnded,
    SessionStarted,
    ToolCall,
    UnknownMessage,
    UserTranscript,
)
from voiceadapters.format import AudioFormat
from voiceadapters.handshake import CloseFrame, HttpRequest, HttpResponse, WebSocketRequest
from voiceadapters.secrets import Secret
from voiceadapters.testing import CodecPair
from voiceadapters_vatel import VatelSimulator, messages
from voiceadapters_vatel.simulator import DEFAULT_AGENT_ID

AGENT = DEFAULT_AGENT_ID
VERSION = "0b5e7c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b"
Feed = Callable[..., list[Event]]


def has(kind: str) -> Callable[[list[Event]], bool]:
    return lambda events: any(e.type == kind for e in events)


def of(events: list[Event], cls: type[Any]) -> list[Any]:
    return [e for e in events if isinstance(e, cls)]


def echoed(events: list[Event], turn_id: str) -> bytes:
    return b"".join(e.pcm for e in of(events, AgentAudio) if e.turn_id == turn_id)


# -- handshake as data ----------------------------------------------------------


def test_token_request_is_a_post_with_bearer_key_and_json_body(make_config, provider, api_key):
    codec = provider.make_codec(make_config(f"vatel://?agent_id={AGENT}"))
    step = codec.handshake_step()
    assert isinstance(step, HttpRequest)
    assert (step.method, step.url) == ("POST", "https://api.vatel.ai/v1/session-token")
    assert step.json == {"agent_id": AGENT}
    assert step.query == ()
    headers = dict(step.headers)
    assert isinstance(headers["Authorization"], Secret)
    assert step.reveal_headers() == {
        "Authorization": f"Bearer {api_key}",
        "Content-Type": "application/json",
    }
    assert step.timeout == 10.0
    assert codec.handshake_step() == step, "the step repeats until its response is fed"


def test_token_request_body_carries_only_the_options_that_are_set(make_config, provider):
    config = make_config(
        f"vatel://?agent_id={AGENT}&version_id={VERSION}&first_message=Hi&chat=true",
        prompt="Be brief.",
    )
    step = provider.make_codec(config).handshake_step()
    assert isinstance(step, HttpRequest)
    assert step.json == {
        "agent_id": AGENT,
        "version_id": VERSION,
        "first_message": "Hi",
        "prompt": "Be brief.",
        "chat": True,
    }


def test_legacy_token_form_puts_agent_id_in_the_query_and_sends_no_body(make_config, provider):
    codec = provider.make_codec(make_config(f"vatel://?agent_id={AGENT}&token_form=query"))
    step = codec.handshake_step()
    assert isinstance(step, HttpRequest)
    assert step.query == (("agentId", AGENT),)
    assert step.json is None and step.body() is None
    assert step.reveal_url() == f"https://api.vatel.ai/v1/session-token?agentId={AGENT}"


def test_legacy_token_form_is_accepted_by_the_simulator(make_config, provider, api_key):
    simulator = VatelSimulator(api_key, pace=0)
    config = make_config(
        provider.simulator_config("127.0.0.1", 8765, simulator) + "&token_form=query"
    )
    pair = CodecPair(provider.make_codec(config), simulator)
    assert has("session_started")(pair.events)
    assert [g.legacy_form for g in simulator.grants.values()] == [True]


def test_websocket_step_carries_the_token_as_the_only_query_parameter(make_config, provider):
    codec = provider.make_codec(make_config(f"vatel://?agent_id={AGENT}&timeout=4.5"))
    codec.handshake_step()
    codec.receive_http_response(HttpResponse(200, b'{"token":"eyJ.a+b/c=="}'))
    step = codec.handshake_step()
    assert isinstance(step, WebSocketRequest)
    assert step.url == "wss://api.vatel.ai/v1/connection"
    assert [name for name, _ in step.query] == ["token"]
    assert isinstance(step.query[0][1], Secret)
    assert step.reveal_url() == "wss://api.vatel.ai/v1/connection?token=eyJ.a%2Bb%2Fc%3D%3D"
    assert (step.ping_interval, step.ping_timeout, step.open_timeout) == (20.0, 20.0, 4.5)
    codec.connection_opened()
    assert codec.handshake_step() is None
    assert codec.frames_to_send() == [], "Vatel has no first client message"
    assert codec.events_received() == [], "the session starts on the server's session_started"


def test_plain_loopback_config_uses_http_and_ws(make_config, provider):
    codec = provider.make_codec(make_config(f"vatel://127.0.0.1:8765?tls=false&agent_id={AGENT}"))
    step = codec.handshake_step()
    assert isinstance(step, HttpRequest)
    assert step.url == "http://127.0.0.1:8765/v1/session-token"
    assert codec.connection_url == "ws://127.0.0.1:8765/v1/connection"


def test_api_key_and_token_never_appear_in_any_rendering(make_pair, api_key, speech):
    pair = make_pair(pace=0)
    token = json.loads(pair.http_responses[0].body)["token"]
    pair.stream_audio(speech.pcm, 960)
    pair.send(Close())
    codec = pair.codec
    renderings = [repr(codec), str(codec.config), repr(codec.config), codec.config.to_string()]
    renderings += [repr(e) for e in pair.events] + [str(e.model_dump()) for e in pair.events]
    for text in renderings:
        assert api_key not in text
        assert token not in text


def test_requests_mask_key_and_token_in_repr_and_str(make_config, provider, api_key):
    codec = provider.make_codec(make_config(f"vatel://?agent_id={AGENT}"))
    http = codec.handshake_step()
    codec.receive_http_response(HttpResponse(200, b'{"token":"secret-jwt-value"}'))
    ws = codec.handshake_step()
    for text in (repr(http), str(http), repr(ws), str(ws), repr(codec)):
        assert api_key not in text
        assert "secret-jwt-value" not in text
        assert "***" in text


def test_missing_api_key_is_a_config_error_when_the_codec_is_built(make_config, provider):
    config = make_config(f"vatel://?agent_id={AGENT}", api_key=None)
    with pytest.raises(ConfigError, match="VATEL_API_KEY"):
        provider.make_codec(config)


# -- token and upgrade errors ---------------------------------------------------------


def test_wrong_api_key_raises_authentication_error_with_status_and_message(provider, make_config):
    simulator = VatelSimulator("the-right-key")
    config = make_config(provider.simulator_config("127.0.0.1", 1, simulator), api_key="wrong")
    with pytest.raises(AuthenticationError) as info:
        CodecPair(provider.make_codec(config), simulator)
    assert info.value.status == 401
    assert info.value.provider_message == "invalid API key"
    assert "401" in str(info.value) and "vatel" in str(info.value)
    assert "wrong" not in str(info.value)


def test_unknown_agent_raises_token_request_error_404(provider, make_config):
    simulator = VatelSimulator("k")
    config = make_config(f"vatel://127.0.0.1:1?tls=false&agent_id={VERSION}", api_key="k")
    with pytest.raises(TokenRequestError) as info:
        CodecPair(provider.make_codec(config), simulator)
    assert not isinstance(info.value, AuthenticationError)
    assert (info.value.status, info.value.provider_message) == (404, "agent not found")
    assert info.value.url == "http://127.0.0.1:1/v1/session-token"


def test_token_500_scenario_raises_token_request_error_500(make_pair):
    with pytest.raises(TokenRequestError) as info:
        make_pair("token_500")
    assert info.value.status == 500
    assert "internal server error" in info.value.provider_message


@pytest.mark.parametrize(
    ("response", "error", "status", "message"),
    [
        (HttpResponse(403, b'{"error":"agent belongs to another organization"}'),
         AuthenticationError, 403, "agent belongs to another organization"),
        (HttpResponse(400, b'{"error":"invalid agent_id"}'),
         TokenRequestError, 400, "invalid agent_id"),
        (HttpResponse(503, b'{"error":"webrtc not configured"}'),
         TokenRequestError, 503, "webrtc not configured"),
        (HttpResponse(502, b"<html>Bad gateway</html>"),
         TokenRequestError, 502, "<html>Bad gateway</html>"),
        (HttpResponse(500, b'{"message":"no error key"}'),
         TokenRequestError, 500, "no error key"),  # a 'message' field is read too
        (HttpResponse(500, b""), TokenRequestError, 500, "(empty body)"),
    ],
)  # fmt: skip
def test_token_error_statuses_map_to_typed_errors(
    make_config, provider, response, error, status, message
):
    codec = provider.make_codec(make_config(f"vatel://?agent_id={AGENT}"))
    codec.handshake_step()
    with pytest.raises(error) as info:
        codec.receive_http_response(response)
    assert type(info.value) is error
    assert (info.value.status, info.value.provider_message) == (status, message)
    assert f"HTTP {status}" in str(info.value)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"<html>ok</html>", "not a JSON object"),
        (b'["token"]', "not a JSON object"),
        (b"", "(empty body)"),
        (b'{"jwt":"abc"}', "without a non-empty string 'token'"),
        (b'{"token":""}', "without a non-empty string 'token'"),
        (b'{"token":42}', "without a non-empty string 'token'"),
    ],
)
def test_a_200_without_a_token_string_is_a_token_request_error(make_config, provider, body, detail):
    codec = provider.make_codec(make_config(f"vatel://?agent_id={AGENT}"))
    codec.handshake_step()
    with pytest.raises(TokenRequestError) as info:
        codec.receive_http_response(HttpResponse(200, body))
    assert info.value.status == 200
    assert "HTTP 200" in str(info.value)
    assert detail in info.value.provider_message
    assert "abc" not in str(info.value), "a token-like value under another key is not echoed"


def test_expired_token_makes_the_websocket_upgrade_fail_with_401(make_pair):
    with pytest.raises(WebSocketRejected) as info:
        make_pair(token_ttl=0.0)
    assert info.value.status == 401
    assert "invalid or expired session token" in info.value.provider_message


# -- an echo turn ------------------------------------------------------------------------


def test_echo_turn_produces_the_normalized_events_in_order(make_pair, speech, collapse):
    pair = make_pair("echo")
    pair.stream_audio(speech.pcm, 960)
    pair.run_until(has("agent_audio_done"))
    assert collapse(pair.events) == [
        "session_started",
        "user_speech_started",
        "user_transcript",
        "user_speech_stopped",
        "agent_text",
        "agent_audio",
        "agent_audio_done",
    ]
    started = pair.events[0]
    assert isinstance(started, SessionStarted)
    assert started.session_id == pair.server.session_id

    transcripts = of(pair.events, UserTranscript)
    assert [t.final for t in transcripts][-1] is True
    assert not any(t.final for t in transcripts[:-1]) and len(transcripts) >= 2
    assert {t.turn_id for t in transcripts} == {"turn-1"}

    done = of(pair.events, AgentAudioDone)
    assert [d.turn_id for d in done] == ["turn-1"]
    assert all(e.format == AudioFormat(24000) for e in of(pair.events, AgentAudio))


def test_agent_text_accumulates_with_deltas_then_finalizes(make_pair, speech):
    pair = make_pair("echo")
    pair.stream_audio(speech.pcm, 960)
    pair.run_until(has("agent_audio_done"))
    texts = of(pair.events, AgentText)
    assert [t.final for t in texts] == [False, True]
    first, last = texts
    assert first.delta == first.text
    assert last.text.startswith(first.text)
    assert last.delta == last.text[len(first.text) :]
    assert first.delta + last.delta == last.text
    assert last.text.startswith("You said [")


def test_echoed_audio_is_an_exact_slice_of_the_sent_utterance(make_pair, speech):
    pair = make_pair("echo")
    pair.stream_audio(speech.pcm, 960)
    pair.run_until(has("agent_audio_done"))
    assert bytes(pair.server.received_audio) == speech.pcm, "every sent byte reached Vatel"
    audio = echoed(pair.events, "turn-1")
    at = speech.pcm.find(audio)
    assert at >= 0, "the echo is a contiguous, bit-exact copy of what was sent"
    assert at <= speech.voiced_start and at + len(audio) >= speech.voiced_end


def test_sent_audio_chunks_become_input_audio_messages(make_pair, speech):
    pair = make_pair("echo", pace=0)
    pair.stream_audio(speech.pcm[: 960 * 3], 960)
    sent = [json.loads(f) for f in pair.client_frames if isinstance(f, str)]
    assert [m["type"] for m in sent] == ["input_audio"] * 3
    assert sent[0] == messages.input_audio(speech.pcm[:960])


def test_empty_audio_sends_nothing_and_odd_audio_raises(open_codec):
    open_codec.handle_command(SendAudio(pcm=b""))
    assert open_codec.frames_to_send() == []
    with pytest.raises(AudioFormatError):
        open_codec.handle_command(SendAudio(pcm=b"\x00\x01\x02"))
    assert open_codec.frames_to_send() == []


# -- tool calls ---------------------------------------------------------------------------


def test_tool_call_round_trip(make_pair, speech):
    pair = make_pair("tool_call")
    pair.stream_audio(speech.pcm, 960)
    pair.run_until(has("tool_call"))
    (call,) = of(pair.events, ToolCall)
    assert call.name == "lookup_utterance"
    assert set(call.arguments) == {"seconds", "turn"}
    assert call.arguments["turn"] == 1 and isinstance(call.arguments["seconds"], float)
    assert not has("agent_text")(pair.events), "the reply waits for the tool's output"

    output = json.dumps({"ok": True, "order": "A12"})
    pair.send(SendToolResult(call_id=call.call_id, output=output))
    pair.run_until(has("agent_audio_done"))
    assert pair.server.tool_outputs == [(call.call_id, output)]
    assert messages.tool_call_output(call.call_id, output) in pair.server.received_messages
    final = [t for t in of(pair.events, AgentText) if t.final]
    assert output in final[-1].text


def test_tool_call_arguments_array_becomes_a_dict(open_codec, feed_frames):
    events = feed_frames(
        open_codec,
        messages.tool_call(
            "tc_1",
            "lookup_order",
            [
                messages.tool_argument("order_id", "A12"),
                messages.tool_argument("qty", 2, kind="static"),
                {"name": "note", "type": "resolved"},  # no value
            ],
        ),
    )
    assert events == [
        ToolCall(
            call_id="tc_1",
            name="lookup_order",
            arguments={"order_id": "A12", "qty": 2, "note": None},
        )
    ]


def test_tool_call_accepts_snake_case_aliases_and_skips_nameless_arguments(open_codec, feed_frames):
    frame = {
        "type": "tool_call",
        "data": {
            "tool_call_id": "tc_2",
            "tool_name": "hang_up",
            "arguments": [{"type": "static", "value": 1}, "junk", {"name": "why", "value": "done"}],
        },
    }
    events = feed_frames(open_codec, frame)
    errors = of(events, ProviderError)
    assert [e.code for e in errors] == ["malformed_tool_argument"] * 2
    assert not any(e.fatal for e in errors)
    assert of(events, ToolCall) == [
        ToolCall(call_id="tc_2", name="hang_up", arguments={"why": "done"})
    ]


# -- barge-in and fencing -------------------------------------------------------------------


def test_barge_in_interrupts_the_speaking_turn_and_none_of_its_audio_follows(make_pair, speech):
    pair = make_pair("barge_in")
    pair.stream_audio(speech.pcm, 960)
    pair.run_until(has("agent_audio"))
    pair.advance(0.3)
    pair.stream_audio(speech.pcm, 960)  # the user talks over the agent
    pair.run_until(lambda events: any(
        isinstance(e, AgentAudioDone) and e.turn_id == "turn-2" for e in events
    ))  # fmt: skip
    (interruption,) = of(pair.events, Interruption)
    assert interruption.turn_id == "turn-1"
    cut = pair.events.index(interruption)
    before, after = pair.events[:cut], pair.events[cut + 1 :]
    assert of(before, AgentAudio), "the agent was speaking turn-1"
    assert not [e for e in after if isinstance(e, AgentAudio) and e.turn_id == "turn-1"]
    assert [d.turn_id for d in of(pair.events, AgentAudioDone)] == ["turn-2"]
    reply = echoed(pair.events, "turn-2")  # barge_in speaks the utterance three times
    third = reply[: len(reply) // 3]
    assert reply == third * 3 and speech.pcm.find(third) >= 0


def test_late_audio_of_an_interrupted_turn_is_dropped(open_codec, feed_frames):
    chunk = b"\x01\x00" * 480
    events = feed_frames(
        open_codec,
        messages.response_audio("t-7", chunk),
        messages.interruption(),
        messages.response_audio("t-7", chunk),  # the server raced the interruption
        messages.response_audio("t-7", chunk, is_final=True),
        messages.response_audio("t-8", chunk, is_final=True),
    )
    assert events == [
        AgentAudio(pcm=chunk, format=AudioFormat(24000), turn_id="t-7"),
        Interruption(turn_id="t-7"),
        AgentAudio(pcm=chunk, format=AudioFormat(24000), turn_id="t-8"),
        AgentAudioDone(turn_id="t-8"),
    ]


def test_interruption_without_agent_audio_in_flight_has_no_turn(open_codec, feed_frames):
    chunk = b"\x00\x00" * 10
    assert feed_frames(open_codec, messages.interruption()) == [Interruption(turn_id=None)]
    events = feed_frames(
        open_codec,
        messages.response_audio("t-1", chunk, is_final=True),
        messages.interruption(),
        messages.response_audio("t-2", chunk),
    )
    assert events[2] == Interruption(turn_id=None), "t-1 had finished"
    assert events[3] == AgentAudio(pcm=chunk, format=AudioFormat(24000), turn_id="t-2")


# -- text replace semantics -----------------------------------------------------------------


def test_refined_agent_text_replaces_and_repeats_have_empty_delta(open_codec, feed_frames):
    events = feed_frames(
        open_codec,
        messages.response_text("t-1", "Hello", is_final=False),
        messages.response_text("t-1", "Hello", is_final=False),
        messages.response_text("t-1", "Hello there", is_final=False),
        messages.response_text("t-2", "Other turn", is_final=True),
        messages.response_text("t-1", "Hi there, how can I help?", is_final=True),
        messages.response_text("t-1", "Next segment", is_final=False),
    )
    assert [(e.text, e.delta, e.final, e.turn_id) for e in events] == [
        ("Hello", "Hello", False, "t-1"),
        ("Hello", "", False, "t-1"),
        ("Hello there", " there", False, "t-1"),
        ("Other turn", "Other turn", True, "t-2"),
        ("Hi there, how can I help?", "Hi there, how can I help?", True, "t-1"),
        ("Next segment", "Next segment", False, "t-1"),
    ]


# -- malformed input -------------------------------------------------------------------------


def test_malformed_scenario_reports_each_fault_and_the_turn_still_completes(make_pair, speech):
    pair = make_pair("malformed")
    pair.stream_audio(speech.pcm, 960)
    pair.run_until(has("agent_audio_done"))
    codes = [e.code for e in of(pair.events, ProviderError)]
    assert codes == ["malformed_json", "malformed_audio", "odd_length_audio"] * 2
    assert not any(e.fatal for e in of(pair.events, ProviderError))
    unknown = of(pair.events, UnknownMessage)
    assert [u.raw["type"] for u in unknown] == ["simulator_fault"] * 2
    fault_audio = [e for e in of(pair.events, AgentAudio) if e.turn_id != "turn-1"]
    assert [len(e.pcm) for e in fault_audio] == [2, 2], "whole-sample prefix of 3 bytes"
    assert speech.pcm.find(echoed(pair.events, "turn-1")) >= 0
    assert not pair.ended


def _first(kind: str, change: Callable[[dict[str, Any]], Any]) -> Callable[[Any], Any]:
    """An intercept rewriting the first server message of type ``kind``."""
    done = False

    def intercept(frame: Any) -> Any:
        nonlocal done
        if done or not isinstance(frame, str) or json.loads(frame).get("type") != kind:
            return frame
        done = True
        return change(json.loads(frame))

    return intercept


def _without(field: str) -> Callable[[dict[str, Any]], str]:
    def change(message: dict[str, Any]) -> str:
        del message["data"][field]
        return messages.encode(message)

    return change


@pytest.mark.parametrize(
    ("kind", "change", "code", "words"),
    [
        ("response_text", _without("text"), "malformed_message", ["response_text", "'text'"]),
        ("response_audio", _without("audio"), "malformed_message", ["response_audio", "'audio'"]),
        ("input_audio_transcript", _without("transcript"), "malformed_message",
         ["input_audio_transcript", "'transcript'"]),
        ("speech_started", lambda m: messages.encode({**m, "data": {"emulated": "yes"}}),
         "malformed_message", ["speech_started", "'emulated'"]),
        ("speech_stopped", lambda m: messages.encode({**m, "data": [1]}),
         "malformed_message", ["speech_stopped", "'data'"]),
        ("speech_stopped", lambda m: b"\x00\x01binary", "unexpected_binary", ["binary"]),
        ("speech_stopped", lambda m: '{"data":{}}', "malformed_message", ["'type'"]),
        ("speech_stopped", lambda m: "[1, 2]", "malformed_message", ["not an object"]),
    ],
)  # fmt: skip
def test_injected_malformed_frames_become_provider_errors_and_the_session_goes_on(
    make_pair, speech, kind, change, code, words
):
    pair = make_pair("echo", intercept=_first(kind, change))
    pair.stream_audio(speech.pcm, 960)
    pair.run_until(has("agent_audio_done"))
    (error,) = of(pair.events, ProviderError)
    assert error.code == code and not error.fatal
    for word in words:
        assert word in error.message
    assert has("agent_text")(pair.events) and not pair.ended
    # A later turn still works.
    pair.stream_audio(speech.pcm, 960)
    pair.run_until(lambda evs: len(of(evs, AgentAudioDone)) == 2)


def test_lenient_fields_default_and_extra_keys_are_ignored(open_codec, feed_frames):
    events = feed_frames(
        open_codec,
        {"type": "session_started", "data": {"id": "c0ffee"}, "timestamp": 1700000000},
        {"type": "speech_started", "data": {}},
        {"type": "speech_stopped", "data": None},
        {"type": "interruption"},
        {"type": "input_audio_transcript", "data": {"transcript": "book a table"}},
        {"type": "response_text", "data": {"turn_id": "t", "text": "Sure", "extra": 1}},
        {"type": "response_audio", "data": {"turn_id": "t", "audio": "AAAAAP//AQA="}},
    )
    assert [e.type for e in events] == [
        "session_started",
        "user_speech_started",
        "user_speech_stopped",
        "interruption",
        "user_transcript",
        "agent_text",
        "agent_audio",
    ]
    assert events[0] == SessionStarted(session_id="c0ffee")
    assert events[4] == UserTranscript(text="book a table", final=True)
    assert isinstance(events[5], AgentText) and events[5].final
    assert (
        isinstance(events[6], AgentAudio) and events[6].pcm == b"\x00\x00\x00\x00\xff\xff\x01\x00"
    )


def test_unknown_type_is_an_unknown_message_with_the_raw_object(open_codec, feed_frames):
    raw = {"type": "agent_mood", "data": {"mood": "cheerful"}}
    assert feed_frames(open_codec, raw) == [UnknownMessage(raw=raw)]


def test_a_second_session_started_is_reported_not_repeated(open_codec, feed_frames):
    events = feed_frames(open_codec, messages.session_started("a"), messages.session_started("b"))
    assert events[0] == SessionStarted(session_id="a")
    assert isinstance(events[1], ProviderError) and events[1].code == "unexpected_message"


# -- the end of a session ------------------------------------------------------------------


def test_session_ended_message_ends_with_completed_and_the_codec_closes(make_pair, speech):
    pair = make_pair("server_shutdown")
    pair.stream_audio(speech.pcm, 960)
    pair.run_until(has("session_ended"))
    assert pair.events[-1] == SessionEnded(reason="completed")
    assert of(pair.events, AgentAudioDone), "the reply was complete before the end"
    assert pair.client_frames[-1] == CloseFrame(1000, "session ended")
    assert pair.server.closed and pair.server.close_code == 1000
    with pytest.raises(SessionClosedError):
        pair.send(SendAudio(pcm=b"\x00\x00"))


def test_dropped_connection_ends_with_connection_lost(make_pair, speech):
    pair = make_pair("drop", pace=0)
    for at in range(0, len(speech.pcm), 960):
        pair.send(SendAudio(pcm=speech.pcm[at : at + 960]))
        pair.advance(0.02)
        if pair.ended:
            break
    assert pair.events[-1] == SessionEnded(reason="connection_lost", close_code=None)
    assert len(of(pair.events, AgentAudio)) == 1, "cut right after the first chunk"
    assert not of(pair.events, AgentAudioDone)


def test_client_close_ends_with_client_closed(make_pair):
    pair = make_pair("echo")
    (ended,) = pair.send(Close())
    assert isinstance(ended, SessionEnded)
    assert (ended.reason, ended.close_code) == ("client_closed", 1000)
    assert pair.client_frames == [CloseFrame(1000, "client closed")]
    assert pair.server.close_code == 1000


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1000, "completed"), (1001, "server_shutdown"), (1011, "error"), (None, "connection_lost")],
)
def test_server_close_without_session_ended_maps_the_close_code(open_codec, code, reason):
    open_codec.receive_closed(code, "bye")
    assert open_codec.events_received() == [
        SessionEnded(reason=reason, provider_reason="bye", close_code=code)
    ]


# -- commands Vatel cannot carry ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("command", "capability"),
    [(SendText(text="hello"), "text_input"), (Interrupt(), "client_interrupt")],
)
def test_unsupported_commands_name_vatel_and_the_capability(open_codec, command, capability):
    with pytest.raises(UnsupportedCommandError) as info:
        open_codec.handle_command(command)
    assert (info.value.provider, info.value.capability) == ("vatel", capability)
    assert "vatel" in str(info.value) and capability in str(info.value)
    assert open_codec.frames_to_send() == []
