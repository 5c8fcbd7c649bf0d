"""The OpenAI Realtime front answers an item only when asked, and echoes the
asking ``response.create``'s ``metadata`` (pure state machine, no socket).

GA: after ``conversation.item.create`` (a tool result, user text) the server
waits for ``response.create``, and the response it then creates carries that
request's ``metadata``. LiveKit Agents' OpenAI plugin relies on both: its
``generate_reply()`` resolves on the ``response.created`` whose metadata names
its request, and its agent sends ``response.cancel`` between the tool result
and ``response.create`` (to cancel any answer the server began by itself).
Providers behind the bridge answer a tool result at once, so the front parks
that answer until the ``response.create`` (at most ``CREATE_WAIT``).
"""

from __future__ import annotations

from voiceadapters.commands import SendToolResult
from voiceadapters.events import AgentAudioDone, SessionEnded, ToolCall
from voiceadapters_bridge.front import SetTimer
from voiceadapters_bridge.realtime import CREATE_WAIT, OpenAIRealtimeFront

from .test_realtime_front import FULL, audio, front, kinds, out, send

OUTPUT = {"type": "function_call_output", "call_id": "c1", "output": "42"}


def _after_a_tool_call(**caps: bool) -> OpenAIRealtimeFront:
    f = front(**FULL, **caps)
    out(f)
    f.actions()
    f.handle_event(ToolCall(call_id="c1", name="lookup", arguments={}))
    out(f)
    send(f, type="conversation.item.create", item=OUTPUT)
    assert kinds(out(f)) == ["conversation.item.added", "conversation.item.done"]
    assert f.actions() == [SendToolResult(call_id="c1", output="42")]
    return f


def test_an_answer_before_response_create_is_parked_until_it() -> None:
    f = _after_a_tool_call(client_interrupt=True)
    f.handle_event(audio("t2"))  # the provider answers the tool result at once
    assert out(f) == [] and f.actions() == [SetTimer(CREATE_WAIT)]
    # What LiveKit's agent sends next: a cancel (nothing is active), then the request.
    send(f, type="response.cancel")
    (error,) = out(f)
    assert error["error"]["code"] == "response_cancel_not_active"
    assert error["error"]["message"].startswith("Cancellation failed")
    assert f.actions() == []  # the parked answer was not interrupted
    send(f, type="response.create", response={"metadata": {"client_event_id": "r1"}})
    assert f.actions() == [SetTimer(None)]
    events = out(f)
    assert kinds(events)[0] == "response.created"
    assert events[0]["response"]["metadata"] == {"client_event_id": "r1"}
    assert "response.output_audio.delta" in kinds(events)
    f.handle_event(AgentAudioDone(turn_id="t2"))
    f.handle_event(audio("t3"))  # a later turn: no longer parked
    done = next(e for e in out(f) if e["type"] == "response.done")
    assert done["response"]["metadata"] == {"client_event_id": "r1"}


def test_a_request_before_the_answer_names_the_response_that_follows() -> None:
    f = _after_a_tool_call()
    send(f, type="response.create", response={"metadata": {"k": "v"}})
    assert out(f) == [] and f.actions() == []
    f.handle_event(audio("t2"))
    (created, *_) = out(f)
    assert created["type"] == "response.created"
    assert created["response"]["metadata"] == {"k": "v"}


def test_without_a_request_the_answer_goes_unasked_after_the_wait() -> None:
    f = _after_a_tool_call()
    f.handle_event(audio("t2"))
    f.handle_event(audio("t2"))
    assert out(f) == [] and f.actions() == [SetTimer(CREATE_WAIT)]
    f.timer_fired()
    events = out(f)
    assert kinds(events)[0] == "response.created"
    assert events[0]["response"]["metadata"] is None
    assert kinds(events).count("response.output_audio.delta") == 2


def test_the_end_of_the_session_releases_what_was_parked() -> None:
    f = _after_a_tool_call()
    f.handle_event(audio("t2"))
    f.handle_event(SessionEnded(reason="completed"))
    events = kinds(out(f))
    assert events[0] == "response.created" and "response.done" in events
    assert f.closed


def test_metadata_must_be_an_object_of_strings() -> None:
    f = _after_a_tool_call()
    send(f, type="response.create", response={"metadata": {"n": 1}})
    (error,) = out(f)
    assert (error["error"]["code"], error["error"]["param"]) == (
        "invalid_value",
        "response.metadata",
    )
