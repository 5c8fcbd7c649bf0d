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


CASSETTES = {
    "vatel": (vatel, "plugins/vatel/tests/cassettes/docs-examples.jsonl"),
    "binary-pcm": (binary_pcm, "plugins/binary_pcm/tests/cassettes/docs-examples.jsonl"),
    "nextevi": (nextevi, "plugins/nextevi/tests/cassettes/docs-examples.jsonl"),
    "example": (example, "plugins/example/tests/cassettes/docs-examples.jsonl"),
    "deepgram": (deepgram, "plugins/deepgram/tests/cassettes/docs-examples.jsonl"),
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
