"""Refusals and limits, each with its WebSocket close code and reason, over
real sockets; the provider key appears in no response or log line."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import time

import aiohttp
import pytest

from voiceadapters.secrets import Secret
from voiceadapters_bridge.auth import mint_token

from .conftest import BRIDGE_KEY, PROVIDER_KEY, TwilioCall, bridge_in_process

pytestmark = pytest.mark.network


async def close_of(
    ws: aiohttp.ClientWebSocketResponse, timeout: float = 10
) -> tuple[int | None, str]:
    """Read until the bridge closes; the close code and reason."""

    async def read() -> str:
        while True:
            message = await ws.receive()
            if message.type is aiohttp.WSMsgType.CLOSE:
                return str(message.extra or "")
            if message.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return ""

    reason = await asyncio.wait_for(read(), timeout)
    return ws.close_code, reason


async def metrics_with(http: aiohttp.ClientSession, url: str, text: str) -> str:
    """``/metrics`` once it shows ``text`` (the server side of a connection
    finishes a moment after the client sees the close)."""
    deadline = time.monotonic() + 5
    while True:
        body = await (await http.get(f"{url}/metrics")).text()
        if text in body or time.monotonic() > deadline:
            return body
        await asyncio.sleep(0.05)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG)
    return caplog


def assert_no_key(logs: pytest.LogCaptureFixture, *texts: str) -> None:
    for record in logs.records:
        assert PROVIDER_KEY not in record.getMessage(), record.getMessage()
    for text in texts:
        assert PROVIDER_KEY not in text


@pytest.mark.parametrize(
    ("query", "reason"),
    [
        ("", "unauthorized: no bridge key or client token"),
        ("?token=not-the-key", "unauthorized: wrong bridge key or token"),
        ("?token=vab1.e30.forged", "unauthorized: wrong bridge key or token"),
    ],
    ids=["no-key", "wrong-key", "forged-token"],
)
async def test_a_browser_without_a_valid_credential_is_refused(
    query: str, reason: str, logs: pytest.LogCaptureFixture
) -> None:
    async with bridge_in_process() as bridge, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{bridge.ws}/browser{query}") as ws:
            code, text = await close_of(ws)
        metrics = await (await http.get(f"{bridge.url}/metrics")).text()
    assert (code, text) == (1008, reason)
    assert 'sessions_refused_total{pid="' in metrics
    assert "sessions_started_total" in metrics and "sessions_started_total{" not in metrics
    assert_no_key(logs, metrics)


async def test_an_expired_client_token_is_refused() -> None:
    token, _ = mint_token(Secret(BRIDGE_KEY), ttl=5, now=time.time() - 60)
    async with bridge_in_process() as bridge, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{bridge.ws}/browser?token={token}") as ws:
            assert await close_of(ws) == (1008, "unauthorized: client token expired")
        metrics = await (await http.get(f"{bridge.url}/metrics")).text()
    assert 'reason="token_expired"' in metrics


async def test_a_twilio_stream_authenticates_in_its_start_message() -> None:
    async with bridge_in_process() as bridge, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{bridge.ws}/twilio") as ws:
            await TwilioCall(ws).start(token="wrong")
            assert await close_of(ws) == (1008, "unauthorized: wrong bridge key or token")
        async with http.ws_connect(f"{bridge.ws}/twilio") as ws:
            await TwilioCall(ws).start(token=None)
            assert await close_of(ws) == (1008, "unauthorized: no bridge key or client token")


async def test_a_twilio_stream_that_never_starts_is_closed() -> None:
    async with bridge_in_process(start_timeout=0.5) as bridge, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{bridge.ws}/twilio") as ws:
            assert await close_of(ws) == (1008, "no session started within 0.5 s")


async def test_a_wrong_origin_is_refused_and_a_listed_one_accepted() -> None:
    async with (
        bridge_in_process(allow_origins=("https://app.example",)) as bridge,
        aiohttp.ClientSession() as http,
    ):
        url = f"{bridge.ws}/browser?token={BRIDGE_KEY}"
        async with http.ws_connect(url, headers={"Origin": "https://evil.example"}) as ws:
            assert await close_of(ws) == (1008, "forbidden: origin not allowed")
        async with http.ws_connect(url, headers={"Origin": "https://app.example"}) as ws:
            ready = await ws.receive_json(timeout=10)
            assert ready["type"] == "bridge.ready"
        # The bridge's own origin (its page) is always allowed.
        own = bridge.url
        async with http.ws_connect(url, headers={"Origin": own}) as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "bridge.ready"


async def test_an_oversized_message_closes_with_1009() -> None:
    async with bridge_in_process(max_message=4096) as bridge, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{bridge.ws}/browser?token={BRIDGE_KEY}") as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "bridge.ready"
            await ws.send_bytes(bytes(8192))
            code, _ = await close_of(ws)
        metrics = await metrics_with(http, bridge.url, 'reason="message_too_big"')
    assert code == 1009  # RFC 6455 §7.4.1: message too big
    assert 'reason="message_too_big"' in metrics


async def test_too_many_sessions_are_refused_with_1013() -> None:
    async with bridge_in_process(max_sessions=1) as bridge, aiohttp.ClientSession() as http:
        url = f"{bridge.ws}/browser?token={BRIDGE_KEY}"
        async with http.ws_connect(url) as first:
            assert (await first.receive_json(timeout=10))["type"] == "bridge.ready"
            ready = await http.get(f"{bridge.url}/readyz")
            assert ready.status == 503
            async with http.ws_connect(url) as second:
                assert await close_of(second) == (1013, "too many sessions (limit 1)")
        metrics = await metrics_with(http, bridge.url, 'reason="capacity"')
    assert 'reason="capacity"' in metrics


async def test_a_client_over_the_message_rate_is_closed() -> None:
    async with (
        bridge_in_process(max_rate=10.0, rate_burst=20) as bridge,
        aiohttp.ClientSession() as http,
    ):
        async with http.ws_connect(f"{bridge.ws}/browser?token={BRIDGE_KEY}") as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "bridge.ready"
            for _ in range(60):
                await ws.send_bytes(bytes(320))
            code, reason = await close_of(ws)
    assert (code, reason) == (1008, "rate limit exceeded (10 messages/s)")


async def test_a_session_ends_at_the_length_limit() -> None:
    async with bridge_in_process(max_session=1.0) as bridge, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{bridge.ws}/browser?token={BRIDGE_KEY}") as ws:
            started = time.monotonic()
            code, reason = await close_of(ws)
        metrics = await metrics_with(http, bridge.url, 'reason="session_limit"')
    assert (code, reason) == (1000, "session length limit reached (1 s)")
    assert 0.9 < time.monotonic() - started < 5
    assert 'sessions_ended_total{pid="' in metrics and 'reason="session_limit"' in metrics


async def test_tokens_are_minted_with_the_bridge_key_only() -> None:
    async with bridge_in_process() as bridge, aiohttp.ClientSession() as http:
        refused = await http.post(f"{bridge.url}/tokens")
        assert refused.status == 401
        wrong = await http.post(f"{bridge.url}/tokens", headers={"Authorization": "Bearer nope"})
        assert wrong.status == 401
        ok = await http.post(
            f"{bridge.url}/tokens",
            headers={"Authorization": f"Bearer {BRIDGE_KEY}"},
            json={"ttl": 60},
        )
        assert ok.status == 200
        body = await ok.json()
        assert body["token"].startswith("vab1.") and body["expires_at"] > time.time() + 50
        # A token cannot mint tokens.
        again = await http.post(
            f"{bridge.url}/tokens", headers={"Authorization": f"Bearer {body['token']}"}
        )
        assert again.status == 403
        too_long = await http.post(
            f"{bridge.url}/tokens",
            headers={"Authorization": f"Bearer {BRIDGE_KEY}"},
            json={"ttl": 10**9},
        )
        assert too_long.status == 400
        async with http.ws_connect(f"{bridge.ws}/browser?token={body['token']}") as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "bridge.ready"
        for text in (await refused.text(), await wrong.text(), str(body)):
            assert PROVIDER_KEY not in text and BRIDGE_KEY not in text


async def test_health_readiness_and_metrics() -> None:
    async with bridge_in_process() as bridge, aiohttp.ClientSession() as http:
        health = await http.get(f"{bridge.url}/healthz")
        ready = await http.get(f"{bridge.url}/readyz")
        metrics = await http.get(f"{bridge.url}/metrics")
        not_ws = await http.get(f"{bridge.url}/twilio")
        text = await metrics.text()
    assert (health.status, ready.status, not_ws.status) == (200, 200, 426)
    assert metrics.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    # Text exposition format 0.0.4: comments, or `name{label="value",…} number`.
    sample = re.compile(r'^[a-z_]+\{(?:[a-z_]+="(?:[^"\\\n]|\\.)*",?)*\} -?[0-9.e+-]+$')
    for line in text.splitlines():
        assert line.startswith(("# HELP ", "# TYPE ")) or sample.match(line), line
    for family in (
        "sessions_open",
        "sessions_started_total",
        "sessions_refused_total",
        "sessions_ended_total",
        "audio_seconds_total",
        "draining",
    ):
        assert f"# TYPE voiceadapters_bridge_{family} " in text


async def test_a_provider_that_refuses_the_key_closes_with_1011_and_no_key_anywhere(
    logs: pytest.LogCaptureFixture,
) -> None:
    async with (
        bridge_in_process(simulator_key="another-key") as bridge,
        aiohttp.ClientSession() as http,
    ):
        async with http.ws_connect(f"{bridge.ws}/browser?token={BRIDGE_KEY}") as ws:
            messages = []
            while True:
                message = await ws.receive(timeout=20)
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                messages.append(message.json())
            code, reason = ws.close_code, str(message.extra or "")
        metrics = await metrics_with(http, bridge.url, 'reason="provider_failed"')
    assert code == 1011
    assert reason.startswith("provider session failed: AuthenticationError"), reason
    assert messages[-1]["type"] == "bridge.closing" and messages[-1]["code"] == 1011
    assert 'reason="provider_failed"' in metrics
    assert any("provider session failed" in r.getMessage() for r in logs.records)
    assert_no_key(logs, reason, json.dumps(messages), metrics)


async def test_a_provider_that_refuses_the_key_behind_the_realtime_front(
    logs: pytest.LogCaptureFixture,
) -> None:
    """The OpenAI Realtime front: a GA ``error`` with the reason, then 1011; no key anywhere."""
    async with (
        bridge_in_process(simulator_key="another-key") as bridge,
        aiohttp.ClientSession() as http,
    ):
        async with http.ws_connect(
            f"{bridge.ws}/v1/realtime?model=gpt-realtime",
            headers={"Authorization": f"Bearer {BRIDGE_KEY}"},
        ) as ws:
            messages = []
            while True:
                message = await ws.receive(timeout=20)
                if message.type is not aiohttp.WSMsgType.TEXT:
                    break
                messages.append(message.json())
            code, reason = ws.close_code, str(message.extra or "")
    assert code == 1011
    assert reason.startswith("provider session failed: AuthenticationError"), reason
    assert messages[0]["type"] == "session.created"
    error = messages[-1]
    assert error["type"] == "error" and error["error"]["code"] == "session_closed"
    assert error["error"]["message"].startswith("provider session failed")
    assert_no_key(logs, reason, json.dumps(messages))


async def test_a_command_the_provider_cannot_carry_is_refused_on_the_page_protocol() -> None:
    # Vatel has no client interrupt and no text input.
    async with bridge_in_process() as bridge, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{bridge.ws}/browser?token={BRIDGE_KEY}") as ws:
            assert (await ws.receive_json(timeout=10))["type"] == "bridge.ready"
            await ws.send_str('{"type": "interrupt"}')
            while True:
                reply = await ws.receive_json(timeout=10)
                if reply["type"] == "bridge.error":
                    break
    assert reply["message"].startswith("interrupt: ")
    assert "client_interrupt" in reply["message"]
