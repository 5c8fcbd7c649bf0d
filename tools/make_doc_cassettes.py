"""Write the hand-made cassettes: each first-party provider's documented
example messages as one protocol exchange (docs/cassettes.md#shipped-cassettes).

The messages are copied from the providers' documentation (each cassette's
header names its sources); where the documentation abbreviates audio
("AAAB…") a few bytes of PCM complete it, and that is said in the header.
The expected events are written here by hand from the same documents and
the event model (docs/concepts/events.md) — never produced by running the
adapter, so a replay checks the adapter against the documents.

    python tools/make_doc_cassettes.py            # rewrites plugins/*/tests/cassettes/docs-*.jsonl
    python tools/make_doc_cassettes.py deepgram   # only these providers' files
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from voiceadapters import __version__
from voiceadapters.cassette.format import FORMAT_NAME, FORMAT_VERSION, MARKER
from voiceadapters.events import SCHEMA_VERSION

ROOT = Path(__file__).resolve().parent.parent
CREATED = "2026-12-04T00:00:00Z"


class Script:
    """Lines of one hand-made cassette, timed 10 ms apart."""

    def __init__(self, header: dict[str, Any]) -> None:
        self.lines: list[dict[str, Any]] = [
            {
                "cassette": FORMAT_NAME,
                "version": FORMAT_VERSION,
                "schema_version": SCHEMA_VERSION,
                "core_version": __version__,
                "created": CREATED,
                "audio": "keep",
                "source": "hand-made",
                **header,
            }
        ]
        self.t = 0.0
        self.counts: dict[str, int] = {}

    def _add(self, kind: str, **fields: Any) -> None:
        self.t = round(self.t + 0.01, 3)
        self.lines.append({"k": kind, "t": self.t, **fields})

    def http(
        self,
        method: str,
        url: str,
        headers: dict[str, str],
        status: int,
        response: Any,
        request_json: Any = None,
    ) -> None:
        request: dict[str, Any] = {"method": method, "url": url, "headers": headers}
        if request_json is not None:
            request["json"] = request_json
        self._add("http_request", **request)
        self._add(
            "http_response",
            status=status,
            json=response,
            headers={"Content-Type": "application/json"},
        )

    def open(self, url: str, headers: dict[str, str] | None = None) -> None:
        self._add("ws_open", conn=1, url=url, headers=headers or {})

    def _message(self, direction: str, payload: str | bytes | dict[str, Any]) -> None:
        n = self.counts[direction] = self.counts.get(direction, 0) + 1
        if isinstance(payload, bytes):
            self._add(
                direction,
                conn=1,
                n=n,
                type="binary",
                bytes=len(payload),
                binary=base64.b64encode(payload).decode("ascii"),
            )
        else:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            self._add(direction, conn=1, n=n, type="text", text=text)

    def send(self, payload: str | bytes | dict[str, Any]) -> None:
        self._message("send", payload)

    def recv(self, payload: str | bytes | dict[str, Any]) -> None:
        self._message("recv", payload)

    def event(self, **event: Any) -> None:
        self._add("event", conn=1, after=self.counts.get("recv", 0), event=event)

    def close(self, code: int = 1000) -> None:
        self._add("close", conn=1, code=code, reason="")
        self._add("closed", conn=1, code=code, reason="")

    def write(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as f:
            for line in [*self.lines, {"k": "end", "t": round(self.t + 0.01, 3)}]:
                f.write(json.dumps(line, ensure_ascii=False) + "\n")


def vatel() -> Script:
    agent = "c0ffee00-0000-4000-8000-0000000000a1"
    s = Script(
        {
            "provider": "vatel",
            "config": f"vatel://?agent_id={agent}",
            "tool_output": '{"ok":true}',
            "attribution": (
                "Messages copied from the Vatel documentation as summarised in the Vatel wire spec "
                "(protocols/vatel.md §4-§5 examples, from the Vatel OpenAPI 0.2.3 in "
                "Devpro-Software/vatel-py-sdk) and the Next.js Session WebSocket demo "
                "(docs.vatel.ai, seed 000: POST /v1/session-token with Authorization: Bearer, "
                "then wss://api.vatel.ai/v1/connection?token=<jwt>). The documented "
                "input_audio example 'AAABAP7/…' is cut to 'AAABAP7/'."
            ),
        }
    )
    s.http(
        "POST",
        "https://api.vatel.ai/v1/session-token",
        {"Authorization": f"Bearer {MARKER}", "Content-Type": "application/json"},
        200,
        {"token": MARKER},
        request_json={"agent_id": agent},
    )
    s.open(f"wss://api.vatel.ai/v1/connection?token={MARKER}")
    s.recv('{"type":"session_started","data":{"id":"c0ffee00-0000-4000-8000-000000000001"}}')
    s.event(type="session_started", session_id="c0ffee00-0000-4000-8000-000000000001")
    s.send('{"type":"input_audio","data":{"audio":"AAABAP7/"}}')
    s.recv('{"type":"speech_started","data":{"emulated":false}}')
    s.event(type="user_speech_started", emulated=False)
    s.recv('{"type":"input_audio_transcript","data":{"transcript":"book a table","is_final":true}}')
    s.event(type="user_transcript", text="book a table", final=True, confidence=None, turn_id=None)
    s.recv(
        '{"type":"response_text","data":{"turn_id":"t-7","text":"Hello, how can I help?","is_final":true}}'
    )
    s.event(
        type="agent_text",
        text="Hello, how can I help?",
        delta="Hello, how can I help?",
        final=True,
        turn_id="t-7",
    )
    s.recv(
        '{"type":"response_audio","data":{"turn_id":"t-7","audio":"AAAAAP//AQA=","is_final":false}}'
    )
    s.event(
        type="agent_audio", bytes=8, duration_ms=0.167, sample_rate=24000, channels=1, turn_id="t-7"
    )
    s.recv(
        '{"type":"tool_call","data":{"toolCallId":"tc_1","toolName":"lookup_order","arguments":'
        '[{"name":"order_id","type":"resolved","dataType":"string","required":true,"value":"A12"}]}}'
    )
    s.event(type="tool_call", call_id="tc_1", name="lookup_order", arguments={"order_id": "A12"})
    s.send('{"type":"tool_call_output","data":{"toolCallId":"tc_1","output":"{\\"ok\\":true}"}}')
    s.recv('{"type":"session_ended","data":{}}')
    s.event(type="session_ended", reason="completed", provider_reason=None, close_code=None)
    s.close()
    return s


def binary_pcm() -> Script:
    frame = bytes(range(0, 256)) * 2 + bytes(128)  # 640 bytes: one 20 ms frame at 16 kHz
    s = Script(
        {
            "provider": "binary-pcm",
            "config": "binary-pcm://",
            "attribution": (
                "Copied from the WorkBuddy SDK quick start (docs.getworkbuddy.com, seed 003, "
                "summarised in protocols/binary-pcm.md §1-§5): POST /api/v1/sdk/token with "
                "Authorization: Bearer and Content-Type: application/json, the {token, ws_url} "
                "answer, {token} as the first message, 'connected', 'agent_ready', 640-byte "
                "PCM16 16 kHz frames both ways, session_ended with reason 'agent_disconnected'. "
                "The audio bytes are made up (the docs show none)."
            ),
        }
    )
    s.http(
        "POST",
        "https://api.getworkbuddy.com/api/v1/sdk/token",
        {"Authorization": f"Bearer {MARKER}", "Content-Type": "application/json"},
        200,
        {"token": MARKER, "ws_url": "wss://api.getworkbuddy.com/api/v1/sdk/ws"},
    )
    s.open("wss://api.getworkbuddy.com/api/v1/sdk/ws")
    s.send(json.dumps({"token": MARKER}))
    s.recv('{"type":"connected"}')
    s.event(type="session_started", session_id=None)
    s.recv('{"type":"agent_ready"}')
    s.event(type="agent_ready")
    s.send(frame)
    s.recv(frame)
    s.event(
        type="agent_audio", bytes=640, duration_ms=20.0, sample_rate=16000, channels=1, turn_id=None
    )
    s.recv('{"type":"session_ended","reason":"agent_disconnected"}')
    s.event(
        type="session_ended",
        reason="completed",
        provider_reason="agent_disconnected",
        close_code=None,
    )
    s.close()
    return s


def nextevi() -> Script:
    frame = bytes(960)  # 20 ms of PCM16 24 kHz mono
    connection = "voice_1700000000000_abc123xyz"
    s = Script(
        {
            "provider": "nextevi",
            "config": "nextevi://?config_id=cfg-1&project_id=p-1",
            # The vendor form of session_settings (§2) is compared; the documented
            # nested mirror and the client's own message_id are not.
            "ignore": ["send.message_id", "send.data"],
            "attribution": (
                "Messages copied from the NextEVI documentation and vendor clients as "
                "summarised in protocols/nextevi.md (§1 URL, §2 session_settings in the "
                "vendor clients' flat form, §3 server examples: connection_metadata, "
                "transcription, llm_response_chunk, tts_chunk, emotion_update, "
                "tts_interruption) and seed 004 (docs.nextevi.com WebSocket API examples). "
                "The documented tts_chunk content 'AAAB…' is completed as 'AAABAAAA'; the "
                "binary microphone frame is 20 ms of silence."
            ),
        }
    )
    s.open(
        f"wss://api.nextevi.com/ws/voice/{connection}?api_key={MARKER}&config_id=cfg-1&project_id=p-1"
    )
    s.send('{"type":"session_settings","sample_rate":24000,"channels":1,"encoding":"linear16"}')
    s.recv(
        '{"type":"connection_metadata","connection_id":"voice_1700000000000_abc123xyz",'
        '"status":"connected","config":{"audio_format":"pcm_24khz_16bit_mono","encoding":"linear16",'
        '"sample_rate":24000,"channels":1},"project_id":"p-1","config_id":"cfg-1"}'
    )
    s.event(type="session_started", session_id=connection)
    s.send(frame)
    s.recv(
        '{"type":"transcription","transcript":"what\'s the weather","is_final":true,'
        '"confidence":0.93,"is_speech_final":true}'
    )
    s.event(
        type="user_transcript", text="what's the weather", final=True, confidence=0.93, turn_id=None
    )
    s.recv(
        '{"type":"llm_response_chunk","content":"It is sunny","is_final":false,'
        '"generation_id":"g-1","chunk_index":0}'
    )
    s.event(type="agent_text", text="It is sunny", delta="It is sunny", final=False, turn_id="g-1")
    s.recv('{"type":"tts_chunk","content":"AAABAAAA","chunk_id":"c-1","is_last":false}')
    s.event(
        type="agent_audio", bytes=6, duration_ms=0.125, sample_rate=24000, channels=1, turn_id="g-1"
    )
    s.recv('{"type":"emotion_update","top_emotions":[{"emotion":"joy","percentage":61.0}]}')
    s.event(type="emotion", scores={"joy": 0.61}, source="emotion_update")
    s.recv('{"type":"tts_interruption","content":""}')
    s.event(type="interruption", turn_id="g-1")
    s.event(type="session_ended", reason="client_closed", provider_reason=None, close_code=1000)
    s.close()
    return s


def example() -> Script:
    pcm = bytes(range(0, 256)) * 2 + bytes(128)  # 640 bytes: 20 ms at 16 kHz
    s = Script(
        {
            "provider": "example",
            "config": "example://?voice=macaw",
            "attribution": (
                "The Parrot protocol as documented in plugins/example/README.md and the "
                "voiceadapters_example.codec module docstring: GET /v1/talk?voice=… with "
                "Authorization: Bearer, 'ready', 'heard', 'speaking', binary PCM16 16 kHz, "
                "'done', 'bye'."
            ),
        }
    )
    s.open("wss://parrot.example.com/v1/talk?voice=macaw", {"Authorization": f"Bearer {MARKER}"})
    s.recv('{"event": "ready", "session": "s-1"}')
    s.event(type="session_started", session_id="s-1")
    s.send(pcm)
    s.recv('{"event": "heard", "text": "hello parrot", "final": true, "turn": "t1"}')
    s.event(type="user_transcript", text="hello parrot", final=True, confidence=None, turn_id="t1")
    s.recv('{"event": "speaking", "turn": "t1"}')
    s.recv(pcm)
    s.event(
        type="agent_audio", bytes=640, duration_ms=20.0, sample_rate=16000, channels=1, turn_id="t1"
    )
    s.recv('{"event": "done", "turn": "t1"}')
    s.event(type="agent_audio_done", turn_id="t1")
    s.recv('{"event": "bye", "reason": "goodbye"}')
    s.event(type="session_ended", reason="completed", provider_reason="goodbye", close_code=None)
    s.close()
    return s


def deepgram() -> Script:
    mic = bytes(range(0, 256)) * 2 + bytes(128)  # 640 bytes: 20 ms of PCM16 16 kHz
    reply = bytes(range(0, 256)) * 3 + bytes(192)  # 960 bytes: 20 ms of PCM16 24 kHz
    request_id = "fc553ec9-5874-49ca-a47c-b670d525a4b1"
    call_id = "fc_12345678-90ab-cdef-1234-567890abcdef"
    weather = (
        '{"location": "Fremont, CA 94539", "temperature_c": 21, "condition": "Sunny", '
        '"humidity": 40, "wind_kph": 14}'
    )
    prompt = "You are a helpful AI assistant that can provide weather information."
    get_weather = {
        "name": "get_weather",
        "description": "Get the current weather for a specific location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    }
    s = Script(
        {
            "provider": "deepgram",
            "config": "deepgram://?"
            + urlencode({"prompt": prompt, "functions": json.dumps(get_weather)}),
            "tool_output": weather,
            "attribution": (
                "Messages copied from Deepgram's Voice Agent documentation "
                "(developers.deepgram.com): the Welcome page (its request_id), Settings "
                "Applied, User Started Speaking, Conversation Text (the user statement of its "
                "multilingual example, without the flux-only languages fields), Agent Started "
                "Speaking (latencies 0.0 as shown), Agent Audio Done, Errors & Warnings (the "
                "THINK_REQUEST_FAILED warning and its description), Function Call Request "
                "(the client-side get_weather example, with thought_signature) and Function "
                "Call Response (its content); the Settings of the Build A Function Call guide "
                "(prompt, get_weather name and description; its parameters schema reduced to "
                "one string 'location') with the adapter's audio section (linear16 16 kHz in, "
                "24 kHz out, container none) and default listen/think/speak providers, as "
                "the deepgram-sdk 7.17.0 models (deepgram/agent/v1/types/agent_v1*.py) "
                "define them; the endpoint and 'Authorization: Token' from the SDK's "
                "agent/v1/raw_client.py. The docs show the assistant's ConversationText "
                "content only as a placeholder: the agent's two statements are made up, "
                "as are the audio bytes (binary linear16 frames, the docs show none)."
            ),
        }
    )
    s.open("wss://agent.deepgram.com/v1/agent/converse", {"Authorization": f"Token {MARKER}"})
    s.recv({"type": "Welcome", "request_id": request_id})
    s.event(type="session_started", session_id=request_id)
    s.send(
        {
            "type": "Settings",
            "audio": {
                "input": {"encoding": "linear16", "sample_rate": 16000},
                "output": {"encoding": "linear16", "sample_rate": 24000, "container": "none"},
            },
            "agent": {
                "listen": {
                    "provider": {
                        "type": "deepgram",
                        "version": "v1",
                        "model": "nova-3",
                        "language": "en",
                    }
                },
                "think": {
                    "provider": {"type": "open_ai", "model": "gpt-4o-mini"},
                    "prompt": prompt,
                    "functions": [get_weather],
                },
                "speak": {"provider": {"type": "deepgram", "model": "aura-2-thalia-en"}},
            },
        }
    )
    s.recv({"type": "SettingsApplied"})
    s.event(type="agent_ready")
    s.send(mic)
    s.recv({"type": "UserStartedSpeaking"})
    s.event(type="user_speech_started", emulated=False)
    s.recv({"type": "ConversationText", "role": "user", "content": "Hello, how are you amigo?"})
    s.event(
        type="user_transcript",
        text="Hello, how are you amigo?",
        final=True,
        confidence=None,
        turn_id=None,
    )
    s.event(type="user_speech_stopped")  # no stop message: the final user text ends the turn
    s.recv(
        {
            "type": "Warning",
            "description": "We encountered an error when making a request to a think provider.",
            "code": "THINK_REQUEST_FAILED",
        }
    )
    s.event(
        type="provider_error",
        code="THINK_REQUEST_FAILED",
        message="We encountered an error when making a request to a think provider.",
        fatal=False,
    )
    s.recv(
        {
            "type": "FunctionCallRequest",
            "functions": [
                {
                    "id": call_id,
                    "name": "get_weather",
                    "arguments": '{"location": "Fremont, CA 94539"}',
                    "client_side": True,
                    "thought_signature": "abc123",
                }
            ],
        }
    )
    s.event(
        type="tool_call",
        call_id=call_id,
        name="get_weather",
        arguments={"location": "Fremont, CA 94539"},
    )
    s.send(
        {"type": "FunctionCallResponse", "id": call_id, "name": "get_weather", "content": weather}
    )
    # The first reply: latencies (no normalized event), a statement, audio, its end.
    started = {
        "type": "AgentStartedSpeaking",
        "total_latency": 0.0,
        "tts_latency": 0.0,
        "ttt_latency": 0.0,
    }
    s.recv(started)
    s.event(type="unknown_message", raw=started)
    s.recv(
        {
            "type": "ConversationText",
            "role": "assistant",
            "content": "It is 21 degrees and sunny in Fremont.",
        }
    )
    s.event(
        type="agent_text",
        text="It is 21 degrees and sunny in Fremont.",
        delta="It is 21 degrees and sunny in Fremont.",
        final=False,
        turn_id="turn-1",
    )
    s.recv(reply)
    s.event(
        type="agent_audio",
        bytes=960,
        duration_ms=20.0,
        sample_rate=24000,
        channels=1,
        turn_id="turn-1",
    )
    s.recv({"type": "AgentAudioDone"})
    s.event(
        type="agent_text",
        text="It is 21 degrees and sunny in Fremont.",
        delta="",
        final=True,
        turn_id="turn-1",
    )
    s.event(type="agent_audio_done", turn_id="turn-1")
    # The second reply is barged in on: UserStartedSpeaking while its audio
    # plays ("stop playback immediately and discard all of its buffered agent
    # audio", the User Started Speaking page); its late audio is not heard.
    s.recv(started)
    s.event(type="unknown_message", raw=started)
    s.recv({"type": "ConversationText", "role": "assistant", "content": "Anything else?"})
    s.event(
        type="agent_text",
        text="Anything else?",
        delta="Anything else?",
        final=False,
        turn_id="turn-2",
    )
    s.recv(reply)
    s.event(
        type="agent_audio",
        bytes=960,
        duration_ms=20.0,
        sample_rate=24000,
        channels=1,
        turn_id="turn-2",
    )
    s.recv({"type": "UserStartedSpeaking"})
    s.event(type="interruption", turn_id="turn-2")
    s.event(type="user_speech_started", emulated=False)
    s.recv(reply)  # the interrupted reply's late frame: no event
    s.close()
    s.event(type="session_ended", reason="client_closed", provider_reason=None, close_code=1000)
    return s


def openai() -> Script:
    mic = bytes(range(0, 256)) * 3 + bytes(192)  # 960 bytes: 20 ms of PCM16 24 kHz
    reply = bytes(range(255, -1, -1)) * 3 + bytes(192)  # 960 bytes: 20 ms of PCM16 24 kHz
    instructions = "You are a helpful assistant."
    get_weather = {
        "name": "get_weather",
        "description": "Get the current weather for a location",
        "parameters": {
            "type": "object",
            "properties": {"location": {"type": "string"}},
            "required": ["location"],
        },
    }
    forecast = '{"temperature": 72, "unit": "fahrenheit", "condition": "sunny"}'
    session_id = "sess_C9G5QPteg4UIbotdKLoYQ"
    user_item, call_item, reply_item = "msg_003", "fc_001", "msg_008"
    call_response, reply_response = "resp_002", "resp_001"
    audio_format = {"type": "audio/pcm", "rate": 24000}
    s = Script(
        {
            "provider": "openai",
            "config": "openai://?"
            + urlencode(
                {
                    "instructions": instructions,
                    "voice": "marin",
                    "tools": json.dumps([get_weather]),
                    "tool_choice": "auto",
                }
            ),
            "tool_output": forecast,
            "attribution": (
                "Messages modelled on the examples of OpenAI's Realtime API reference (GA; "
                "platform.openai.com/docs/api-reference/realtime-client-events and "
                "realtime-server-events, as cited in docs/providers/openai.md) and the openai "
                "SDK 3.60.0 GA models and docstrings (openai/types/realtime/*.py), which judge "
                "every message of this file (tests/test_cassettes.py): session.created and "
                "session.updated (the reference's session object: ids, gpt-realtime model, "
                "server_vad turn detection, max_output_tokens 'inf'), "
                "input_audio_buffer.speech_started / speech_stopped / committed (their ids and "
                "audio_start_ms / audio_end_ms), conversation.item.input_audio_transcription."
                "completed (with token usage), response.created, response.output_item.added / "
                "done, response.content_part.added / done, response.output_audio.delta / done, "
                "response.output_audio_transcript.delta / done, "
                "response.function_call_arguments.delta / done (get_weather, call_001), "
                "response.done with usage (the reference's token details), and the error "
                "example (invalid_event, \"The 'type' field is missing.\"); the client's "
                "session.update, input_audio_buffer.append, conversation.item.create of a "
                "function_call_output and response.create as the reference shapes them, with "
                "the adapter's session (PCM 24 kHz both ways, gpt-4o-mini-transcribe, "
                "server_vad) and without the optional client event_id. The get_weather tool "
                "follows OpenAI's function-calling guide. Made up: the user's words, the "
                "assistant's reply and the forecast, and the audio bytes (the reference "
                "abbreviates base64 audio as 'Base64EncodedAudioDelta'; 20 ms of PCM16 "
                "24 kHz stand in). Expected events written by hand from these documents and "
                "docs/concepts/events.md."
            ),
        }
    )
    s.open(
        "wss://api.openai.com/v1/realtime?model=gpt-realtime",
        {"Authorization": f"Bearer {MARKER}"},
    )
    s.send(
        {
            "type": "session.update",
            "session": {
                "type": "realtime",
                "output_modalities": ["audio"],
                "audio": {
                    "input": {
                        "format": audio_format,
                        "transcription": {"model": "gpt-4o-mini-transcribe"},
                        "turn_detection": {"type": "server_vad"},
                    },
                    "output": {"format": audio_format, "voice": "marin"},
                },
                "instructions": instructions,
                "tools": [{"type": "function", **get_weather}],
                "tool_choice": "auto",
            },
        }
    )

    def session(event_id: str, kind: str, **changes: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "event_id": event_id,
            "session": {
                "type": "realtime",
                "object": "realtime.session",
                "id": session_id,
                "model": "gpt-realtime-2025-08-28",
                "output_modalities": ["audio"],
                "instructions": "Your knowledge cutoff is 2023-10. You are a helpful, witty, "
                "and friendly AI.",
                "tools": [],
                "tool_choice": "auto",
                "max_output_tokens": "inf",
                "tracing": None,
                "prompt": None,
                "expires_at": 1756324625,
                "audio": {
                    "input": {
                        "format": audio_format,
                        "transcription": None,
                        "noise_reduction": None,
                        "turn_detection": {
                            "type": "server_vad",
                            "threshold": 0.5,
                            "prefix_padding_ms": 300,
                            "silence_duration_ms": 200,
                            "idle_timeout_ms": None,
                            "create_response": True,
                            "interrupt_response": True,
                        },
                    },
                    "output": {"format": audio_format, "voice": "marin", "speed": 1},
                },
                "include": None,
                **changes,
            },
        }

    s.recv(session("event_C9G5RJeJ2gF77mV7f2B1j", "session.created"))
    s.event(type="session_started", session_id=session_id)
    updated = session(
        "event_C9G5SJeJ2gF77mV7f2B1k",
        "session.updated",
        instructions=instructions,
        tools=[{"type": "function", **get_weather}],
    )
    updated["session"]["audio"]["input"]["transcription"] = {
        "model": "gpt-4o-mini-transcribe",
        "language": None,
        "prompt": None,
    }
    s.recv(updated)  # well understood, nothing to normalize: no event
    s.send('{"type":"input_audio_buffer.append","audio":"' + base64.b64encode(mic).decode() + '"}')
    s.recv(
        {
            "event_id": "event_1516",
            "type": "input_audio_buffer.speech_started",
            "audio_start_ms": 1000,
            "item_id": user_item,
        }
    )
    s.event(type="user_speech_started", emulated=False)
    s.recv(
        {
            "event_id": "event_1718",
            "type": "input_audio_buffer.speech_stopped",
            "audio_end_ms": 2000,
            "item_id": user_item,
        }
    )
    s.event(type="user_speech_stopped")
    s.recv(
        {
            "event_id": "event_1121",
            "type": "input_audio_buffer.committed",
            "previous_item_id": "msg_001",
            "item_id": user_item,
        }
    )
    question = "What's the weather like in San Francisco?"
    s.recv(
        {
            "event_id": "event_2122",
            "type": "conversation.item.input_audio_transcription.completed",
            "item_id": user_item,
            "content_index": 0,
            "transcript": question,
            "usage": {
                "type": "tokens",
                "total_tokens": 48,
                "input_tokens": 38,
                "input_token_details": {"text_tokens": 10, "audio_tokens": 28},
                "output_tokens": 10,
            },
        }
    )
    s.event(type="user_transcript", text=question, final=True, confidence=None, turn_id=user_item)

    def response(event_id: str, kind: str, response_id: str, **fields: Any) -> dict[str, Any]:
        return {
            "type": kind,
            "event_id": event_id,
            "response": {
                "object": "realtime.response",
                "id": response_id,
                "status": "in_progress",
                "status_details": None,
                "output": [],
                "conversation_id": "conv_C9G8mmBkLhQJwCon3hoJN",
                "output_modalities": ["audio"],
                "max_output_tokens": "inf",
                "audio": {"output": {"format": audio_format, "voice": "marin"}},
                "usage": None,
                "metadata": None,
                **fields,
            },
        }

    # The first response is a function call.
    s.recv(response("event_C9G8pqbTEddBSIxbBN6Os", "response.created", call_response))
    call = {
        "id": call_item,
        "object": "realtime.item",
        "type": "function_call",
        "status": "in_progress",
        "call_id": "call_001",
        "name": "get_weather",
        "arguments": "",
    }
    s.recv(
        {
            "event_id": "event_3334",
            "type": "response.output_item.added",
            "response_id": call_response,
            "output_index": 0,
            "item": call,
        }
    )
    arguments = '{"location": "San Francisco"}'
    for event_id, delta in (("event_5354", '{"location": "San'), ("event_5355", ' Francisco"}')):
        s.recv(
            {
                "event_id": event_id,
                "type": "response.function_call_arguments.delta",
                "response_id": call_response,
                "item_id": call_item,
                "output_index": 0,
                "call_id": "call_001",
                "delta": delta,
            }
        )
    s.recv(
        {
            "event_id": "event_5556",
            "type": "response.function_call_arguments.done",
            "response_id": call_response,
            "item_id": call_item,
            "output_index": 0,
            "call_id": "call_001",
            "name": "get_weather",
            "arguments": arguments,
        }
    )
    s.event(
        type="tool_call",
        call_id="call_001",
        name="get_weather",
        arguments={"location": "San Francisco"},
    )
    # The application's answer: the output as an item, then a new response.
    s.send(
        {
            "type": "conversation.item.create",
            "item": {"type": "function_call_output", "call_id": "call_001", "output": forecast},
        }
    )
    s.send({"type": "response.create"})
    done_call = {**call, "status": "completed", "arguments": arguments}
    s.recv(
        {
            "event_id": "event_3536",
            "type": "response.output_item.done",
            "response_id": call_response,
            "output_index": 0,
            "item": done_call,
        }
    )  # the call was delivered at arguments.done: not again
    call_usage = {
        "total_tokens": 176,
        "input_tokens": 160,
        "output_tokens": 16,
        "input_token_details": {
            "text_tokens": 132,
            "audio_tokens": 28,
            "image_tokens": 0,
            "cached_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": 16, "audio_tokens": 0},
    }
    s.recv(
        response(
            "event_CCXHxcMy86rrKhBLDdqCg",
            "response.done",
            call_response,
            status="completed",
            output=[done_call],
            usage=call_usage,
        )
    )
    s.event(
        type="usage",
        turn_id=call_response,
        input_tokens=160,
        output_tokens=16,
        total_tokens=176,
        details={
            "input_token_details": call_usage["input_token_details"],
            "output_token_details": call_usage["output_token_details"],
        },
    )
    # The second response speaks: transcript deltas and audio deltas interleaved.
    s.recv(response("event_C9G8pqbTEddBSIxbBN6Ot", "response.created", reply_response))
    where = {"response_id": reply_response, "item_id": reply_item, "output_index": 0}
    message = {
        "id": reply_item,
        "object": "realtime.item",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    s.recv(
        {
            "event_id": "event_3335",
            "type": "response.output_item.added",
            "response_id": reply_response,
            "output_index": 0,
            "item": message,
        }
    )
    s.recv(
        {
            "event_id": "event_3738",
            "type": "response.content_part.added",
            **where,
            "content_index": 0,
            "part": {"type": "audio", "transcript": ""},
        }
    )
    said = "It's 72 degrees and sunny in San Francisco."
    first, second = said[:18], said[18:]
    text = ""
    for n, delta in enumerate((first, second)):
        s.recv(
            {
                "event_id": f"event_454{6 + n}",
                "type": "response.output_audio_transcript.delta",
                **where,
                "content_index": 0,
                "delta": delta,
            }
        )
        text += delta
        s.event(type="agent_text", text=text, delta=delta, final=False, turn_id=reply_response)
        s.recv(
            {
                "event_id": f"event_495{n}",
                "type": "response.output_audio.delta",
                **where,
                "content_index": 0,
                "delta": base64.b64encode(reply).decode(),
            }
        )
        s.event(
            type="agent_audio",
            bytes=960,
            duration_ms=20.0,
            sample_rate=24000,
            channels=1,
            turn_id=reply_response,
        )
    s.recv(
        {
            "event_id": "event_5152",
            "type": "response.output_audio.done",
            **where,
            "content_index": 0,
        }
    )
    s.recv(
        {
            "event_id": "event_4748",
            "type": "response.output_audio_transcript.done",
            **where,
            "content_index": 0,
            "transcript": said,
        }
    )
    s.event(type="agent_text", text=said, delta="", final=True, turn_id=reply_response)
    s.recv(
        {
            "event_id": "event_3940",
            "type": "response.content_part.done",
            **where,
            "content_index": 0,
            "part": {"type": "audio", "transcript": said},
        }
    )
    spoken = {
        **message,
        "status": "completed",
        "content": [{"type": "output_audio", "transcript": said}],
    }
    s.recv(
        {
            "event_id": "event_3637",
            "type": "response.output_item.done",
            "response_id": reply_response,
            "output_index": 0,
            "item": spoken,
        }
    )
    usage = {
        "total_tokens": 253,
        "input_tokens": 132,
        "output_tokens": 121,
        "input_token_details": {
            "text_tokens": 119,
            "audio_tokens": 13,
            "image_tokens": 0,
            "cached_tokens": 64,
            "cached_tokens_details": {"text_tokens": 64, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {"text_tokens": 30, "audio_tokens": 91},
    }
    s.recv(
        response(
            "event_CCXHxcMy86rrKhBLDdqCh",
            "response.done",
            reply_response,
            status="completed",
            output=[spoken],
            usage=usage,
        )
    )
    s.event(type="agent_audio_done", turn_id=reply_response)
    s.event(
        type="usage",
        turn_id=reply_response,
        input_tokens=132,
        output_tokens=121,
        total_tokens=253,
        details={
            "input_token_details": usage["input_token_details"],
            "output_token_details": usage["output_token_details"],
        },
    )
    # A documented error: reported, not fatal; the session goes on.
    s.recv(
        {
            "event_id": "event_890",
            "type": "error",
            "error": {
                "type": "invalid_request_error",
                "code": "invalid_event",
                "message": "The 'type' field is missing.",
                "param": None,
                "event_id": "event_567",
            },
        }
    )
    s.event(
        type="provider_error",
        code="invalid_event",
        message="The 'type' field is missing.",
        fatal=False,
    )
    s.close()
    s.event(type="session_ended", reason="client_closed", provider_reason=None, close_code=1000)
    return s


CASSETTES = {
    "vatel": (vatel, "plugins/vatel/tests/cassettes/docs-examples.jsonl"),
    "binary-pcm": (binary_pcm, "plugins/binary_pcm/tests/cassettes/docs-examples.jsonl"),
    "nextevi": (nextevi, "plugins/nextevi/tests/cassettes/docs-examples.jsonl"),
    "example": (example, "plugins/example/tests/cassettes/docs-examples.jsonl"),
    "deepgram": (deepgram, "plugins/deepgram/tests/cassettes/docs-examples.jsonl"),
    "openai": (openai, "plugins/openai_realtime/tests/cassettes/docs-examples.jsonl"),
}


def main(providers: list[str]) -> int:
    unknown = sorted(set(providers) - set(CASSETTES))
    if unknown:
        print(
            f"unknown provider(s): {', '.join(unknown)}; known: {', '.join(sorted(CASSETTES))}",
            file=sys.stderr,
        )
        return 2
    for provider, (make, path) in CASSETTES.items():
        if providers and provider not in providers:
            continue
        make().write(ROOT / path)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Write the hand-made documentation cassettes.")
    parser.add_argument(
        "providers", nargs="*", metavar="PROVIDER", help="only these providers (default: all)"
    )
    sys.exit(main(parser.parse_args().providers))
