"""Acceptance: the official ``openai`` SDK's realtime client (GA) against the
bridge's ``/v1/realtime`` front, with each first-party provider's simulator
behind it, over real sockets on 127.0.0.1.

Every event a client receives is parsed twice: by the SDK client itself
(``connection.parse_event``) and strictly by the SDK's GA models
(:func:`judge`: validated, no field the models do not declare).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import websockets
from openai import AsyncOpenAI

from voiceadapters.audio import StreamConverter, best_alignment, pcm_to_array
from voiceadapters.format import AudioFormat
from voiceadapters.testing import speech_sample
from voiceadapters_bridge.g711 import (
    alaw_to_pcm16,
    pcm16_to_alaw,
    pcm16_to_ulaw,
    ulaw_to_pcm16,
)

from .conftest import (
    BRIDGE_KEY,
    PROVIDER_KEY,
    RunningBridge,
    bridge_in_process,
    judge,
    wait_for,
)

pytestmark = [pytest.mark.network, pytest.mark.slow]

PCM24 = AudioFormat(24000)
PHONE = AudioFormat(8000)
TIMEOUT = 20.0
PROVIDERS = ["vatel", "binary-pcm", "nextevi", "example", "deepgram", "openai"]
#: Fast streaming: the simulators' turn detection runs on the audio's own
#: timeline, so the rate limit is raised to let 100 ms chunks through at once.
FAST = {"pace": 0, "max_rate": 10000, "rate_burst": 10000}


def speech(fmt: AudioFormat = PCM24) -> bytes:
    pcm, src = speech_sample()
    conv = StreamConverter(src, fmt)
    return conv.convert(pcm) + conv.flush()


@dataclass
class Client:
    """One SDK connection and every event it received (judged)."""

    connection: Any
    events: list[dict[str, Any]] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    closed: BaseException | None = None

    async def read(self) -> None:
        try:
            while True:
                raw = await self.connection.recv_bytes()
                parsed = self.connection.parse_event(raw)  # the SDK client's own parse
                data = json.loads(raw)
                assert parsed.type == data["type"]
                judge(data)
                self.events.append(data)
        except websockets.exceptions.ConnectionClosed as exc:
            self.closed = exc

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]

    def kinds(self) -> list[str]:
        return [e["type"] for e in self.events]

    async def until(self, kind: str, count: int = 1, timeout: float = TIMEOUT) -> dict[str, Any]:
        await wait_for(lambda: len(self.of(kind)) >= count, timeout, kind)
        return self.of(kind)[count - 1]

    async def send(self, event: dict[str, Any]) -> None:
        await self.connection.send(event)

    async def append(self, data: bytes, chunk: int) -> None:
        for i in range(0, len(data), chunk):
            await self.connection.input_audio_buffer.append(
                audio=base64.b64encode(data[i : i + chunk]).decode()
            )

    def audio(self) -> bytes:
        return b"".join(
            base64.b64decode(e["delta"]) for e in self.of("response.output_audio.delta")
        )

    def errors(self) -> list[dict[str, Any]]:
        return [e["error"] for e in self.of("error")]


@contextlib.asynccontextmanager
async def sdk_client(bridge: RunningBridge, key: str = BRIDGE_KEY) -> AsyncIterator[Client]:
    sdk = AsyncOpenAI(api_key=key, websocket_base_url=f"{bridge.ws}/v1")
    try:
        async with sdk.realtime.connect(model="gpt-realtime") as connection:
            client = Client(connection)
            client.task = asyncio.create_task(client.read())
            try:
                await client.until("session.created")
                yield client
            finally:
                client.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await client.task
    finally:
        await sdk.close()


def echo_ncc(reference: bytes, played: bytes) -> float:
    _, ncc = best_alignment(pcm_to_array(reference), pcm_to_array(played))
    return ncc


@pytest.mark.parametrize("provider", PROVIDERS)
async def test_the_sdk_runs_a_whole_turn_through_every_provider(
    provider: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    pcm = speech()
    started = time.monotonic()
    async with bridge_in_process(provider=provider, **FAST) as bridge:
        async with sdk_client(bridge) as client:
            created = client.of("session.created")[0]["session"]
            assert created["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
            assert created["model"] == "gpt-realtime"
            await client.connection.session.update(
                session={
                    "type": "realtime",
                    "audio": {
                        "input": {"format": {"type": "audio/pcm", "rate": 24000}},
                        "output": {"format": {"type": "audio/pcm", "rate": 24000}},
                    },
                }
            )
            await client.until("session.updated")
            await client.append(pcm + bytes(2 * 24000 * 2), 4800)  # 100 ms appends, 2 s quiet
            await client.until("response.done")
            await wait_for(lambda: len(client.audio()) >= len(pcm) - 4800, TIMEOUT, "the echo")
            await asyncio.sleep(0.2)
        caps = bridge_caps(provider)
    elapsed = time.monotonic() - started
    kinds = client.kinds()
    assert not client.of("error"), client.errors()
    for expected in (
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_audio.delta",
        "response.output_audio.done",
        "response.output_audio_transcript.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.done",
    ):
        assert expected in kinds, (provider, expected)
    order = [k for k in kinds if k.startswith("response.") and not k.endswith(".delta")]
    assert order[:3] == [
        "response.created",
        "response.output_item.added",
        "response.content_part.added",
    ], order
    if caps["speech_events"] or caps["user_transcripts"]:
        assert kinds.index("input_audio_buffer.speech_started") < kinds.index(
            "input_audio_buffer.speech_stopped"
        ), kinds
        assert "input_audio_buffer.committed" in kinds
    if caps["user_transcripts"]:
        (done,) = client.of("conversation.item.input_audio_transcription.completed")[:1]
        assert done["transcript"], done
        committed = client.of("input_audio_buffer.committed")[0]
        assert done["item_id"] == committed["item_id"]
    if caps["agent_text"]:
        assert "response.output_audio_transcript.delta" in kinds
    dones = client.of("response.done")
    assert dones[0]["response"]["status"] == "completed"
    if provider == "openai":  # the provider's token counts reach response.done
        assert dones[0]["response"]["usage"]["total_tokens"] > 0, dones[0]["response"]
    item = dones[0]["response"]["output"][0]
    assert item["type"] == "message" and item["role"] == "assistant"
    ncc = echo_ncc(pcm, client.audio())
    assert ncc >= 0.9, f"{provider}: echo cross-correlation {ncc:.3f}"
    assert all(PROVIDER_KEY not in r.getMessage() for r in caplog.records)
    assert all(PROVIDER_KEY not in json.dumps(e) for e in client.events)
    assert elapsed < 15, f"{provider}: {elapsed:.1f} s"


def bridge_caps(provider: str) -> dict[str, bool]:
    from voiceadapters.registry import registry

    return registry.get(provider).capabilities.model_dump()


@pytest.mark.parametrize("provider", ["vatel", "openai"])
async def test_a_tool_call_round_trip(provider: str) -> None:
    pcm = speech()
    async with bridge_in_process(provider=provider, scenario="tool_call", **FAST) as bridge:
        async with sdk_client(bridge) as client:
            await client.append(pcm + bytes(2 * 24000 * 2), 4800)
            call = await client.until("response.function_call_arguments.done")
            first = await client.until("response.done")
            assert first["response"]["output"][-1]["type"] == "function_call"
            assert first["response"]["output"][-1]["call_id"] == call["call_id"]
            added = [
                e
                for e in client.of("response.output_item.added")
                if e["item"]["type"] == "function_call"
            ]
            assert added and added[0]["item"]["call_id"] == call["call_id"]
            arguments = json.loads(call["arguments"])
            assert isinstance(arguments, dict) and call["name"]
            before = len(client.audio())
            await client.connection.conversation.item.create(
                item={
                    "type": "function_call_output",
                    "call_id": call["call_id"],
                    "output": json.dumps({"sdk": "tool-ok"}),
                }
            )
            await client.connection.response.create()
            await client.until("conversation.item.done")
            await wait_for(
                lambda: any(
                    d["response"]["output"] and d["response"]["output"][0]["type"] == "message"
                    for d in client.of("response.done")
                ),
                TIMEOUT,
                "the agent's reply after the tool",
            )
            assert len(client.audio()) > before
    assert not client.of("error"), client.errors()
    if provider == "openai":
        connection = bridge.simulator.connections[-1]
        assert connection.tool_outputs[-1] == (call["call_id"], '{"sdk": "tool-ok"}')


async def test_what_a_provider_cannot_do_is_a_ga_error_and_the_connection_survives() -> None:
    """vatel: no text input, no client interrupt, no truncation, no manual turns."""
    async with bridge_in_process(provider="vatel", **FAST) as bridge:
        async with sdk_client(bridge) as client:
            sent: list[tuple[str, str, str | None]] = []

            async def expect(event: dict[str, Any], code: str, param: str | None = None) -> None:
                count = len(client.of("error")) + 1
                await client.send(event)
                error = (await client.until("error", count))["error"]
                sent.append((code, error["code"], error["param"]))
                assert error["code"] == code, error
                if param is not None:
                    assert error["param"] == param, error
                assert error["message"]

            await expect(
                {
                    "type": "conversation.item.create",
                    "event_id": "evt_text",
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": "hello"}],
                    },
                },
                "unsupported_by_provider",
                "item",
            )
            assert client.of("error")[-1]["error"]["event_id"] == "evt_text"
            await expect({"type": "response.create"}, "unsupported_by_provider")
            await expect({"type": "response.cancel"}, "response_cancel_not_active")
            await expect({"type": "input_audio_buffer.commit"}, "unsupported_by_provider")
            await expect({"type": "input_audio_buffer.clear"}, "unsupported_by_provider")
            await expect(
                {
                    "type": "conversation.item.truncate",
                    "item_id": "item_nope",
                    "content_index": 0,
                    "audio_end_ms": 10,
                },
                "item_truncate_invalid_item_id",
                "item_id",
            )
            await expect(
                {"type": "input_audio_buffer.append", "audio": "***not base64***"},
                "invalid_value",
                "audio",
            )
            await expect(
                {"type": "input_audio_buffer.append", "audio": base64.b64encode(b"abc").decode()},
                "invalid_value",
                "audio",
            )
            await expect(
                {"type": "session.update", "session": {"type": "realtime", "instructions": "hi"}},
                "unsupported_by_provider",
                "session.instructions",
            )
            # The connection goes on: a whole turn still works, and its item
            # cannot be truncated because vatel keeps no played position.
            pcm = speech()
            await client.append(pcm + bytes(2 * 24000 * 2), 4800)
            done = await client.until("response.done")
            item_id = done["response"]["output"][0]["id"]
            await expect(
                {
                    "type": "conversation.item.truncate",
                    "item_id": item_id,
                    "content_index": 0,
                    "audio_end_ms": 500,
                },
                "unsupported_by_provider",
            )
            assert client.closed is None


async def test_raw_garbage_is_an_error_and_the_connection_survives() -> None:
    """Malformed JSON, a non-object, an unknown type, a binary frame: each an
    ``error``, with a plain WebSocket client (the SDK sends only valid events)."""
    async with (
        bridge_in_process(provider="vatel", **FAST) as bridge,
        aiohttp.ClientSession() as http,
    ):
        async with http.ws_connect(
            f"{bridge.ws}/v1/realtime?model=x",
            headers={"Authorization": f"Bearer {BRIDGE_KEY}"},
        ) as ws:
            created = json.loads((await ws.receive(timeout=5)).data)
            judge(created)
            assert created["type"] == "session.created"
            codes = []
            for frame in ("not json {", "[1, 2]", json.dumps({"type": "nope.nope"}), b"\x00\x01"):
                if isinstance(frame, bytes):
                    await ws.send_bytes(frame)
                else:
                    await ws.send_str(frame)
                error = json.loads((await ws.receive(timeout=5)).data)
                judge(error)
                codes.append(error["error"]["code"])
            assert codes == ["invalid_json", "invalid_value", "invalid_value", "invalid_value"]
            await ws.send_str(json.dumps({"type": "session.update", "session": {}}))
            updated = json.loads((await ws.receive(timeout=5)).data)
            assert updated["type"] == "session.updated"
            assert not ws.closed


@pytest.mark.parametrize("law", ["pcmu", "pcma"])
async def test_g711_both_ways(law: str) -> None:
    """8 kHz G.711 in and out, chosen in session.update; the echo is checked
    against the sample band-limited to 8 kHz."""
    reference = speech(PHONE)
    encode = pcm16_to_ulaw if law == "pcmu" else pcm16_to_alaw
    decode = ulaw_to_pcm16 if law == "pcmu" else alaw_to_pcm16
    async with bridge_in_process(provider="vatel", **FAST) as bridge:
        async with sdk_client(bridge) as client:
            fmt = {"type": f"audio/{law}"}
            await client.connection.session.update(
                session={
                    "type": "realtime",
                    "audio": {"input": {"format": fmt}, "output": {"format": fmt}},
                }
            )
            updated = (await client.until("session.updated"))["session"]
            assert updated["audio"]["input"]["format"] == fmt
            assert updated["audio"]["output"]["format"] == fmt
            await client.append(encode(reference + bytes(2 * 8000 * 2)), 800)  # 100 ms
            await client.until("response.done")
            played = decode(client.audio())
    assert not client.of("error"), client.errors()
    assert len(played) >= len(reference) - 1600
    ncc = echo_ncc(reference, played)
    assert ncc >= 0.9, f"{law}: echo cross-correlation {ncc:.3f}"


async def test_g711_out_only_after_the_session_opened() -> None:
    """A format changed mid-session is converted by the front (24 kHz in, μ-law out)."""
    reference = speech(PHONE)
    async with bridge_in_process(provider="openai", **FAST) as bridge:
        async with sdk_client(bridge) as client:
            await client.connection.session.update(
                session={
                    "type": "realtime",
                    "audio": {"output": {"format": {"type": "audio/pcmu"}}},
                }
            )
            await client.until("session.updated")
            await client.append(speech() + bytes(2 * 24000 * 2), 4800)
            await client.until("response.done")
            played = ulaw_to_pcm16(client.audio())
    ncc = echo_ncc(reference, played)
    assert ncc >= 0.9, f"echo cross-correlation {ncc:.3f}"


async def test_user_text_truncate_and_cancel_where_the_provider_has_them() -> None:
    """openai: user text → the agent answers; a barge-in ends the response
    cancelled and truncate reports the played position."""
    async with bridge_in_process(provider="openai", scenario="barge_in", pace=1.0) as bridge:
        async with sdk_client(bridge) as client:
            await client.connection.conversation.item.create(
                item={
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": "hello there"}],
                }
            )
            await client.until("conversation.item.added")
            await client.connection.response.create()
            pcm = speech()
            await client.append(pcm + bytes(24000 * 2), 4800)
            await client.until("response.output_audio.delta")
            await asyncio.sleep(0.6)
            await client.append(pcm, 4800)  # talk over the agent
            await wait_for(
                lambda: any(
                    d["response"]["status"] == "cancelled" for d in client.of("response.done")
                ),
                TIMEOUT,
                "the cancelled response",
            )
            cancelled = next(
                d for d in client.of("response.done") if d["response"]["status"] == "cancelled"
            )
            assert cancelled["response"]["status_details"]["reason"] == "turn_detected"
            item_id = cancelled["response"]["output"][0]["id"]
            await client.connection.conversation.item.truncate(
                item_id=item_id, content_index=0, audio_end_ms=100
            )
            await wait_for(
                lambda: client.of("conversation.item.truncated") or client.of("error"),
                TIMEOUT,
                "truncated",
            )
            assert not client.of("error"), client.errors()
            truncated = client.of("conversation.item.truncated")[0]
            assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, 100)
            # The provider's own conversation was truncated too (the OpenAI
            # codec sends the truncate upstream for the interrupted turn).
            upstream = bridge.simulator.connections[-1].truncations
            await wait_for(lambda: list(upstream), 5, "the truncate upstream")
            assert list(upstream)[-1]["audio_end_ms"] == 100
    assert not client.of("error"), client.errors()


async def test_response_cancel_interrupts_a_provider_that_takes_it() -> None:
    async with bridge_in_process(provider="openai", scenario="echo", pace=1.0) as bridge:
        async with sdk_client(bridge) as client:
            pcm = speech()
            await client.append(pcm + bytes(24000 * 2), 4800)
            await client.until("response.output_audio.delta")
            await client.connection.response.cancel()
            done = await client.until("response.done")
            assert done["response"]["status"] == "cancelled"
            assert done["response"]["status_details"]["reason"] == "client_cancelled"
            count = len(client.of("response.output_audio.delta"))
            await asyncio.sleep(0.5)
            # No audio of the cancelled response after its response.done.
            late = [
                e
                for e in client.of("response.output_audio.delta")[count:]
                if e["response_id"] == done["response"]["id"]
            ]
            assert not late
    assert not client.of("error"), client.errors()


async def test_the_first_session_update_chooses_the_agent_options_the_bridge_allows() -> None:
    async with bridge_in_process(provider="vatel", client_options=("prompt",), **FAST) as bridge:
        async with sdk_client(bridge) as client:
            await client.connection.session.update(
                session={"type": "realtime", "instructions": "Be brief.", "tools": []}
            )
            updated = (await client.until("session.updated"))["session"]
            assert updated["instructions"] == "Be brief."
            await wait_for(lambda: bridge.simulator.grants, 10, "the provider session")
            (grant,) = bridge.simulator.grants.values()
            assert grant.prompt == "Be brief."
            # Too late now: the session is open.
            await client.connection.session.update(
                session={"type": "realtime", "instructions": "Be verbose."}
            )
            error = (await client.until("error"))["error"]
            assert error["param"] == "session.instructions"


# -- refusals and the key --------------------------------------------------------------------


async def test_the_sdk_sees_a_refusal(caplog: pytest.LogCaptureFixture) -> None:
    """A wrong bridge key: the SDK's connection closes with 1008 and the
    reason; without a key (which the SDK will not send) the same close."""
    caplog.set_level(logging.DEBUG)
    async with (
        bridge_in_process(provider="vatel", **FAST) as bridge,
        aiohttp.ClientSession() as http,
    ):
        sdk = AsyncOpenAI(api_key="not-the-key", websocket_base_url=f"{bridge.ws}/v1")
        with pytest.raises(websockets.exceptions.ConnectionClosed) as caught:
            async with sdk.realtime.connect(model="gpt-realtime") as connection:
                await asyncio.wait_for(connection.recv(), 10)
        await sdk.close()
        async with http.ws_connect(f"{bridge.ws}/v1/realtime?model=gpt-realtime") as ws:
            message = await ws.receive(timeout=5)
    assert caught.value.rcvd is not None and caught.value.rcvd.code == 1008
    assert caught.value.rcvd.reason == "unauthorized: wrong bridge key or token"
    assert message.type is aiohttp.WSMsgType.CLOSE
    assert (ws.close_code, message.extra) == (1008, "unauthorized: no bridge key or client token")
    assert all(PROVIDER_KEY not in r.getMessage() for r in caplog.records)


async def test_a_browser_credential_in_the_subprotocol(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with (
        bridge_in_process(provider="vatel", **FAST) as bridge,
        aiohttp.ClientSession() as http,
    ):
        async with http.ws_connect(
            f"{bridge.ws}/v1/realtime?model=gpt-realtime",
            protocols=("realtime", f"openai-insecure-api-key.{BRIDGE_KEY}"),
        ) as ws:
            assert ws.protocol == "realtime"
            created = json.loads((await ws.receive(timeout=5)).data)
            assert created["type"] == "session.created"
            assert BRIDGE_KEY not in json.dumps(created)
        # A wrong key in the subprotocol is refused like any wrong key.
        async with http.ws_connect(
            f"{bridge.ws}/v1/realtime?model=gpt-realtime",
            protocols=("realtime", "openai-insecure-api-key.wrong-key-123"),
        ) as ws:
            message = await ws.receive(timeout=5)
            assert message.type is aiohttp.WSMsgType.CLOSE
            assert ws.close_code == 1008
        # Offered without "realtime": aiohttp logs the offered protocols, masked.
        async with http.ws_connect(
            f"{bridge.ws}/v1/realtime?model=gpt-realtime",
            protocols=(f"openai-insecure-api-key.{BRIDGE_KEY}",),
        ) as ws:
            created = json.loads((await ws.receive(timeout=5)).data)
            assert created["type"] == "session.created"
    texts = [record.getMessage() for record in caplog.records]
    for text in texts:
        assert BRIDGE_KEY not in text and "wrong-key-123" not in text, text
        assert PROVIDER_KEY not in text
    # aiohttp did log the offered protocols, with the key masked.
    assert any("openai-insecure-api-key.***" in text for text in texts), texts
