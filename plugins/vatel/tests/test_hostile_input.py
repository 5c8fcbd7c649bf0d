"""Hostile frames from a Vatel server (issue 11): what the application sees.

Each bug the fuzz harness (``python -m voiceadapters_conformance.fuzz``)
found has its test here; the harness itself runs in conformance/tests."""

from __future__ import annotations

import pytest

from voiceadapters.errors import TokenRequestError
from voiceadapters.events import ProviderError, SessionStarted, ToolCall, UserTranscript
from voiceadapters.handshake import HttpResponse, WebSocketRequest

DEEP = "[" * 200_000 + "]" * 200_000


def test_a_frame_nested_200000_deep_is_a_provider_error_and_the_session_goes_on(
    open_codec, feed_frames
):
    (error,) = feed_frames(open_codec, DEEP)
    assert isinstance(error, ProviderError) and error.code == "malformed_json"
    assert not error.fatal and len(error.message) < 300
    assert error.message.startswith("frame is nested deeper than 64 levels: '[[[[")
    assert feed_frames(open_codec, {"type": "session_started", "data": {"id": "s"}}) == [
        SessionStarted(session_id="s")
    ]


def test_tool_arguments_nested_too_deep_are_refused_not_delivered(open_codec, feed_frames):
    value = "[" * 100 + "]" * 100
    frame = (
        '{"type":"tool_call","data":{"toolCallId":"c","toolName":"t",'
        f'"arguments":[{{"name":"x","value":{value}}}]}}}}'
    )
    (error,) = feed_frames(open_codec, frame)
    assert error.code == "malformed_json" and "deeper than 64" in error.message


def test_a_lone_surrogate_in_a_transcript_arrives_as_a_replacement_character(
    open_codec, feed_frames
):
    frame = '{"type":"input_audio_transcript","data":{"transcript":"caf\\ud800"}}'
    warning, transcript = feed_frames(open_codec, frame)
    assert warning.code == "invalid_unicode" and not warning.fatal
    assert transcript == UserTranscript(text="caf\ufffd", final=True)
    transcript.text.encode("utf-8")  # printable


def test_nan_and_huge_numbers_in_tool_arguments_arrive_as_none(open_codec, feed_frames):
    frame = (
        '{"type":"tool_call","data":{"toolCallId":"c","toolName":"t","arguments":'
        '[{"name":"a","value":NaN},{"name":"b","value":1e400},{"name":"c","value":Infinity}]}}'
    )
    assert feed_frames(open_codec, frame) == [
        ToolCall(call_id="c", name="t", arguments={"a": None, "b": None, "c": None})
    ]


def test_a_token_response_nested_200000_deep_is_a_token_request_error(provider, make_config):
    codec = provider.make_codec(make_config("vatel://?agent_id=agent-1"))
    codec.handshake_step()
    body = b'{"token":' + DEEP.encode() + b"}"
    with pytest.raises(TokenRequestError) as caught:
        codec.receive_http_response(HttpResponse(200, body))
    assert caught.value.status == 200 and "not a JSON object" in str(caught.value)
    assert len(str(caught.value)) < 600


def test_a_token_with_a_lone_surrogate_still_makes_a_websocket_url(provider, make_config):
    codec = provider.make_codec(make_config("vatel://?agent_id=agent-1"))
    codec.handshake_step()
    codec.receive_http_response(HttpResponse(200, b'{"token":"jwt\\ud800"}'))
    step = codec.handshake_step()
    assert isinstance(step, WebSocketRequest)
    assert step.reveal_url().endswith("token=jwt%EF%BF%BD")  # U+FFFD, encodable


@pytest.mark.network
async def test_the_served_simulator_notes_a_deep_frame_and_logs_no_traceback(caplog):
    """Issue 11: the Vatel simulator logged a RecursionError traceback for
    such a client message; over a real WebSocket it now notes it as invalid
    input (and a strict simulator closes with 1007, test_simulator.py)."""
    import asyncio
    import logging

    import aiohttp

    from voiceadapters.testing import serve_simulator
    from voiceadapters_vatel.simulator import DEFAULT_AGENT_ID

    caplog.set_level(logging.DEBUG)
    async with serve_simulator("vatel", api_key="k", scenario="echo") as (server, _, simulator):
        base = f"127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as http:
            answer = await http.post(
                f"http://{base}/v1/session-token",
                json={"agent_id": DEFAULT_AGENT_ID},
                headers={"Authorization": "Bearer k"},
            )
            token = (await answer.json())["token"]
            async with http.ws_connect(f"ws://{base}/v1/connection?token={token}") as ws:
                await ws.receive()  # session_started
                await ws.send_str(DEEP)
                for _ in range(100):
                    if simulator.connections and simulator.connections[-1].invalid:
                        break
                    await asyncio.sleep(0.02)
                (connection,) = simulator.connections
                assert len(connection.invalid) == 1 and not ws.closed
    assert "Traceback" not in caplog.text and "RecursionError" not in caplog.text
