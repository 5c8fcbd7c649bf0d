"""The Deepgram codec, message by message (no I/O): the mapping table of
:mod:`voiceadapters_deepgram.codec`, turn fencing, held commands,
keep-alives, the grant step, and bad input."""

from __future__ import annotations

import json

import pytest

from voiceadapters.commands import Close, Interrupt, SendAudio, SendText, SendToolResult
from voiceadapters.errors import (
    AuthenticationError,
    BufferOverflowError,
    ConfigError,
    SessionClosedError,
    TokenRequestError,
    UnsupportedCommandError,
)
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentReady,
    AgentText,
    Interruption,
    ProviderError,
    SessionEnded,
    SessionStarted,
    ToolCall,
    UnknownMessage,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)
from voiceadapters.handshake import CloseFrame, HttpRequest, HttpResponse, WebSocketRequest
from voiceadapters_deepgram import DeepgramCodec, join_statement
from voiceadapters_deepgram import messages as m
from voiceadapters_deepgram.provider import OUTPUT_FORMAT

API_KEY = "dg_test_DO-NOT-LEAK_4b7c19e2d0"  # conftest's key (test modules cannot import it)

PCM = bytes(range(200)) * 4  # 800 bytes: whole samples


def reply(codec, feed, statements=("Hello there.", "How are you?"), frames=(PCM,)):
    return feed(
        codec,
        m.agent_started_speaking(0.5, 0.1, 0.4),
        *(m.conversation_text("assistant", s) for s in statements),
        *frames,
        m.agent_audio_done(),
    )


def test_welcome_then_settings_applied_start_the_session(make_codec, feed_frames):
    codec = make_codec(applied=False)
    assert feed_frames(codec, m.welcome("req-9")) == [SessionStarted(session_id="req-9")]
    assert feed_frames(codec, m.settings_applied()) == [AgentReady()]
    assert codec.settings_applied and codec.audio_buffer() is None


def test_the_handshake_is_one_websocket_with_a_token_header(make_config):
    codec = DeepgramCodec(make_config("deepgram://"))
    step = codec.handshake_step()
    assert isinstance(step, WebSocketRequest)
    assert step.url == "wss://agent.deepgram.com/v1/agent/converse"
    assert step.reveal_headers() == {"Authorization": f"Token {API_KEY}"}
    assert API_KEY not in repr(step) and API_KEY not in repr(codec)
    codec.connection_opened()
    settings = json.loads(codec.frames_to_send()[0])  # type: ignore[arg-type]
    assert settings["type"] == "Settings"
    assert settings["audio"]["input"] == {"encoding": "linear16", "sample_rate": 16000}
    assert settings["audio"]["output"]["sample_rate"] == 24000
    assert codec.handshake_step() is None


def test_no_api_key_is_a_config_error(make_config):
    with pytest.raises(ConfigError):
        DeepgramCodec(make_config("deepgram://", api_key=None))


def test_functions_must_be_json_in_a_config_string(make_config):
    with pytest.raises(ConfigError, match="functions"):
        make_config("deepgram://?functions=%5Bnot-json")


def test_the_grant_step_then_a_bearer_websocket(make_config):
    codec = DeepgramCodec(make_config("deepgram://?auth=grant&grant_host=api.deepgram.com"))
    step = codec.handshake_step()
    assert isinstance(step, HttpRequest) and step.method == "POST"
    assert step.url == "https://api.deepgram.com/v1/auth/grant"
    assert step.reveal_headers()["Authorization"] == f"Token {API_KEY}"
    assert API_KEY not in repr(step)
    codec.receive_http_response(
        HttpResponse(200, b'{"access_token": "jwt-SECRET-1", "expires_in": 30}')
    )
    ws = codec.handshake_step()
    assert isinstance(ws, WebSocketRequest)
    assert ws.reveal_headers() == {"Authorization": "Bearer jwt-SECRET-1"}
    assert "jwt-SECRET-1" not in repr(ws) and "jwt-SECRET-1" not in repr(codec)


def test_the_grant_goes_to_deepgrams_rest_host_or_to_the_configured_one(make_config):
    def url(config: str) -> str:
        step = DeepgramCodec(make_config(config)).handshake_step()
        assert isinstance(step, HttpRequest)
        return step.url

    assert url("deepgram://?auth=grant") == "https://api.deepgram.com/v1/auth/grant"
    assert url("deepgram://127.0.0.1:9?tls=false&auth=grant") == "http://127.0.0.1:9/v1/auth/grant"
    assert url("deepgram://eu.example?auth=grant&grant_host=x.example") == (
        "https://x.example/v1/auth/grant"
    )


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (HttpResponse(401, b'{"err_code":"INVALID_AUTH","err_msg":"Invalid credentials."}'),
         AuthenticationError),
        (HttpResponse(500, b"oops"), TokenRequestError),
        (HttpResponse(200, b'{"token": "x"}'), TokenRequestError),
        (HttpResponse(200, b"not json"), TokenRequestError),
    ],
)  # fmt: skip
def test_a_failed_grant_is_a_typed_error(make_config, response, error):
    codec = DeepgramCodec(make_config("deepgram://?auth=grant"))
    codec.handshake_step()
    with pytest.raises(error) as caught:
        codec.receive_http_response(response)
    assert API_KEY not in str(caught.value)


def test_a_user_turn(make_codec, feed_frames):
    codec = make_codec()
    events = feed_frames(
        codec, m.user_started_speaking(), m.conversation_text("user", "What time is it?")
    )
    assert events == [
        UserSpeechStarted(),
        UserTranscript(text="What time is it?", final=True),
        UserSpeechStopped(),
    ]


def test_injected_text_has_no_speech_events(make_codec, feed_frames):
    assert feed_frames(make_codec(), m.conversation_text("user", "typed")) == [
        UserTranscript(text="typed", final=True)
    ]


def test_an_agent_reply_accumulates_statements_and_ends_final(make_codec, feed_frames):
    events = reply(make_codec(), feed_frames)
    assert isinstance(events[0], UnknownMessage)  # AgentStartedSpeaking: the latencies
    assert events[0].raw["total_latency"] == 0.5
    assert events[1:] == [
        AgentText(text="Hello there.", delta="Hello there.", final=False, turn_id="turn-1"),
        AgentText(
            text="Hello there. How are you?", delta=" How are you?", final=False, turn_id="turn-1"
        ),
        AgentAudio(pcm=PCM, format=OUTPUT_FORMAT, turn_id="turn-1"),
        AgentText(text="Hello there. How are you?", delta="", final=True, turn_id="turn-1"),
        AgentAudioDone(turn_id="turn-1"),
    ]


def test_each_reply_is_a_new_turn_even_without_agent_started_speaking(make_codec, feed_frames):
    codec = make_codec()
    reply(codec, feed_frames)
    events = feed_frames(
        codec, m.conversation_text("assistant", "Again."), PCM, m.agent_audio_done()
    )
    assert {e.turn_id for e in events if hasattr(e, "turn_id")} == {"turn-2"}


def test_join_statement_adds_one_space_only_at_a_bare_seam():
    assert join_statement("", "Hi.") == "Hi."
    assert join_statement("Hi.", "Bye.") == "Hi. Bye."
    assert join_statement("Hi. ", "Bye.") == "Hi. Bye."
    assert join_statement("Hi.", " Bye.") == "Hi. Bye."


def test_barge_in_interrupts_and_fences_the_late_audio(make_codec, feed_frames):
    codec = make_codec()
    feed_frames(
        codec,
        m.agent_started_speaking(0.1, 0.1, 0.1),
        m.conversation_text("assistant", "A long answer."),
        PCM,
    )
    events = feed_frames(codec, m.user_started_speaking(), PCM, PCM, m.agent_audio_done())
    assert events == [Interruption(turn_id="turn-1"), UserSpeechStarted()]
    assert codec.fenced_frames == 2
    # The next reply lifts the fence.
    events = feed_frames(
        codec, m.conversation_text("user", "stop"), m.agent_started_speaking(0.1, 0.1, 0.1), PCM
    )
    assert events[-1] == AgentAudio(pcm=PCM, format=OUTPUT_FORMAT, turn_id="turn-2")


def test_user_speech_while_the_agent_is_silent_is_no_interruption(make_codec, feed_frames):
    codec = make_codec()
    reply(codec, feed_frames)
    assert feed_frames(codec, m.user_started_speaking()) == [UserSpeechStarted()]


def test_a_client_side_function_call_and_its_result(make_codec, feed_frames):
    codec = make_codec()
    events = feed_frames(codec, m.function_call_request("fc-1", "get_weather", {"city": "Oslo"}))
    assert events == [ToolCall(call_id="fc-1", name="get_weather", arguments={"city": "Oslo"})]
    codec.handle_command(SendToolResult(call_id="fc-1", output='{"temp": 3}'))
    assert json.loads(codec.frames_to_send()[0]) == {  # type: ignore[arg-type]
        "type": "FunctionCallResponse", "id": "fc-1", "name": "get_weather", "content": '{"temp": 3}'
    }  # fmt: skip


def test_a_result_for_an_unknown_call_is_sent_with_an_empty_name(make_codec):
    codec = make_codec()
    codec.handle_command(SendToolResult(call_id="nope", output="x"))
    assert json.loads(codec.frames_to_send()[0])["name"] == ""  # type: ignore[arg-type]


def test_server_side_functions_are_passed_on_not_called(make_codec, feed_frames):
    message = m.function_call_request("fc-2", "server_fn", {}, client_side=False)
    (event,) = feed_frames(make_codec(), message)
    assert isinstance(event, UnknownMessage) and event.raw == message


def test_arguments_that_are_not_a_json_object_are_reported(make_codec, feed_frames):
    message = m.function_call_request("fc-3", "f", {})
    message["functions"][0]["arguments"] = "[1, 2"
    error, call = feed_frames(make_codec(), message)
    assert isinstance(error, ProviderError) and error.code == "malformed_tool_arguments"
    assert call == ToolCall(call_id="fc-3", name="f", arguments={})


@pytest.mark.parametrize(
    "message",
    [
        {"type": "Welcome"},
        {"type": "ConversationText", "role": "user"},
        {"type": "ConversationText", "role": 3, "content": "x"},
        {"type": "FunctionCallRequest", "functions": "no"},
        {"type": "FunctionCallRequest", "functions": [{"id": "a"}]},
        {"type": "FunctionCallRequest", "functions": [7]},
    ],
)
def test_known_messages_with_bad_fields_are_malformed(make_codec, feed_frames, message):
    (error,) = feed_frames(make_codec(), message)
    assert isinstance(error, ProviderError) and error.code == "malformed_message"
    assert not error.fatal and not make_codec().ended


@pytest.mark.parametrize(
    ("frame", "code"),
    [("not json {", "malformed_json"), ("[1]", "malformed_message"), ('{"x": 1}', "malformed_message")],
)  # fmt: skip
def test_frames_that_are_not_messages_are_reported(make_codec, feed_frames, frame, code):
    codec = make_codec()
    (error,) = feed_frames(codec, frame)
    assert isinstance(error, ProviderError) and error.code == code and not codec.ended


def test_unknown_types_and_other_roles_are_passed_on(make_codec, feed_frames):
    codec = make_codec()
    for message in (
        {"type": "History", "role": "user", "content": "x"},
        m.agent_thinking("hmm"),
        {"type": "ConversationText", "role": "system", "content": "x"},
        {"type": "BrandNew", "n": 1},
    ):
        assert feed_frames(codec, message) == [UnknownMessage(raw=message)]


def test_odd_length_audio_keeps_whole_samples(make_codec, feed_frames):
    error, audio = feed_frames(make_codec(), b"\x01\x02\x03")
    assert isinstance(error, ProviderError) and error.code == "odd_length_audio"
    assert isinstance(audio, AgentAudio) and audio.pcm == b"\x01\x02"
    assert feed_frames(make_codec(), b"\x01")[1:] == []


def test_errors_and_warnings_are_non_fatal_once_settings_applied(make_codec, feed_frames):
    codec = make_codec()
    events = feed_frames(codec, m.error("FAILED_TO_THINK", "llm down"), m.warning("W", "slow"))
    assert events == [
        ProviderError(code="FAILED_TO_THINK", message="llm down"),
        ProviderError(code="W", message="slow"),
    ]
    codec.receive_closed(1000, "")
    (end,) = codec.events_received()
    assert end == SessionEnded(
        reason="completed", provider_reason="FAILED_TO_THINK", close_code=1000
    )


def test_an_error_before_settings_applied_is_fatal(make_codec, feed_frames):
    codec = make_codec(applied=False)
    feed_frames(codec, m.welcome("r"))
    error, end = feed_frames(codec, m.error("INVALID_SETTINGS", "bad rate"))
    assert error == ProviderError(code="INVALID_SETTINGS", message="bad rate", fatal=True)
    assert end == SessionEnded(reason="error", provider_reason="INVALID_SETTINGS")
    assert codec.frames_to_send() == [CloseFrame(1000, "settings were refused")]


def test_commands_are_held_until_settings_applied_then_sent_in_order(make_codec, feed_frames):
    codec = make_codec(applied=False)
    codec.handle_command(SendAudio(pcm=b"\x01\x00" * 10))
    codec.handle_command(SendText(text="hi"))
    codec.handle_command(SendAudio(pcm=b"\x02\x00" * 10))
    assert codec.frames_to_send() == [] and codec.audio_buffer() == (40, 160000)
    feed_frames(codec, m.welcome("r"), m.settings_applied())
    assert codec.frames_to_send() == [
        b"\x01\x00" * 10, m.encode(m.inject_user_message("hi")), b"\x02\x00" * 10
    ]  # fmt: skip


def test_held_audio_is_bounded(make_codec):
    codec = make_codec(applied=False, preconnect_buffer_seconds=0.01)
    codec.handle_command(SendAudio(pcm=bytes(320)))
    with pytest.raises(BufferOverflowError):
        codec.handle_command(SendAudio(pcm=bytes(2)))
    assert codec.audio_buffer() == (320, 320)


def test_a_close_while_commands_are_held_waits_for_them(make_codec, feed_frames):
    codec = make_codec(applied=False)
    codec.handle_command(SendAudio(pcm=bytes(64)))
    codec.handle_command(Close())
    assert codec.frames_to_send() == []
    feed_frames(codec, m.welcome("r"), m.settings_applied())
    assert codec.frames_to_send() == [bytes(64), CloseFrame(1000, "client closed")]
    codec.receive_closed(1000, "")
    assert codec.events_received()[-1].reason == "client_closed"  # type: ignore[union-attr]


def test_keep_alive_only_after_a_silent_interval(make_codec):
    codec = make_codec()  # ticked at 0 s
    assert codec.get_timer() == 4.0
    codec.handle_command(SendAudio(pcm=bytes(64)))
    codec.frames_to_send()
    codec.handle_timer(4.0)  # audio was sent since the last tick
    assert codec.frames_to_send() == []
    codec.handle_timer(8.0)  # nothing since 4 s
    assert codec.frames_to_send() == [m.encode(m.keep_alive())]
    assert codec.get_timer() == 12.0
    codec.handle_timer(9.0)  # an early call changes nothing
    assert codec.frames_to_send() == [] and codec.get_timer() == 12.0


def test_keep_alive_off(make_codec):
    assert make_codec(keep_alive_interval=0).get_timer() is None


def test_interrupt_is_unsupported_and_the_session_goes_on(make_codec):
    codec = make_codec()
    with pytest.raises(UnsupportedCommandError):
        codec.handle_command(Interrupt())
    codec.handle_command(SendText(text="still here"))
    assert codec.frames_to_send()


@pytest.mark.parametrize(
    ("code", "reason"),
    [(1000, "completed"), (1001, "server_shutdown"), (1008, "auth_failed"),
     (1011, "error"), (None, "connection_lost")],
)  # fmt: skip
def test_closes_map_to_end_reasons(make_codec, code, reason):
    codec = make_codec()
    codec.receive_closed(code, "why")
    (end,) = codec.events_received()
    assert isinstance(end, SessionEnded) and end.reason == reason
    with pytest.raises(SessionClosedError):
        codec.handle_command(SendText(text="late"))


def test_audio_that_is_not_whole_samples_is_refused(make_codec):
    with pytest.raises(ValueError):
        make_codec().handle_command(SendAudio(pcm=b"\x00"))
