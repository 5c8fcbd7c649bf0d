"""The fuzz harness (``voiceadapters_conformance.fuzz``): a bounded run per
first-party plugin in the suite (the long run is a documented command), and
proof that the harness finds what it is meant to find."""

from __future__ import annotations

import base64
import json
import random
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from voiceadapters.config import ProviderConfig
from voiceadapters.frames import Frame
from voiceadapters_conformance.fuzz import fuzz_codec, fuzz_simulator, record
from voiceadapters_conformance.mutations import RAW_TOKENS, VALUES, Mutator, Seed, paths
from voiceadapters_example import ExampleProvider
from voiceadapters_example.codec import ExampleCodec

PLUGINS = ["vatel", "binary-pcm", "nextevi", "example", "deepgram", "openai"]


@pytest.mark.parametrize("name", PLUGINS)
def test_no_exception_escapes_a_bounded_run_of_each_codec_and_simulator(name: str) -> None:
    recording = record(name)
    for seed in (1, 2):
        codec = fuzz_codec(name, 1500, seed=seed, huge=False, recording=recording)
        assert codec.inputs == 1500 and codec.outputs > 0
        assert not codec.findings, "\n".join(map(str, codec.findings.values()))
        assert "provider_error:malformed_json" in codec.reached
        simulator = fuzz_simulator(name, 600, seed=seed, huge=False, recording=recording)
        assert simulator.inputs == 600 and simulator.sessions >= 1
        assert not simulator.findings, "\n".join(map(str, simulator.findings.values()))


def test_seeds_are_recorded_from_real_sessions_of_every_kind() -> None:
    recording = record("nextevi")
    kinds = {s.value.get("type") for s in recording.seeds(recording.server_frames) if s.is_json}
    # What the simulator sends in a session, its refusal included.
    assert {"connection_metadata", "transcription", "tts_chunk", "error"} <= kinds
    assert recording.ws_requests and not recording.http_requests
    client = recording.seeds(recording.client_frames)
    assert any(isinstance(s.frame, bytes) for s in client)
    assert any(s.is_json and s.value.get("type") == "session_settings" for s in client)


def test_a_run_is_a_function_of_its_seed() -> None:
    recording = record("vatel")
    first, again, other = (
        fuzz_codec("vatel", 800, seed=seed, huge=False, recording=recording) for seed in (7, 7, 8)
    )
    assert (first.outputs, first.by_input) == (again.outputs, again.by_input)
    assert (first.outputs, first.by_input) != (other.outputs, other.by_input)


def test_the_sweep_sets_every_field_path_to_every_hostile_value() -> None:
    seed = Seed.of('{"type": "t", "data": {"a": 1}}')
    mutator = Mutator([seed], random.Random(0))
    frames = list(mutator.sweep())
    per_path = len(VALUES) + len(RAW_TOKENS) + 1  # each value, each raw token, removal
    assert len(frames) == len(list(paths(seed.value))) * per_path + 1  # + the type swap
    assert '{"type": "t", "data": {"a": NaN}}' in frames
    assert '{"type": "t", "data": {"a": ' + "1" * 4301 + "}}" in frames
    assert '{"type": "t", "data": {}}' in frames


def test_base64_audio_fields_are_damaged_as_audio_in_the_sweep() -> None:
    seed = Seed.of(
        json.dumps({"type": "tts_chunk", "content": base64.b64encode(bytes(64)).decode()})
    )
    frames = list(Mutator([seed], random.Random(0)).sweep())
    audio = [
        base64.b64decode(json.loads(f)["content"] + "==") for f in frames[-17:-1]
    ]  # before the type swap
    assert any(a.startswith(b"RIFF") for a in audio), "hostile WAV headers"
    assert any(len(a) % 2 for a in audio), "odd byte counts"


def test_random_frames_cover_binary_deep_and_badly_encoded_input() -> None:
    seeds = [Seed.of('{"type": "t", "text": "hi"}'), Seed.of(b"\x00\x01" * 320)]
    mutator = Mutator(seeds, random.Random(3), huge=False)
    frames = [mutator.frame() for _ in range(3000)]
    assert any(isinstance(f, bytes) and len(f) % 2 for f in frames)
    assert any(f == b"" for f in frames)
    assert any(isinstance(f, str) and f.startswith("[" * 1000) for f in frames)
    assert any(isinstance(f, str) and "\\ud800" in f for f in frames)
    assert any(isinstance(f, bytes) and b"\xff" in f and b"type" in f for f in frames)
    assert any(isinstance(f, str) and f.startswith("\ufeff") for f in frames)


class _RawJSONCodec(ExampleCodec):
    """The bug the harness exists for: json.loads on a provider frame."""

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, str):
            self._on_message(json.loads(frame))  # RecursionError, ValueError escape
        else:
            super()._on_frame(frame)


class _RawJSONProvider(ExampleProvider):
    def make_codec(self, config: ProviderConfig) -> Any:
        return _RawJSONCodec(config, self)


def test_the_harness_reports_what_escapes_a_codec_and_the_input_that_did_it() -> None:
    report = fuzz_codec(_RawJSONProvider(), 3000, seed=0, huge=False)
    whats = {finding.what.split(":")[0] for finding in report.findings.values()}
    assert {"RecursionError", "JSONDecodeError"} <= whats
    assert report.exceptions > 0
    deep = next(f for f in report.findings.values() if f.what.startswith("RecursionError"))
    assert deep.example.startswith("receive_frame(") and "[[[[" in deep.example


def test_the_command_prints_the_figures_and_writes_a_report(tmp_path: Path) -> None:
    out = tmp_path / "fuzz.json"
    command = "-m voiceadapters_conformance.fuzz example --inputs 400 --no-huge --report"
    done = subprocess.run(
        [sys.executable, *command.split(), str(out)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "example codec: 400 inputs in" in done.stdout
    assert "example simulator: 40 inputs in" in done.stdout
    assert "0 exceptions escaped" in done.stdout
    (codec, simulator) = json.loads(out.read_text())
    assert codec["target"] == "codec" and codec["inputs"] == 400 and codec["exceptions"] == 0
    assert simulator["target"] == "simulator" and simulator["inputs"] == 40
