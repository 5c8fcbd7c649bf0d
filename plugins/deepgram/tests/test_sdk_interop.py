"""The vendor's own client against our simulator, and the vendor's models as judge.

The Deepgram Python SDK (PyPI ``deepgram-sdk``, a dev requirement) is pointed
at the simulator through its public option ``environment=
DeepgramClientEnvironment(base=…, production=…, agent=…, agent_rest=…)``
(``deepgram/environment.py``); its Voice Agent client then opens
``{agent}/v1/agent/converse`` with ``Authorization: Token <key>``
(``deepgram/agent/v1/raw_client.py``). No patching, no private attribute.

* a whole turn (Welcome → Settings → SettingsApplied → user audio →
  transcripts → agent audio → AgentAudioDone) with the async client, and with
  the sync client;
* a tool round trip (FunctionCallRequest → ``send_function_call_response``);
* a wrong key: the SDK's ``ApiError(401)``; the grant flow: the SDK's
  ``auth.v1.tokens.grant()`` and a bearer ``access_token`` client;
* every server message the simulator sends, in every scenario but the
  test-only ``malformed`` one, validates with the SDK's own model for its
  type and carries no field the model does not declare; every client message
  our codec sends validates with the SDK's client-message models the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Callable
from typing import Any

import pytest
from pydantic import BaseModel

deepgram = pytest.importorskip("deepgram", reason="needs deepgram-sdk (requirements-dev.txt)")

from deepgram import AsyncDeepgramClient, DeepgramClient, DeepgramClientEnvironment  # noqa: E402
from deepgram.agent.v1 import types as dg  # noqa: E402
from deepgram.core.api_error import ApiError  # noqa: E402

from voiceadapters.audio import StreamConverter, best_alignment, pcm_to_array  # noqa: E402
from voiceadapters.commands import Close, SendAudio, SendText, SendToolResult  # noqa: E402
from voiceadapters.events import ToolCall  # noqa: E402
from voiceadapters.format import AudioFormat  # noqa: E402
from voiceadapters.handshake import CloseFrame  # noqa: E402
from voiceadapters.testing import CodecPair, serve_simulator  # noqa: E402
from voiceadapters_deepgram import SCENARIOS  # noqa: E402

KEY = "dg_interop_DO-NOT-LEAK_77aa01"
TIMEOUT = 20

#: The SDK's model for each server message type (``V1SocketClientResponse``).
SERVER_MODELS: dict[str, type[BaseModel]] = {
    "Welcome": dg.AgentV1Welcome,
    "SettingsApplied": dg.AgentV1SettingsApplied,
    "ConversationText": dg.AgentV1ConversationText,
    "UserStartedSpeaking": dg.AgentV1UserStartedSpeaking,
    "AgentThinking": dg.AgentV1AgentThinking,
    "FunctionCallRequest": dg.AgentV1FunctionCallRequest,
    "FunctionCallResponse": dg.AgentV1ReceiveFunctionCallResponse,
    "AgentStartedSpeaking": dg.AgentV1AgentStartedSpeaking,
    "AgentAudioDone": dg.AgentV1AgentAudioDone,
    "Error": dg.AgentV1Error,
    "Warning": dg.AgentV1Warning,
    "PromptUpdated": dg.AgentV1PromptUpdated,
}
#: The SDK's model for each client message type (the ``send_*`` methods' arguments).
CLIENT_MODELS: dict[str, type[BaseModel]] = {
    "Settings": dg.AgentV1Settings,
    "KeepAlive": dg.AgentV1KeepAlive,
    "InjectUserMessage": dg.AgentV1InjectUserMessage,
    "FunctionCallResponse": dg.AgentV1SendFunctionCallResponse,
}


def undeclared(model: BaseModel, path: str = "") -> list[str]:
    """Fields of ``model`` (recursively) that its class does not declare: the
    SDK's models allow extras, so validation alone would not catch a typo."""
    found = [f"{path}{name}" for name in (model.model_extra or {})]
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list | tuple) else [value]
        for i, item in enumerate(items):
            if isinstance(item, BaseModel):
                suffix = f"[{i}]" if isinstance(value, list | tuple) else ""
                found += undeclared(item, f"{path}{name}{suffix}.")
    return found


def judge(frame: str, models: dict[str, type[BaseModel]]) -> BaseModel:
    message = json.loads(frame)
    model = models[message["type"]].model_validate(message)
    assert undeclared(model) == [], f"{message['type']}: fields the SDK does not declare"
    return model


def environment(port: int) -> DeepgramClientEnvironment:
    http, ws = f"http://127.0.0.1:{port}", f"ws://127.0.0.1:{port}"
    return DeepgramClientEnvironment(base=http, production=ws, agent=ws, agent_rest=http)


def sdk_settings(*, functions: bool = False) -> dg.AgentV1Settings:
    """Settings built with the SDK's own models (as an SDK user writes them)."""
    think: dict[str, Any] = {"provider": {"type": "open_ai", "model": "gpt-4o-mini"}}
    if functions:
        think["functions"] = [
            {
                "name": "lookup_utterance",
                "description": "How long the user spoke",
                "parameters": {"type": "object", "properties": {"seconds": {"type": "number"}}},
            }
        ]
    return dg.AgentV1Settings(
        audio=dg.AgentV1SettingsAudio(
            input=dg.AgentV1SettingsAudioInput(encoding="linear16", sample_rate=16000),
            output=dg.AgentV1SettingsAudioOutput(
                encoding="linear16", sample_rate=24000, container="none"
            ),
        ),
        agent=dg.AgentV1SettingsAgent.model_validate(
            {
                "listen": {"provider": {"type": "deepgram", "version": "v1", "model": "nova-3"}},
                "think": think,
                "speak": {"provider": {"type": "deepgram", "model": "aura-2-thalia-en"}},
            }
        ),
    )


def echo_ncc(sent16: bytes, received24: bytes) -> float:
    conv = StreamConverter(AudioFormat(24000), AudioFormat(16000))
    back = conv.convert(received24) + conv.flush()
    speech = sent16[: len(sent16) - 32000]  # without the trailing silence
    _, ncc = best_alignment(pcm_to_array(speech), pcm_to_array(back))
    return ncc


async def run_turn(
    agent: Any, speech: bytes, *, answer_tools: bool = False
) -> tuple[list[Any], bytes]:
    """Send ``speech`` in 20 ms frames, collect parsed messages and agent audio
    until ``AgentAudioDone``."""
    messages: list[Any] = []
    audio = bytearray()

    async def sender() -> None:
        for i in range(0, len(speech), 640):
            await agent.send_media(speech[i : i + 640])
            await asyncio.sleep(0)

    task = asyncio.create_task(sender())
    try:
        while True:
            message = await asyncio.wait_for(agent.recv(), TIMEOUT)
            if isinstance(message, bytes):
                audio += message
                continue
            # The SDK's own parser picked the model of the message's type.
            assert isinstance(message, SERVER_MODELS[message.type]), message
            messages.append(message)
            if isinstance(message, dg.AgentV1FunctionCallRequest) and answer_tools:
                call = message.functions[0]
                await agent.send_function_call_response(
                    dg.AgentV1SendFunctionCallResponse(
                        id=call.id, name=call.name, content='{"ok": true}'
                    )
                )
            if isinstance(message, dg.AgentV1AgentAudioDone):
                return messages, bytes(audio)
    finally:
        await task


async def test_the_async_sdk_runs_a_whole_turn(speech16: bytes) -> None:
    async with serve_simulator("deepgram", api_key=KEY, scenario="echo") as (server, _, sim):
        client = AsyncDeepgramClient(api_key=KEY, environment=environment(server.port))
        async with client.agent.v1.connect() as agent:
            welcome = await asyncio.wait_for(agent.recv(), TIMEOUT)
            assert isinstance(welcome, dg.AgentV1Welcome) and welcome.request_id
            await agent.send_settings(sdk_settings())
            applied = await asyncio.wait_for(agent.recv(), TIMEOUT)
            assert isinstance(applied, dg.AgentV1SettingsApplied)
            messages, audio = await run_turn(agent, speech16)
        kinds = [type(m).__name__ for m in messages]
        assert kinds[0] == "AgentV1UserStartedSpeaking"
        texts = [m for m in messages if isinstance(m, dg.AgentV1ConversationText)]
        assert next(t.role for t in texts) == "user" and "assistant" in [t.role for t in texts]
        assert "AgentV1AgentStartedSpeaking" in kinds and kinds[-1] == "AgentV1AgentAudioDone"
        assert echo_ncc(speech16, audio) >= 0.9
        # The SDK's Settings reached the simulator as the SDK serialised it.
        connection = sim.connections[-1]
        assert connection.settings is not None
        judge(json.dumps(connection.settings), CLIENT_MODELS)


async def test_the_async_sdk_runs_a_tool_round_trip(speech16: bytes) -> None:
    async with serve_simulator("deepgram", api_key=KEY, scenario="tool_call") as (server, _, sim):
        client = AsyncDeepgramClient(api_key=KEY, environment=environment(server.port))
        async with client.agent.v1.connect() as agent:
            await asyncio.wait_for(agent.recv(), TIMEOUT)
            await agent.send_settings(sdk_settings(functions=True))
            await asyncio.wait_for(agent.recv(), TIMEOUT)
            messages, audio = await run_turn(agent, speech16, answer_tools=True)
        requests = [m for m in messages if isinstance(m, dg.AgentV1FunctionCallRequest)]
        assert len(requests) == 1
        call = requests[0].functions[0]
        assert call.client_side and call.name == "lookup_utterance"
        assert json.loads(call.arguments)["turn"] == 1
        replies = [
            m.content
            for m in messages
            if isinstance(m, dg.AgentV1ConversationText) and m.role == "assistant"
        ]
        assert any('The tool said {"ok": true}' in r for r in replies)
        assert audio
        connection = sim.connections[-1]
        assert list(connection.function_responses) == [
            (call.id, "lookup_utterance", '{"ok": true}')
        ]


async def test_the_sync_sdk_runs_a_whole_turn(speech16: bytes) -> None:
    async with serve_simulator("deepgram", api_key=KEY, scenario="echo") as (server, _, _sim):
        result: dict[str, Any] = {}

        def run() -> None:
            client = DeepgramClient(api_key=KEY, environment=environment(server.port))
            with client.agent.v1.connect() as agent:
                assert isinstance(agent.recv(), dg.AgentV1Welcome)
                agent.send_settings(sdk_settings())
                assert isinstance(agent.recv(), dg.AgentV1SettingsApplied)
                for i in range(0, len(speech16), 640):
                    agent.send_media(speech16[i : i + 640])
                audio = bytearray()
                kinds = []
                while True:
                    message = agent.recv()
                    if isinstance(message, bytes):
                        audio += message
                        continue
                    assert isinstance(message, SERVER_MODELS[message.type]), message
                    kinds.append(type(message).__name__)
                    if isinstance(message, dg.AgentV1AgentAudioDone):
                        break
                result["audio"], result["kinds"] = bytes(audio), kinds

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        await asyncio.to_thread(thread.join, TIMEOUT)
        assert not thread.is_alive(), "the sync client did not finish its turn"
    assert "AgentV1ConversationText" in result["kinds"]
    assert echo_ncc(speech16, result["audio"]) >= 0.9


async def test_the_sdk_with_a_wrong_key_gets_its_401() -> None:
    async with serve_simulator("deepgram", api_key=KEY) as (server, _, sim):
        client = AsyncDeepgramClient(api_key="wrong-key", environment=environment(server.port))
        with pytest.raises(ApiError) as caught:
            async with client.agent.v1.connect():
                pass
        assert caught.value.status_code == 401
        assert len(sim.connections) == 0


async def test_the_sdk_grant_and_a_bearer_token_client() -> None:
    async with serve_simulator("deepgram", api_key=KEY) as (server, _, sim):
        env = environment(server.port)
        granted = await AsyncDeepgramClient(api_key=KEY, environment=env).auth.v1.tokens.grant()
        assert granted.access_token and granted.expires_in == 30
        client = AsyncDeepgramClient(access_token=granted.access_token, environment=env)
        async with client.agent.v1.connect() as agent:
            assert isinstance(await asyncio.wait_for(agent.recv(), TIMEOUT), dg.AgentV1Welcome)
        with pytest.raises(ApiError) as caught:
            await AsyncDeepgramClient(api_key="wrong", environment=env).auth.v1.tokens.grant()
        assert caught.value.status_code == 401
        assert sim.grants == 1


# -- both directions, judged by the SDK's models (in memory, every scenario) -----------


def drive(pair: CodecPair, speech: bytes, scenario: str) -> None:
    """Two user turns (text and speech), tool results, keep-alives, then close."""
    pair.send(SendText(text="hello from the text box"))
    for turn in range(2):
        for i in range(0, len(speech), 640):
            if pair.ended:
                return
            pair.send(SendAudio(pcm=speech[i : i + 640]))
            pair.advance(0.02)
        with contextlib.suppress(TimeoutError):
            pair.run_until(lambda ev: any(e.type == "agent_audio_done" for e in ev), timeout=15)
        for call in [e for e in pair.events if isinstance(e, ToolCall)][turn:]:
            if pair.ended:
                return
            pair.send(SendToolResult(call_id=call.call_id, output='{"n": 1}'))
        if pair.ended:
            return
    pair.advance(10)  # keep-alives in silence
    if not pair.ended:
        pair.send(SendAudio(pcm=bytes(640)))
        pair.codec.handle_command(Close())
        pair.pump()


@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "malformed"])
def test_every_server_and_client_message_fits_the_sdk_models(
    scenario: str, make_pair: Callable[..., CodecPair], speech16: bytes
) -> None:
    pair = make_pair(scenario)
    drive(pair, speech16, scenario)
    server_text = [f for f in pair.server_frames if isinstance(f, str)]
    client_text = [f for f in pair.client_frames if isinstance(f, str)]
    server_types = {judge(f, SERVER_MODELS).type for f in server_text}  # type: ignore[attr-defined]
    client_types = {judge(f, CLIENT_MODELS).type for f in client_text}  # type: ignore[attr-defined]
    assert {"Welcome", "SettingsApplied", "ConversationText"} <= server_types
    assert {"Settings", "InjectUserMessage"} <= client_types
    if scenario == "tool_call":
        assert "FunctionCallRequest" in server_types and "FunctionCallResponse" in client_types
    if scenario == "errors":
        assert {"Error", "Warning"} <= server_types
    if scenario not in ("drop", "server_shutdown"):
        assert "KeepAlive" in client_types
    assert all(
        isinstance(f, bytes | CloseFrame) for f in pair.client_frames if not isinstance(f, str)
    )


def test_the_codec_settings_with_every_option_fit_the_sdk_model(
    make_pair: Callable[..., CodecPair],
) -> None:
    options = {
        "prompt": "Be brief.",
        "greeting": "Hello!",
        "think_model": "gpt-4o",
        "speak_model": "aura-2-andromeda-en",
        "listen_model": "nova-3",
        "language": "de",
        "functions": json.dumps(
            [{"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}}]
        ),
    }
    pair = make_pair("echo", options=options)
    settings = judge(str(pair.client_frames[0]), CLIENT_MODELS)
    assert isinstance(settings, dg.AgentV1Settings)
    assert settings.audio.input is not None and settings.audio.input.sample_rate == 16000
    assert settings.audio.output is not None and settings.audio.output.sample_rate == 24000
    agent = settings.agent
    assert isinstance(agent, dg.AgentV1SettingsAgent)
    assert agent.greeting == "Hello!"
    think = agent.think
    assert think is not None and not isinstance(think, list)
    assert think.prompt == "Be brief." and think.functions is not None
    assert think.functions[0].name == "get_weather" and think.functions[0].endpoint is None
