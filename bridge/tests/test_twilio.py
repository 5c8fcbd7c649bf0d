"""Acceptance: a Twilio Media Streams client over loopback, the bridge, a
first-party simulator (vatel's) behind it — μ-law 8 kHz both ways."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import time

import aiohttp
import numpy as np
import pytest

from voiceadapters.audio import best_alignment, pcm_to_array
from voiceadapters.secrets import Secret
from voiceadapters_bridge.auth import mint_token
from voiceadapters_bridge.g711 import ulaw_to_pcm16

from .conftest import BRIDGE_KEY, PROVIDER_KEY, TwilioCall, bridge_in_process, speech_8k, wait_for

pytestmark = [pytest.mark.network, pytest.mark.slow]


async def test_a_call_hears_the_agent_and_gets_its_marks(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="voiceadapters.bridge")
    speech = speech_8k()
    async with bridge_in_process(scenario="echo") as bridge, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{bridge.ws}/twilio") as ws:
            call = TwilioCall(ws)
            listener = asyncio.create_task(call.listen())
            await call.start()
            await call.send_pcm(speech + bytes(2 * 8000 * 2))  # speech, then 2 s of quiet
            await wait_for(lambda: call.turn_marks(), 15, "the mark after the agent's turn")
            await ws.send_str(
                json.dumps({"event": "stop", "streamSid": call.stream_sid, "stop": {}})
            )
            await asyncio.wait_for(listener, 10)
            assert ws.close_code == 1000
        metrics = await (await http.get(f"{bridge.url}/metrics")).text()
    seconds = {
        line.split('direction="')[1].split('"')[0]: float(line.rsplit(" ", 1)[1])
        for line in metrics.splitlines()
        if line.startswith("voiceadapters_bridge_audio_seconds_total{")
    }
    # In: everything the call streamed (3.3 s of speech and 2 s of quiet); out: the echo.
    assert seconds["in"] == pytest.approx(len(speech) / 16000 + 2, abs=0.05)
    assert seconds["out"] >= len(speech) / 16000 - 0.1
    media = call.events("media")
    assert media and all(m["streamSid"] == call.stream_sid for m in media)
    # 20 ms of μ-law per message, as Twilio sends and expects.
    assert {len(m["media"]["payload"]) for m in media[:-1]} == {216}
    lag, ncc = best_alignment(pcm_to_array(speech), pcm_to_array(bytes(call.played)))
    assert ncc >= 0.9, f"echo cross-correlation {ncc:.3f} (lag {lag})"
    # Playback marks every 0.5 s of the turn, and the turn's own after its last media.
    order = [m.get("event") for _, m in call.received]
    assert order.index("mark") < max(i for i, e in enumerate(order) if e == "media")
    assert len(order) - 1 - order[::-1].index("mark") > max(
        i for i, e in enumerate(order) if e == "media"
    )
    names = [m["mark"]["name"] for m in call.events("mark")]
    assert names[-1].startswith("turn-") and all(n.startswith("play#") for n in names[:-1])
    assert len(names) == int(len(speech) / 16000 / 0.5) + 1, names
    # The bridge saw every echo: the mark round trips are complete.
    (ended,) = [r.getMessage() for r in caplog.records if "connection ended" in r.getMessage()]
    assert f"marks {len(names)} echoed / 0 pending" in ended, ended
    assert all(PROVIDER_KEY not in r.getMessage() for r in caplog.records)
    assert all(PROVIDER_KEY not in str(m) for _, m in call.received)


async def test_barge_in_sends_clear_and_no_stale_media_follows() -> None:
    speech = speech_8k()
    reversed_speech = pcm_to_array(speech)[::-1].astype(np.int16).tobytes()
    async with bridge_in_process(scenario="barge_in") as bridge, aiohttp.ClientSession() as http:
        async with http.ws_connect(f"{bridge.ws}/twilio") as ws:
            call = TwilioCall(ws)
            listener = asyncio.create_task(call.listen())
            await call.start()
            await call.send_pcm(speech + bytes(8000 * 2))  # speech, 1 s of quiet: the turn ends
            await wait_for(
                lambda: len(call.played) > 8000, 10, "the agent's reply (3 × the utterance)"
            )
            # Speak over the agent: a different utterance (the sample reversed).
            talk_started = asyncio.get_running_loop().time()
            await call.send_pcm(reversed_speech)
            await wait_for(lambda: call.events("clear"), 5, "clear after barge-in")
            stop_talking = asyncio.get_running_loop().time()
            await call.send_pcm(bytes(int(1.5 * 8000) * 2))
            await wait_for(
                lambda: len(call.events("media")) > 0 and _media_after_clear(call) > 100,
                15,
                "the next reply",
            )
            await asyncio.sleep(0.5)
            with contextlib.suppress(Exception):
                await ws.close()
            listener.cancel()
    assert talk_started < stop_talking
    clear_at = next(t for t, m in call.received if m.get("event") == "clear")
    after = [m for t, m in call.received if t > clear_at and m.get("event") == "media"]
    audio_after = b"".join(base64.b64decode(m["media"]["payload"]) for m in after)
    after_pcm = pcm_to_array(ulaw_to_pcm16(audio_after))
    # Everything after the clear is the reply to the second utterance (its
    # echo), none of it the rest of the first reply.
    _, ncc_new = best_alignment(pcm_to_array(reversed_speech), after_pcm)
    _, ncc_stale = best_alignment(pcm_to_array(speech), after_pcm[: len(speech) // 2])
    assert ncc_new >= 0.9, f"after the clear: {ncc_new:.3f} with the second utterance"
    assert ncc_stale < 0.5, f"stale audio after the clear: {ncc_stale:.3f} with the first reply"
    first_media_after = next(
        t for t, m in call.received if t > clear_at and m.get("event") == "media"
    )
    assert first_media_after - clear_at > 0.3, "media right after the clear: stale audio"


def _media_after_clear(call: TwilioCall) -> int:
    seen_clear = False
    count = 0
    for _, m in call.received:
        if m.get("event") == "clear":
            seen_clear = True
        elif seen_clear and m.get("event") == "media":
            count += 1
    return count


async def test_custom_parameters_choose_only_the_allowed_agent_options() -> None:
    async with (
        bridge_in_process(client_options=("first_message",)) as bridge,
        aiohttp.ClientSession() as http,
    ):
        async with http.ws_connect(f"{bridge.ws}/twilio") as ws:
            call = TwilioCall(ws)
            listener = asyncio.create_task(call.listen())
            await call.start(
                first_message="Hi from the TwiML", prompt="not allowed", caller="+15550100"
            )
            await wait_for(lambda: bridge.simulator.grants, 10, "the provider session")
            await ws.close()
            await asyncio.wait_for(listener, 10)
        (grant,) = bridge.simulator.grants.values()
        assert (grant.first_message, grant.prompt) == ("Hi from the TwiML", None)
        # A token's options come from whoever holds the bridge key: applied.
        token, _ = mint_token(
            Secret(BRIDGE_KEY), ttl=60, now=time.time(), options={"prompt": "from the backend"}
        )
        async with http.ws_connect(f"{bridge.ws}/twilio") as ws:
            call = TwilioCall(ws)
            listener = asyncio.create_task(call.listen())
            await call.start(token=token)
            await wait_for(lambda: len(bridge.simulator.grants) == 2, 10, "the second session")
            await ws.close()
            await asyncio.wait_for(listener, 10)
        assert [g.prompt for g in bridge.simulator.grants.values()] == [None, "from the backend"]


@pytest.mark.parametrize(
    "provider", ["vatel", "binary-pcm", "nextevi", "deepgram", "openai", "example"]
)
async def test_every_first_party_provider_behind_the_twilio_front(provider: str) -> None:
    """The same call through each plugin: the bridge knows no provider.
    Streamed as fast as the bridge takes it (the simulators' turn detection
    runs on the audio's own timeline), so the rate limit is raised here."""
    speech = speech_8k()
    async with (
        bridge_in_process(provider=provider, pace=0, max_rate=10000, rate_burst=10000) as bridge,
        aiohttp.ClientSession() as http,
    ):
        async with http.ws_connect(f"{bridge.ws}/twilio") as ws:
            call = TwilioCall(ws)
            listener = asyncio.create_task(call.listen())
            await call.start()
            await call.send_pcm(speech + bytes(2 * 8000 * 2), realtime=False)
            await wait_for(lambda: len(call.played) >= len(speech) - 1600, 20, f"{provider}'s echo")
            await ws.send_str(
                json.dumps({"event": "stop", "streamSid": call.stream_sid, "stop": {}})
            )
            await asyncio.wait_for(listener, 10)
    _, ncc = best_alignment(pcm_to_array(speech), pcm_to_array(bytes(call.played)))
    assert ncc >= 0.9, f"{provider}: echo cross-correlation {ncc:.3f}"
    assert ws.close_code == 1000
