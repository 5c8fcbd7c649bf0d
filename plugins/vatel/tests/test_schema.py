"""Everything put on the wire validates against the official Vatel schemas.

The schemas come from the copy of the Vatel OpenAPI document in
``tests/data/vatel-openapi.json`` (Devpro-Software/vatel-py-sdk, MIT, API
0.2.3). OpenAPI 3.0 schema objects are validated with JSON Schema draft 4
semantics, ``$ref``\\ s resolved inside the document.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from voiceadapters.commands import SendAudio, SendToolResult
from voiceadapters.events import Event
from voiceadapters.handshake import HttpRequest
from voiceadapters.simulator.base import SimRequest
from voiceadapters.testing import CodecPair
from voiceadapters_vatel import VatelSimulator, messages
from voiceadapters_vatel.simulator import DEFAULT_AGENT_ID

OPENAPI = Path(__file__).parent / "data" / "vatel-openapi.json"
BASE = "urn:vatel-openapi"
EMPTY_DATA_TYPES = {"speech_stopped", "interruption", "session_ended"}


@pytest.fixture(scope="module")
def schema() -> Any:
    document = json.loads(OPENAPI.read_text(encoding="utf-8"))
    registry: Registry[Any] = Registry().with_resource(
        BASE, Resource.from_contents(document, default_specification=DRAFT4)
    )

    def validator(name: str) -> Draft4Validator:
        return Draft4Validator(
            {"$ref": f"{BASE}#/components/schemas/{name}"},
            registry=registry,
            format_checker=FormatChecker(),
        )

    return validator


def has(kind: str) -> Any:
    return lambda events: any(e.type == kind for e in events)


def run_scenario(make_pair: Any, speech: Any, scenario: str) -> CodecPair:
    """Drive ``scenario`` through every kind of message it can produce."""
    pair: CodecPair = make_pair(scenario)
    pair.stream_audio(speech.pcm, 960)
    if scenario == "tool_call":
        pair.run_until(has("tool_call"))
        call = next(e for e in pair.events if e.type == "tool_call")
        pair.send(SendToolResult.from_value(call.call_id, {"ok": True}))  # type: ignore[union-attr]
    if scenario == "barge_in":
        pair.run_until(has("agent_audio"))
        pair.stream_audio(speech.pcm, 960)

    def done(events: list[Event]) -> bool:
        return pair.ended or sum(e.type == "agent_audio_done" for e in events) >= 1

    pair.run_until(done)
    pair.advance(1.0)
    return pair


@pytest.mark.parametrize("scenario", ["echo", "tool_call", "barge_in", "server_shutdown"])
def test_every_server_message_matches_voice_session_server_message(
    make_pair, speech, schema, scenario
):
    pair = run_scenario(make_pair, speech, scenario)
    validator = schema("VoiceSessionServerMessage")
    assert not any(isinstance(f, bytes) for f in pair.server_frames), "text frames only"
    sent = [json.loads(f) for f in pair.server_frames if isinstance(f, str)]
    for message in sent:
        validator.validate(message)
        assert set(message) == {"type", "data"}
        assert message["type"] in messages.SERVER_MESSAGE_TYPES
        if message["type"] in EMPTY_DATA_TYPES:
            assert message["data"] == {}, "the PY SDK rejects any key here"
    kinds = {m["type"] for m in sent}
    expected = {"session_started", "speech_started", "speech_stopped", "input_audio_transcript"}
    expected |= {"response_text", "response_audio"}
    expected |= {
        "tool_call": {"tool_call"},
        "barge_in": {"interruption"},
        "server_shutdown": {"session_ended"},
        "echo": set(),
    }[scenario]
    assert expected <= kinds


@pytest.mark.parametrize("scenario", ["echo", "tool_call"])
def test_every_client_message_matches_the_client_schemas(make_pair, speech, schema, scenario):
    pair = run_scenario(make_pair, speech, scenario)
    pair.send(SendAudio(pcm=b"\x01\x00" * 7))
    by_type = {
        "input_audio": schema("VoiceSessionClientInputAudioMessage"),
        "tool_call_output": schema("VoiceSessionClientToolCallOutputMessage"),
    }
    sent = [json.loads(f) for f in pair.client_frames if isinstance(f, str)]
    assert sent and {m["type"] for m in sent} <= set(by_type)
    for message in sent:
        by_type[message["type"]].validate(message)
    if scenario == "tool_call":
        assert any(m["type"] == "tool_call_output" for m in sent)


@pytest.mark.parametrize(
    "options",
    [
        "",
        "&version_id=0b5e7c1a-2f3d-4e5f-8a9b-0c1d2e3f4a5b",
        "&first_message=Hello&prompt=Be%20brief&chat=false"
        "&chat_id=9d3c8f7e-6b5a-4c3d-9e2f-1a0b9c8d7e6f",
    ],
)
def test_token_request_body_matches_generate_session_token_request(
    make_config, provider, schema, options
):
    step = provider.make_codec(make_config(f"vatel://?agent_id={DEFAULT_AGENT_ID}{options}"))
    request = step.handshake_step()
    assert isinstance(request, HttpRequest)
    schema("GenerateSessionTokenRequest").validate(request.json)


@pytest.mark.parametrize(
    ("name", "instance"),
    [
        ("GenerateSessionTokenRequest", {"agent_id": "agent-1"}),
        ("GenerateSessionTokenRequest", {"agent_id": DEFAULT_AGENT_ID, "variables": []}),
        ("VoiceSessionServerMessage", {"type": "speech_stopped", "data": {"at": 1}}),
        ("VoiceSessionServerMessage", {"type": "simulator_fault", "data": {}}),
        ("VoiceSessionServerMessage", {"type": "response_text", "data": {"turn_id": "t"}}),
        ("VoiceSessionClientInputAudioMessage", {"type": "input_audio", "data": {}}),
    ],
)
def test_the_schemas_reject_what_real_clients_reject(schema, name, instance):
    # Proves the validators above resolve their $refs and are not vacuous.
    assert list(schema(name).iter_errors(instance))


def test_simulator_token_answers_match_the_response_schemas(make_pair, schema):
    pair = make_pair()
    schema("SessionTokenResponse").validate(pair.http_responses[0].json())
    simulator = VatelSimulator("k")
    refused = simulator.handle_http(SimRequest("POST", "/v1/session-token"), 0.0)
    schema("ErrorResponse").validate(refused.json())


def test_builders_produce_schema_valid_messages(schema):
    validator = schema("VoiceSessionServerMessage")
    for message in (
        messages.session_started("c0ffee00-0000-4000-8000-000000000001"),
        messages.response_audio("t-7", b"\x00\x00\xff\xff", is_final=True),
        messages.response_text("t-7", "Hello, how can I help?", is_final=False),
        messages.input_audio_transcript("book a table", is_final=True),
        messages.input_audio_transcript("book", is_final=False, turn_id="t-8"),
        messages.speech_started(emulated=True),
        messages.speech_stopped(),
        messages.interruption(),
        messages.session_ended(),
        messages.tool_call("tc_1", "lookup_order", {"order_id": "A12", "rush": True}),
    ):
        validator.validate(message)
