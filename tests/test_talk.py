"""``voiceadapters talk`` through its audio-device seam (docs/talk.md).

CI has no sound card (and the CI image no PortAudio), so the sessions run
with the WAV-file stand-ins of :mod:`voiceadapters.devices` — the same seam
the sounddevice implementation plugs into — against simulators on
127.0.0.1, in real time. The messages for a missing extra and a missing
device are checked as a user sees them, in a subprocess.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from voiceadapters.audio import read_wav, write_wav
from voiceadapters.devices import (
    AudioDeviceError,
    AudioInput,
    AudioOutput,
    WavFileInput,
    WavFileOutput,
    open_input,
)
from voiceadapters.format import AudioFormat
from voiceadapters.talk import talk
from voiceadapters.testing import serve_simulator

KEY = "talk-test-key-0123456789"
FMT = AudioFormat(16000)


def tone(seconds: float, rate: int = 16000) -> bytes:
    t = np.arange(int(seconds * rate)) / rate
    return (0.3 * 32767 * np.sin(2 * math.pi * 440 * t)).astype("<i2").tobytes()


def silence(seconds: float) -> bytes:
    return bytes(FMT.bytes_for(seconds))


def talk_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "voiceadapters", "talk", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
    )


# -- the file devices -------------------------------------------------------------------


def test_the_file_devices_implement_the_seam(tmp_path: Path) -> None:
    write_wav(tmp_path / "in.wav", tone(0.1), FMT)
    assert isinstance(WavFileInput(tmp_path / "in.wav"), AudioInput)

    async def make() -> WavFileOutput:
        return WavFileOutput(tmp_path / "out.wav", FMT)

    assert isinstance(asyncio.run(make()), AudioOutput)


async def test_file_input_is_paced_in_real_time_then_falls_silent(tmp_path: Path) -> None:
    write_wav(tmp_path / "in.wav", tone(0.2), FMT)
    source = WavFileInput(tmp_path / "in.wav", silence_after=0.2)
    started = time.monotonic()
    frames = [f async for f in source.frames()]
    elapsed = time.monotonic() - started
    assert [len(f) for f in frames] == [640] * 20
    assert b"".join(frames) == tone(0.2) + silence(0.2)
    assert 0.35 <= elapsed <= 0.8
    fast = WavFileInput(tmp_path / "in.wav", speed=0)
    started = time.monotonic()
    assert len([f async for f in fast.frames()]) == 60
    assert time.monotonic() - started < 0.3


async def test_clear_drops_the_queued_playback_at_once(tmp_path: Path) -> None:
    sink = WavFileOutput(tmp_path / "out.wav", FMT)
    sink.play(tone(1.0))
    await asyncio.sleep(0.2)
    dropped = sink.clear()
    assert FMT.bytes_for(0.6) <= dropped <= FMT.bytes_for(0.85)
    played = len(sink.played)
    await asyncio.sleep(0.1)
    assert len(sink.played) == played, "nothing more is played after clear()"
    await sink.drain(timeout=1)
    await sink.aclose()
    pcm, fmt = read_wav(tmp_path / "out.wav")
    assert fmt == FMT and len(pcm) == played and sink.clears == 1


def test_a_missing_or_bad_input_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(AudioDeviceError, match="cannot read input file"):
        open_input(f"file:{tmp_path / 'missing.wav'}")
    (tmp_path / "bad.wav").write_bytes(b"not a wav")
    with pytest.raises(AudioDeviceError, match="not a 16-bit PCM WAV"):
        open_input(f"file:{tmp_path / 'bad.wav'}")


# -- sessions through the seam --------------------------------------------------------------


@pytest.mark.network
async def test_talk_runs_a_session_end_to_end_through_the_devices(tmp_path: Path) -> None:
    write_wav(tmp_path / "in.wav", tone(0.4), FMT)
    out = io.StringIO()
    async with serve_simulator("vatel", api_key=KEY, pace=1.0, response_delay=0.1) as (
        _,
        config,
        _sim,
    ):
        source = WavFileInput(tmp_path / "in.wav", silence_after=1.2)
        sink = WavFileOutput(tmp_path / "out.wav", FMT)
        metrics = await talk(config, source, sink, api_key=KEY, out=out, idle_timeout=0.5)
        await sink.aclose()
    text = out.getvalue()
    assert "you:   [" in text and "agent: You said" in text
    assert "[agent turn 1 (turn-1): first audio" in text and "(user_speech_stopped)" in text
    (turn,) = metrics.turns
    assert turn.response_latency == pytest.approx(0.1, abs=0.025)
    pcm, _ = read_wav(tmp_path / "out.wav")
    assert FMT.duration(len(pcm)) == pytest.approx(turn.audio_seconds, abs=0.05)
    assert sink.clears == 0


@pytest.mark.network
async def test_playback_stops_at_once_on_an_interruption(tmp_path: Path) -> None:
    # barge_in: the agent answers with the utterance three times over; the
    # second utterance lands on that answer and interrupts it. The speaker
    # plays at half speed, so agent audio is queued when the interruption comes.
    write_wav(tmp_path / "in.wav", tone(0.5) + silence(1.1) + tone(0.5), FMT)
    out = io.StringIO()
    async with serve_simulator("vatel", api_key=KEY, pace=1.0, scenario="barge_in") as (
        _,
        config,
        _sim,
    ):
        source = WavFileInput(tmp_path / "in.wav", silence_after=1.2)
        sink = WavFileOutput(tmp_path / "out.wav", FMT, speed=0.5)
        metrics = await talk(config, source, sink, api_key=KEY, out=out, idle_timeout=0.5)
        await sink.aclose()
    text = out.getvalue()
    assert "[interrupted: stopped playback" in text
    assert sink.clears >= 1 and sink.cleared_bytes > 0
    interrupted = [t for t in metrics.turns if t.interrupted]
    assert len(interrupted) == 1
    first = interrupted[0]
    # Played: what had been heard of the first answer when it was cut, then
    # the second answer; never the dropped rest of the first.
    heard = FMT.duration(len(sink.played))
    later = sum(t.audio_seconds for t in metrics.turns if t is not first)
    assert heard < first.audio_seconds + later - FMT.duration(sink.cleared_bytes) + 0.05


# -- the command --------------------------------------------------------------------------


@pytest.mark.network
def test_talk_command_with_file_devices_prints_latencies_and_the_summary(tmp_path: Path) -> None:
    write_wav(tmp_path / "in.wav", tone(0.4), FMT)
    result = talk_cli(
        "vatel",
        "--input-device",
        f"file:{tmp_path / 'in.wav'}",
        "--output-device",
        f"file:{tmp_path / 'out.wav'}",
        "--response-delay",
        "0.2",
        "--idle-timeout",
        "0.5",
        "--json",
        str(tmp_path / "metrics.json"),
    )
    assert result.returncode == 0, result.stderr
    assert "talk: vatel simulator in this process" in result.stdout
    assert "[agent turn 1 (turn-1): first audio" in result.stdout
    assert "session metrics (vatel)" in result.stdout
    assert "| turn-1 | user_speech_stopped |" in result.stdout
    data = json.loads((tmp_path / "metrics.json").read_text())
    assert abs(data["turns"][0]["response_ms"] - 200) <= 25
    pcm, _ = read_wav(tmp_path / "out.wav")
    assert len(pcm) > 0


@pytest.mark.network
def test_ctrl_c_closes_the_session_cleanly_and_prints_the_summary(tmp_path: Path) -> None:
    # A long input: the session would run for 20 s; Ctrl-C ends it early.
    write_wav(tmp_path / "in.wav", (tone(0.4) + silence(1.2)) * 12, FMT)
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voiceadapters",
            "talk",
            "vatel",
            "--input-device",
            f"file:{tmp_path / 'in.wav'}",
            "--output-device",
            f"file:{tmp_path / 'out.wav'}",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        seen = []
        for line in proc.stdout:
            seen.append(line)
            if "[agent turn 1" in line or time.monotonic() > deadline:
                break
        assert any("[agent turn 1" in line for line in seen), seen
        started = time.monotonic()
        proc.send_signal(signal.SIGINT)
        rest, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert time.monotonic() - started < 10
    assert proc.returncode == 0, err
    assert "closing the session" in err and "Traceback" not in err
    assert "session metrics (vatel)" in rest
    assert (tmp_path / "out.wav").stat().st_size > 44


BLOCK_SOUNDDEVICE = (
    "import sys; sys.modules['sounddevice'] = None; "
    "from voiceadapters.cli import main; sys.exit(main(sys.argv[1:]))"
)


def test_without_the_extra_the_message_says_what_to_install() -> None:
    result = subprocess.run(
        [sys.executable, "-c", BLOCK_SOUNDDEVICE, "talk", "vatel"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "sounddevice package is not installed" in result.stderr
    assert "pip install 'voiceadapters[talk]'" in result.stderr
    assert "file:IN.wav" in result.stderr
    assert "Traceback" not in result.stderr


def _default_devices_exist() -> bool:
    try:
        import sounddevice  # type: ignore[import-untyped]
    except (ImportError, OSError):
        return False
    try:
        sounddevice.query_devices(None, "input")
        sounddevice.query_devices(None, "output")
    except Exception:
        return False
    return True


def test_without_portaudio_or_a_device_the_message_says_what_is_missing() -> None:
    if _default_devices_exist():
        pytest.skip("this machine has a default input and output device")
    result = talk_cli("vatel")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "voiceadapters: error:" in result.stderr
    # This CI image has sounddevice but no PortAudio; a machine with PortAudio
    # and no sound card gets the no-device message instead.
    assert "PortAudio library is not" in result.stderr or "no input audio device" in result.stderr
    assert "file:" in result.stderr


def test_a_missing_input_file_fails_before_connecting(tmp_path: Path) -> None:
    result = talk_cli("vatel", "--input-device", f"file:{tmp_path / 'nope.wav'}")
    assert result.returncode == 2
    assert "cannot read input file" in result.stderr and "Traceback" not in result.stderr


def test_talk_help_names_the_devices_and_the_extra() -> None:
    result = talk_cli("--help")
    assert result.returncode == 0
    assert "--input-device" in result.stdout and "file:PATH.wav" in result.stdout


@pytest.mark.network
def test_a_talk_session_is_recorded_to_a_cassette_that_replays_green(tmp_path: Path) -> None:
    """``talk --record`` is how a session from the microphone becomes a
    cassette (docs/cassettes.md): the device seam's file stand-in plays the
    microphone here, and the cassette replays with the same events."""
    from voiceadapters.cassette import load, replay

    write_wav(tmp_path / "in.wav", tone(0.4), FMT)
    result = talk_cli(
        "vatel",
        "--input-device",
        f"file:{tmp_path / 'in.wav'}",
        "--output-device",
        f"file:{tmp_path / 'out.wav'}",
        "--file-speed",
        "4",
        "--idle-timeout",
        "0.5",
        "--record",
        str(tmp_path / "talk.jsonl"),
        "--record-audio",
        "marker",
    )
    assert result.returncode == 0, result.stderr
    assert f"wrote the session to {tmp_path / 'talk.jsonl'}" in result.stdout
    cassette = load(tmp_path / "talk.jsonl")
    assert cassette.provider == "vatel"
    assert "agent_audio" in {line["event"]["type"] for line in cassette.events()}
    report = asyncio.run(replay(cassette, timeout=30))
    assert report.ok, "\n".join(report.lines())
