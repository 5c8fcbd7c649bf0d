"""Latency metrics (docs/metrics.md): real simulators over 127.0.0.1, real time.

The acceptance check: with the simulator's ``response_delay`` set, the
reported end-of-speech-to-first-audio matches it within ± 25 ms, for the
providers that report the end of speech (Vatel, NextEVI) and, through the
input-audio fallback, for binary-pcm (where the figure also holds the
simulated provider's end-of-turn detection, its 0.7 s hangover).
"""

from __future__ import annotations

import asyncio
import json
import math
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import voiceadapters
from voiceadapters.events import (
    SCHEMA_VERSION,
    AgentAudio,
    AgentAudioDone,
    Event,
    Interruption,
    Received,
    SessionStarted,
    UserSpeechStopped,
    receiving,
)
from voiceadapters.format import AudioFormat
from voiceadapters.metrics import MetricsRecorder, format_summary, voiced
from voiceadapters.runner import stream_recording
from voiceadapters.simulator.agent import Agent
from voiceadapters.testing import serve_simulator

KEY = "metrics-test-key-0123456789"
TOLERANCE = 0.025


def tone(seconds: float, rate: int = 16000, amplitude: float = 0.3) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * math.pi * 440 * t)).astype("<i2").tobytes()


async def _session(
    provider: str,
    pcm: bytes,
    *,
    response_delay: float | None,
    scenario: str | None = None,
    trailing_silence: float = 1.2,
) -> tuple[voiceadapters.Session, list[tuple[float, Event]]]:
    async with serve_simulator(
        provider, api_key=KEY, pace=1.0, scenario=scenario, response_delay=response_delay
    ) as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key=KEY)
        result = await stream_recording(
            session,
            pcm,
            realtime=True,
            trailing_silence=trailing_silence,
            idle_timeout=0.6,
            max_duration=20,
        )
        return session, result.events


@pytest.mark.network
@pytest.mark.parametrize(
    ("provider", "delay", "extra", "source"),
    [
        ("vatel", 0.3, 0.0, "user_speech_stopped"),
        ("nextevi", 0.3, 0.0, "user_speech_stopped"),
        ("vatel", 0.12, 0.0, "user_speech_stopped"),
        ("deepgram", 0.3, 0.0, "user_speech_stopped"),
        ("openai", 0.3, 0.0, "user_speech_stopped"),
        # No speech events: the end of the last non-silent input chunk, so the
        # figure holds the simulated provider's 0.7 s hangover as well.
        ("binary-pcm", 0.3, 0.7, "input_audio"),
    ],
)
async def test_end_of_speech_to_first_audio_matches_the_simulators_response_delay(
    provider: str, delay: float, extra: float, source: str
) -> None:
    session, _ = await _session(provider, tone(0.4), response_delay=delay)
    metrics = session.metrics
    assert len(metrics.turns) == 1, metrics
    turn = metrics.turns[0]
    assert turn.end_of_speech == source
    assert turn.response_latency is not None
    assert abs(turn.response_latency - (delay + extra)) <= TOLERANCE, turn
    assert session.stats.agent_turns == 1
    assert session.stats.last_response_latency == pytest.approx(turn.response_latency)
    # The echo of the utterance (pre-roll, tone, the quiet that ended it),
    # received in real time: the turn lasts as long as its audio, less the
    # last 20 ms chunk (the turn ends when that chunk arrives).
    assert 0.6 <= turn.audio_seconds <= 1.4
    assert turn.duration == pytest.approx(turn.audio_seconds - 0.02, abs=0.06)
    assert not turn.interrupted and turn.interruption_to_silence is None


@pytest.mark.network
async def test_connect_time_by_step() -> None:
    vatel, _ = await _session("vatel", tone(0.1), response_delay=None, trailing_silence=0.1)
    c = vatel.metrics.connect
    assert c is not None
    assert c.token_request is not None and c.token_request > 0  # Vatel's token POST
    assert c.websocket_open is not None and c.websocket_open > 0
    assert c.session_started is not None and c.session_started >= 0
    assert c.agent_ready is None  # no agent_ready in Vatel's protocol
    assert c.total == pytest.approx(
        c.token_request + c.websocket_open + c.session_started, abs=0.005
    )
    assert vatel.stats.connect_time == pytest.approx(c.total)
    assert [name for name, _, _ in c.spans()] == [
        "token_request",
        "websocket_open",
        "session_started",
    ]

    # binary-pcm: a token request, then connected, then agent_ready 0.25 s later.
    bpcm, _ = await _session("binary-pcm", tone(0.1), response_delay=None, trailing_silence=0.1)
    c = bpcm.metrics.connect
    assert c is not None and c.token_request is not None and c.agent_ready is not None
    assert c.agent_ready == pytest.approx(0.25, abs=0.05)

    # NextEVI: the key is in the URL, no token request.
    nextevi, _ = await _session("nextevi", tone(0.1), response_delay=None, trailing_silence=0.1)
    c = nextevi.metrics.connect
    assert c is not None and c.token_request is None and c.websocket_open is not None


@pytest.mark.network
async def test_events_carry_when_the_driver_received_them() -> None:
    before = Received.now()
    _, events = await _session("vatel", tone(0.4), response_delay=0.2)
    after = Received.now()
    stamps = [e.received for _, e in events]
    assert all(before.monotonic <= s.monotonic <= after.monotonic for s in stamps)
    assert all(before.wall <= s.wall <= after.wall for s in stamps)
    monotonic = [s.monotonic for s in stamps]
    assert monotonic == sorted(monotonic), "events arrive in order, and so do their stamps"
    audio = [e for _, e in events if isinstance(e, AgentAudio)]
    assert audio, "the agent answered"
    # Re-framed audio (24 → 16 kHz, 20 ms frames) carries the stamp of the
    # message whose audio completed it: at most as many distinct stamps as frames.
    assert len({e.received for e in audio}) <= len(audio)


@pytest.mark.network
async def test_an_interrupted_turn_reports_interruption_to_silence() -> None:
    # The barge_in agent speaks its answer three times over, so the second
    # utterance lands on agent speech and interrupts it.
    pcm = tone(0.5) + bytes(16000 * 2 * 1) + tone(0.5)
    session, events = await _session(
        "vatel", pcm, response_delay=0.05, scenario="barge_in", trailing_silence=1.2
    )
    kinds = [e.type for _, e in events]
    assert "interruption" in kinds
    turns = session.metrics.turns
    interrupted = [t for t in turns if t.interrupted]
    assert len(interrupted) == 1
    turn = interrupted[0]
    # The session fenced the turn: nothing of it reached the application after
    # the interruption (the simulator's in-flight chunks were dropped).
    assert turn.interruption_to_silence == 0.0
    assert session.stats.fenced_audio_events >= 0
    assert turn.duration < 3 * 0.7  # cut short
    assert len(turns) == 2 and not turns[1].interrupted


@pytest.mark.network
async def test_summary_and_json_form() -> None:
    session, _ = await _session("vatel", tone(0.4), response_delay=0.2)
    data = session.metrics.to_dict()
    json.dumps(data)
    assert data["schema"] == "voiceadapters-metrics/1"
    assert data["provider"] == "vatel"
    assert data["response_ms"]["count"] == 1
    assert abs(data["response_ms"]["median"] - 200) <= 25
    assert data["resampler"]["output"]["mean_ms"] > 0  # 24 kHz wire → 16 kHz app
    assert data["audio"]["dropped_audio_events"] == 0
    text = format_summary(session.metrics)
    assert "| turn-1 | user_speech_stopped |" in text
    assert "resampler delay" in text and "audio dropped" in text


def test_voiced_is_a_peak_test_at_minus_42_dbfs() -> None:
    assert not voiced(bytes(640))
    assert not voiced(np.full(320, -256, dtype="<i2").tobytes())
    assert not voiced(np.full(320, 255, dtype="<i2").tobytes())
    assert voiced(np.full(320, 256, dtype="<i2").tobytes())
    assert voiced(np.r_[np.zeros(319), [-257]].astype("<i2").tobytes())
    assert voiced(tone(0.02))


def test_response_delay_is_a_provider_neutral_simulator_setting() -> None:
    for name in ("vatel", "binary-pcm", "nextevi", "example", "deepgram", "openai"):
        simulator = voiceadapters.get_provider(name).make_simulator(api_key=KEY)
        assert simulator.agent_options() == {}
        simulator.response_delay = 0.4
        assert simulator.agent_options() == {"response_delay": 0.4}
        simulator.response_delay = -1
        with pytest.raises(ValueError, match="response_delay"):
            simulator.agent_options()


def test_the_agent_answers_after_its_response_delay() -> None:
    fmt = voiceadapters.AudioFormat(16000)
    agent = Agent(fmt, response_delay=0.5)
    agent.user_audio(tone(0.3), 0.0)
    agent.user_audio(bytes(fmt.bytes_for(0.8)), 0.3)  # quiet: the turn ends
    stopped = [a for a in agent.actions() if type(a).__name__ == "SpeechStopped"]
    assert stopped
    assert agent.get_timer() == pytest.approx(0.3 + 0.5)


async def test_metrics_cost_nothing_to_read_before_anything_happened() -> None:
    # A session that never connected has no connection times and no turns.
    provider = voiceadapters.get_provider("vatel")
    async with serve_simulator(provider, api_key=KEY) as (_, config, _sim):
        session = await voiceadapters.connect(config, api_key=KEY)
        started = time.monotonic()
        metrics = session.metrics
        assert time.monotonic() - started < 0.05
        assert metrics.turns == () and metrics.connect is not None
        await session.close()
    await asyncio.sleep(0)


@pytest.mark.network
def test_demo_prints_the_summary_and_writes_it_as_json(tmp_path: Path) -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "voiceadapters",
            "demo",
            "vatel",
            "--fast",
            "--output-dir",
            str(tmp_path),
            "--json",
            str(tmp_path / "metrics.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "session metrics (vatel)" in out.stdout
    assert "| turn-1 | user_speech_stopped |" in out.stdout
    assert "received=" not in out.stdout, "event lines do not repeat the stamp"
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert data["schema"] == "voiceadapters-metrics/1" and len(data["turns"]) == 1
    assert data["connect"]["token_request_ms"] is not None
    # The events file carries every event's stamp.
    lines = (tmp_path / "demo-vatel-events.jsonl").read_text().splitlines()
    assert all(set(json.loads(line)["received"]) == {"monotonic", "wall"} for line in lines)
    # ... and names the event model it follows.
    assert {json.loads(line)["schema_version"] for line in lines} == {SCHEMA_VERSION}


def test_response_delay_option_is_checked() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "voiceadapters", "demo", "--response-delay", "-1"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert out.returncode == 2 and "between 0 and 60 seconds" in out.stderr


def _at(t: float, event_type: type, **fields: object) -> Event:
    with receiving(Received(t, 1_700_000_000 + t)):
        return event_type(**fields)  # type: ignore[no-any-return]


def _audio(t: float, turn: str | None) -> Event:
    return _at(t, AgentAudio, pcm=bytes(640), format=AudioFormat(16000), turn_id=turn)


def test_the_recorder_splits_turns_and_times_them_on_the_events_stamps() -> None:
    rec = MetricsRecorder("p", track_input=False)
    rec.connection([("http", 0.0, 0.1), ("websocket", 0.1, 0.15)])
    rec.on_events([_at(0.2, SessionStarted)])
    rec.on_events([_at(1.0, UserSpeechStopped)])
    rec.on_events([_audio(1.25, "t1"), _audio(1.27, "t1")])
    rec.on_events([_at(1.3, AgentAudioDone, turn_id="t1")])
    rec.on_events([_at(2.0, UserSpeechStopped), _audio(2.5, "t2")])
    rec.on_events([_at(2.6, Interruption, turn_id="t2")])
    assert rec.watching is not None
    rec.audio_read(AgentAudio(pcm=b"", format=AudioFormat(16000), turn_id="t2"))  # read late
    rec.on_events([_audio(3.0, "t3")])  # a new turn: no end of speech since
    assert rec.watching is None
    m = rec.snapshot(resampler_input_ms=(0, 0), resampler_output_ms=(0, 0), audio={})
    c = m.connect
    assert c is not None
    assert (c.token_request, c.websocket_open) == pytest.approx((0.1, 0.05))
    assert c.session_started == pytest.approx(0.05) and c.total == pytest.approx(0.2)
    t1, t2, t3 = m.turns
    assert t1.response_latency == pytest.approx(0.25) and t1.duration == pytest.approx(0.05)
    assert t1.audio_seconds == pytest.approx(0.04) and not t1.interrupted
    assert t2.response_latency == pytest.approx(0.5) and t2.interrupted
    assert t2.duration == pytest.approx(0.1)
    assert t2.interruption_to_silence is not None and t2.interruption_to_silence > 0
    assert t3.response_latency is None and t3.end_of_speech is None


def test_without_speech_events_the_end_of_speech_is_the_last_voiced_input() -> None:
    rec = MetricsRecorder("p", track_input=True)
    rec.connection([])
    rec.input_voiced(1.0)
    rec.input_voiced(1.4)
    rec.on_events([_audio(2.4, None), _audio(2.42, None)])
    rec.on_events([_audio(2.6, None)])  # 0.18 s later: the same turn
    rec.on_events([_audio(3.5, None)])  # 0.9 s later, no new speech: a new turn
    rec.input_voiced(4.0)
    rec.on_events([_audio(5.2, None)])
    m = rec.snapshot(resampler_input_ms=(0, 0), resampler_output_ms=(0, 0), audio={})
    assert [t.response_latency for t in m.turns] == pytest.approx([1.0, None, 1.2])  # type: ignore[list-item]
    assert [t.end_of_speech for t in m.turns] == ["input_audio", None, "input_audio"]
