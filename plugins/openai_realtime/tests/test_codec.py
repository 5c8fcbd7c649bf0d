"""The codec without a network: config strings, the handshake as data, the
``session.update`` each option makes (judged by the SDK's client models),
beta-era names, errors, usage, G.711."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from voiceadapters.config import parse_config, resolve_config
from voiceadapters.errors import ConfigError
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentText,
    ProviderError,
    SessionEnded,
    SessionStarted,
    ToolCall,
    UnknownMessage,
    Usage,
    UserTranscript,
)
from voiceadapters.secrets import Secret
from voiceadapters_openai import RealtimeCodec, g711

KEY = "sk-live-secret-9999"


def _codec(provider: str, text: str, env: dict[str, str] | None = None, **options: Any) -> Any:
    from voiceadapters.registry import registry

    spec = registry.get(provider)
    config = resolve_config(parse_config(text), spec, environ=env or {}, **options)
    return spec.make_codec(config)


def _opened(codec: Any) -> list[dict[str, Any]]:
    codec.handshake_step()
    codec.connection_opened()
    return [json.loads(f) for f in codec.frames_to_send()]


def _feed(codec: Any, *messages: dict[str, Any]) -> list[Any]:
    for message in messages:
        codec.receive_frame(json.dumps(message))
    return codec.events_received()


def test_openai_url_model_and_bearer_from_the_environment() -> None:
    codec = _codec("openai", "openai://?model=gpt-realtime", {"OPENAI_API_KEY": KEY})
    step = codec.handshake_step()
    assert step.reveal_url() == "wss://api.openai.com/v1/realtime?model=gpt-realtime"
    assert step.reveal_headers() == {"Authorization": f"Bearer {KEY}"}
    assert "OpenAI-Beta" not in step.reveal_headers()  # the GA client sends none
    assert KEY not in repr(step) and KEY not in repr(codec) and KEY not in step.describe()


def test_azure_url_deployment_api_version_and_api_key_header() -> None:
    codec = _codec(
        "azure-openai",
        "azure-openai://myres.openai.azure.com?deployment=rt&api_version=2025-04-01-preview",
        {"AZURE_OPENAI_API_KEY": KEY},
    )
    step = codec.handshake_step()
    assert step.reveal_url() == (
        "wss://myres.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=rt"
    )
    assert step.reveal_headers() == {"api-key": KEY}
    assert isinstance(dict(step.headers)["api-key"], Secret)


def test_azure_needs_a_deployment_and_a_resource_host() -> None:
    env = {"AZURE_OPENAI_API_KEY": KEY}
    with pytest.raises(ConfigError, match="deployment"):
        _codec("azure-openai", "azure-openai://myres.openai.azure.com", env)
    with pytest.raises(ConfigError, match="resource host"):
        _codec("azure-openai", "azure-openai://?deployment=rt", env)


def test_openai_needs_a_key_and_never_uses_it_for_compatible_servers() -> None:
    with pytest.raises(ConfigError, match="OPENAI_API_KEY"):
        _codec("openai", "openai://")
    # openai-compatible ignores OPENAI_API_KEY (it must not travel to another host).
    codec = _codec(
        "openai-compatible",
        "openai-compatible://gw.example.com/v2?model=m",
        {"OPENAI_API_KEY": KEY},
    )
    step = codec.handshake_step()
    assert step.reveal_url() == "wss://gw.example.com/v2/realtime?model=m"
    assert step.reveal_headers() == {}
    codec = _codec(
        "openai-compatible",
        "openai-compatible://127.0.0.1:8000?tls=false&model=m",
        {"OPENAI_COMPATIBLE_API_KEY": KEY},
    )
    step = codec.handshake_step()
    assert step.reveal_url() == "ws://127.0.0.1:8000/v1/realtime?model=m"
    assert step.reveal_headers() == {"Authorization": f"Bearer {KEY}"}


@pytest.mark.parametrize(
    "bad",
    [
        "openai://?turn_detection=sometimes",
        "openai://?audio_format=opus",
        "openai://?modalities=video",
        "openai://?tools=not-json",
        'openai://?tools=[{"type":"mcp","name":"x"}]',
        "openai://?temperature=9",
        "openai://?colour=blue",
    ],
)
def test_bad_options_are_config_errors(bad: str) -> None:
    with pytest.raises(ConfigError):
        _codec("openai", bad, {"OPENAI_API_KEY": KEY})


def test_the_default_session_update_is_ga_and_valid(kit: Any) -> None:
    codec = _codec("openai", "openai://", {"OPENAI_API_KEY": KEY})
    (update,) = _opened(codec)
    kit.sdk_client_event(update)
    assert update == {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "gpt-4o-mini-transcribe"},
                    "turn_detection": {"type": "server_vad"},
                },
                "output": {"format": {"type": "audio/pcm", "rate": 24000}},
            },
        },
    }


def test_every_session_option_reaches_the_session_update(kit: Any) -> None:
    tools = json.dumps(
        [
            {
                "name": "weather",
                "description": "d",
                "parameters": {"type": "object", "properties": {}},
            }
        ]
    )
    codec = _codec(
        "openai",
        "openai://?voice=marin&instructions=Be%20brief&turn_detection=semantic_vad&eagerness=low"
        "&interrupt_response=false&transcription_model=whisper-1&transcription_language=de"
        f"&tool_choice=auto&modalities=text&audio_format=pcmu&tools={tools}",
        {"OPENAI_API_KEY": KEY},
    )
    (update,) = _opened(codec)
    kit.sdk_client_event(update)
    session = update["session"]
    assert session["instructions"] == "Be brief"
    assert session["output_modalities"] == ["text"]
    assert session["tools"] == [{"type": "function", **json.loads(tools)[0]}]
    assert session["tool_choice"] == "auto"
    audio_in = session["audio"]["input"]
    assert audio_in["format"] == {"type": "audio/pcmu"}
    assert audio_in["turn_detection"] == {
        "type": "semantic_vad",
        "eagerness": "low",
        "interrupt_response": False,
    }
    assert audio_in["transcription"] == {"model": "whisper-1", "language": "de"}
    assert session["audio"]["output"] == {"format": {"type": "audio/pcmu"}, "voice": "marin"}
    assert codec.wire_input.sample_rate == 8000


def test_server_vad_settings_none_and_kwargs(kit: Any) -> None:
    codec = _codec(
        "openai",
        "openai://?silence_duration_ms=500&vad_threshold=0.6",
        {"OPENAI_API_KEY": KEY},
        prefix_padding_ms=200,
        transcription_model="none",
    )
    (update,) = _opened(codec)
    kit.sdk_client_event(update)
    audio_in = update["session"]["audio"]["input"]
    assert audio_in["turn_detection"] == {
        "type": "server_vad",
        "threshold": 0.6,
        "silence_duration_ms": 500,
        "prefix_padding_ms": 200,
    }
    assert "transcription" not in audio_in
    codec = _codec("openai", "openai://?turn_detection=none", {"OPENAI_API_KEY": KEY})
    (update,) = _opened(codec)
    kit.sdk_client_event(update)
    assert update["session"]["audio"]["input"]["turn_detection"] is None


def test_temperature_is_the_one_beta_field_and_only_sent_when_set() -> None:
    codec = _codec("openai", "openai://?temperature=0.7", {"OPENAI_API_KEY": KEY})
    (update,) = _opened(codec)
    assert update["session"]["temperature"] == 0.7


def _ids(kind: str) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": "e",
        "response_id": "r1",
        "item_id": "i1",
        "output_index": 0,
        "content_index": 0,
    }


@pytest.mark.parametrize("beta", [False, True], ids=["ga", "beta"])
def test_ga_and_beta_event_names_map_to_the_same_events(beta: bool) -> None:
    codec = _codec("openai", "openai://", {"OPENAI_API_KEY": KEY})
    _opened(codec)
    audio = "response.audio" if beta else "response.output_audio"
    transcript = "response.audio_transcript" if beta else "response.output_audio_transcript"
    text = "response.text" if beta else "response.output_text"
    events = _feed(
        codec,
        {
            "type": "session.created",
            "event_id": "e",
            "session": {"id": "sess_9", "type": "realtime"},
        },
        {"type": "response.created", "event_id": "e", "response": {"id": "r1"}},
        {**_ids(f"{audio}.delta"), "delta": "AAABAA=="},
        {**_ids(f"{transcript}.delta"), "delta": "Hel"},
        {**_ids(f"{transcript}.delta"), "delta": "lo"},
        {**_ids(f"{transcript}.done"), "transcript": "Hello"},
        {**_ids(f"{text}.delta"), "response_id": "r2", "delta": "x"},
        {**_ids(f"{text}.done"), "response_id": "r2", "text": "xy"},
        {**_ids(f"{audio}.done")},
        {
            "type": "response.done",
            "event_id": "e",
            "response": {
                "id": "r1",
                "usage": {"total_tokens": 9, "input_tokens": 4, "output_tokens": 5},
            },
        },
    )
    assert events == [
        SessionStarted(session_id="sess_9"),
        AgentAudio(pcm=b"\x00\x00\x01\x00", format=codec.wire_output, turn_id="r1"),
        AgentText(text="Hel", delta="Hel", final=False, turn_id="r1"),
        AgentText(text="Hello", delta="lo", final=False, turn_id="r1"),
        AgentText(text="Hello", delta="", final=True, turn_id="r1"),
        AgentText(text="x", delta="x", final=False, turn_id="r2"),
        AgentText(text="xy", delta="y", final=True, turn_id="r2"),
        AgentAudioDone(turn_id="r1"),
        Usage(turn_id="r1", input_tokens=4, output_tokens=5, total_tokens=9),
    ]


def test_user_transcripts_interim_then_final() -> None:
    codec = _codec("openai", "openai://", {"OPENAI_API_KEY": KEY})
    _opened(codec)
    kind = "conversation.item.input_audio_transcription"
    events = _feed(
        codec,
        {
            "type": f"{kind}.delta",
            "event_id": "e",
            "item_id": "u1",
            "content_index": 0,
            "delta": "hi ",
        },
        {
            "type": f"{kind}.delta",
            "event_id": "e",
            "item_id": "u1",
            "content_index": 0,
            "delta": "there",
        },
        {
            "type": f"{kind}.completed",
            "event_id": "e",
            "item_id": "u1",
            "content_index": 0,
            "transcript": "hi there",
            "usage": {"type": "duration", "seconds": 1},
        },
        {
            "type": f"{kind}.failed",
            "event_id": "e",
            "item_id": "u2",
            "content_index": 0,
            "error": {"code": "audio_unintelligible", "message": "no"},
        },
    )
    assert events == [
        UserTranscript(text="hi ", final=False, turn_id="u1"),
        UserTranscript(text="hi there", final=False, turn_id="u1"),
        UserTranscript(text="hi there", final=True, turn_id="u1"),
        ProviderError(code="audio_unintelligible", message="no"),
    ]


def test_tool_calls_once_with_arguments_and_malformed_arguments_reported() -> None:
    codec = _codec("openai", "openai://", {"OPENAI_API_KEY": KEY})
    _opened(codec)
    done = {
        "type": "response.function_call_arguments.done",
        "event_id": "e",
        "response_id": "r",
        "item_id": "f",
        "output_index": 0,
    }
    item = {
        "type": "function_call",
        "id": "f",
        "call_id": "c1",
        "name": "w",
        "arguments": '{"a":1}',
        "status": "completed",
    }
    events = _feed(
        codec,
        {**done, "call_id": "c1", "name": "w", "arguments": '{"a":1}'},
        {
            "type": "response.output_item.done",
            "event_id": "e",
            "response_id": "r",
            "output_index": 0,
            "item": item,
        },
        {
            "type": "response.output_item.done",
            "event_id": "e",
            "response_id": "r",
            "output_index": 0,
            "item": {**item, "call_id": "c2"},
        },
        {**done, "call_id": "c3", "name": "w", "arguments": "[1,"},
    )
    assert events[:2] == [
        ToolCall(call_id="c1", name="w", arguments={"a": 1}),
        ToolCall(call_id="c2", name="w", arguments={"a": 1}),
    ]
    assert isinstance(events[2], ProviderError) and events[2].code == "malformed_tool_arguments"
    assert events[3] == ToolCall(call_id="c3", name="w", arguments={})


def test_errors_unknown_and_malformed_input_never_raise() -> None:
    codec = _codec("openai", "openai://", {"OPENAI_API_KEY": KEY})
    _opened(codec)
    events = _feed(
        codec,
        {
            "type": "error",
            "event_id": "e",
            "error": {
                "type": "invalid_request_error",
                "code": "invalid_value",
                "message": "bad",
                "param": None,
                "event_id": "c1",
            },
        },
        {"type": "error", "event_id": "e", "error": {"type": "server_error", "message": "boom"}},
        {"type": "brand.new.event", "event_id": "e"},
        {"type": "session.updated", "event_id": "e", "session": {}},
        {
            "type": "response.output_audio.delta",
            "event_id": "e",
            "response_id": "r",
            "delta": "***",
        },
        {"type": "response.output_audio.delta", "event_id": "e", "response_id": 5},
        {"no": "type"},
    )
    assert events[0] == ProviderError(code="invalid_value", message="bad")
    assert events[1] == ProviderError(code="server_error", message="boom")
    assert isinstance(events[2], UnknownMessage)
    assert [e.code for e in events[3:]] == [
        "malformed_audio",
        "malformed_message",
        "malformed_message",
    ]
    codec.receive_frame("not json")
    codec.receive_frame(b"\xff\xfe")
    assert all(isinstance(e, ProviderError) for e in codec.events_received())
    assert not codec.ended


def test_session_expired_is_fatal_ends_with_timeout_and_is_resumable() -> None:
    codec = _codec("openai", "openai://", {"OPENAI_API_KEY": KEY})
    _opened(codec)
    events = _feed(
        codec,
        {
            "type": "error",
            "event_id": "e",
            "error": {
                "type": "invalid_request_error",
                "code": "session_expired",
                "message": "Your session hit the maximum duration of 60 minutes.",
            },
        },
    )
    assert events == [
        ProviderError(
            code="session_expired",
            message="Your session hit the maximum duration of 60 minutes.",
            fatal=True,
        ),
        SessionEnded(reason="timeout", provider_reason="session_expired"),
    ]
    assert codec.resumable


def test_commands_become_valid_ga_client_events(kit: Any) -> None:
    from voiceadapters.commands import EndTurn, SendAudio, SendText, SendToolResult

    codec = _codec("openai", "openai://", {"OPENAI_API_KEY": KEY})
    _opened(codec)
    codec.handle_command(SendAudio(pcm=b"\x01\x00\x02\x00"))
    codec.handle_command(SendText(text="hi"))
    codec.handle_command(SendToolResult.from_value("c1", {"ok": True}))
    codec.handle_command(EndTurn())
    sent = [json.loads(f) for f in codec.frames_to_send()]
    for message in sent:
        kit.sdk_client_event(message)
    assert [m["type"] for m in sent] == [
        "input_audio_buffer.append",
        "conversation.item.create",
        "response.create",
        "conversation.item.create",
        "response.create",
        "input_audio_buffer.commit",
        "response.create",
    ]
    assert sent[3]["item"] == {
        "type": "function_call_output",
        "call_id": "c1",
        "output": '{"ok":true}',
    }


@pytest.mark.parametrize("law", ["pcmu", "pcma"])
def test_g711_round_trip_is_close(law: g711.Law) -> None:
    import numpy as np

    x = (np.sin(np.arange(800) / 8000 * 2 * np.pi * 300) * 12000).astype("<i2")
    y = np.frombuffer(g711.expand(g711.compress(x.tobytes(), law), law), "<i2")
    assert len(y) == len(x)
    assert np.max(np.abs(x.astype(int) - y)) <= 12000 // 16 + 8  # G.711 step at this level
    assert np.corrcoef(x, y)[0, 1] > 0.999


def test_the_entry_point_is_cheap() -> None:
    code = (
        "import sys, voiceadapters_openai.plugin as p; p.voiceadapters_providers();"
        "bad=[m for m in ('voiceadapters_openai.codec','voiceadapters_openai.simulator','numpy','openai') if m in sys.modules];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_codec_class_is_exported_lazily() -> None:
    import voiceadapters_openai

    assert voiceadapters_openai.RealtimeCodec is RealtimeCodec
