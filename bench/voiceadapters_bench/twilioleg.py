"""The Twilio leg's cost per frame: the bridge's ``TwilioFront`` beside Pipecat's serializer.

A tight loop over the same recorded frames, in-process, CPU time
(``time.process_time()``) per 20 ms frame, best of ``reps`` passes:

*inbound* (caller → agent)
    a Twilio ``media`` message (JSON text, base64 μ-law 8 kHz, as Twilio
    sends it: ``sequenceNumber``, ``track``, ``chunk``, ``timestamp``,
    ``payload``) → ``TwilioFront.receive_frame`` (JSON decode, checks,
    base64, μ-law → 16-bit PCM, the ``SendAudio`` command) → ``actions()``.
    Pipecat: ``await TwilioFrameSerializer.deserialize(message)`` (JSON
    decode, base64, μ-law → PCM, resampling to the pipeline rate, the
    ``InputAudioRawFrame``).
*outbound* (agent → caller)
    an ``AgentAudio`` event of 20 ms → ``TwilioFront.handle_event`` (μ-law,
    base64, the ``media`` JSON message; every 25th frame also a playback
    ``mark`` message, which Pipecat's serializer does not send) →
    ``frames_to_send()``. Pipecat: ``await serialize(OutputAudioRawFrame)``
    (resampling to 8 kHz, μ-law, base64, ``json.dumps``). The input objects
    are built before the loop on both sides (the session or the pipeline
    builds them).

The first frame of each pass is not timed, on either side: it makes the
resampler streams (both make them on first use).

Two rates, resampling included or excluded on both sides alike:

``8 kHz``
    the application side is at Twilio's rate: no resampling on either side.
    This is what the bridge does (it hands 8 kHz PCM to the session, which
    resamples to the provider's rate as any session does), and the outputs
    are byte-identical (both use ``audioop``'s coder), which the bench checks.
``16 kHz``
    each side resamples to and from a 16 kHz pipeline with its own
    resampler: ours ``StreamConverter`` (soxr ``HQ``, minimum phase, the
    session's default) — and, outbound, the ``AgentAudio`` event the session
    would build from the converted audio — Pipecat's
    ``SOXRStreamAudioResampler`` (soxr ``VHQ``, linear phase, its default).

Pipecat runs in an interpreter that has ``pipecat-ai``: this one when it is
importable, else a virtual environment of its own under the bench's cache
directory (``~/.cache/voiceadapters-bench/pipecat-<version>``), created on
demand with ``pip install pipecat-ai==<version>`` (its dependencies pin
``soxr``, ``protobuf`` and others the development environment has newer, so
it cannot share one). The script it runs, :mod:`voiceadapters_bench.pipecat_twilio`,
reads the frames from a JSON file and prints its figures as JSON.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
import venv
from pathlib import Path
from typing import Any

from voiceadapters import AudioFormat
from voiceadapters.audio import StreamConverter
from voiceadapters.capabilities import Capabilities
from voiceadapters.events import AgentAudio
from voiceadapters.testing import speech_sample

__all__ = [
    "PIPECAT_VERSION",
    "PipecatUnavailable",
    "find_pipecat",
    "measure_ours",
    "measure_twilio_leg",
    "recorded_call",
]

#: The Pipecat release the bench compares with (its own venv installs this one).
PIPECAT_VERSION = "1.14.0"
_SCRIPT = Path(__file__).with_name("pipecat_twilio.py")
_SID = "MZ0123456789abcdef0123456789abcdef"
_PHONE = AudioFormat(8000)
#: Pipeline rates measured: Twilio's own (no resampling) and the library default.
RATES = (8000, 16000)


class PipecatUnavailable(RuntimeError):
    """Pipecat cannot be run here; the message says why (it becomes a skipped row)."""


def recorded_call(seconds: float) -> tuple[list[str], list[bytes]]:
    """``seconds`` of the bundled speech sample as a Twilio call: the ``media``
    messages Twilio would send (μ-law 8 kHz, 20 ms each) and the same audio
    as 16-bit PCM 8 kHz frames of 20 ms."""
    pcm, fmt = speech_sample()
    conv = StreamConverter(fmt, _PHONE)
    pcm8 = conv.convert(pcm) + conv.flush()
    n = int(seconds * 8000) * 2
    pcm8 = (pcm8 * (n // len(pcm8) + 1))[:n]
    frames = [pcm8[i : i + 320] for i in range(0, len(pcm8) - 319, 320)]
    from voiceadapters_bridge.g711 import pcm16_to_ulaw

    messages = [
        json.dumps(
            {
                "event": "media",
                "sequenceNumber": str(i + 3),
                "media": {
                    "track": "inbound",
                    "chunk": str(i + 1),
                    "timestamp": str(i * 20),
                    "payload": base64.b64encode(pcm16_to_ulaw(f)).decode("ascii"),
                },
                "streamSid": _SID,
            }
        )
        for i, f in enumerate(frames)
    ]
    return messages, frames


def _at_rate(frames: list[bytes], rate: int) -> list[bytes]:
    """8 kHz frames converted to ``rate`` (20 ms each), for the outbound loop."""
    if rate == 8000:
        return frames
    conv = StreamConverter(_PHONE, AudioFormat(rate))
    data = b"".join(conv.convert(f) for f in frames) + conv.flush()
    fb = rate // 50 * 2
    return [data[i : i + fb] for i in range(0, len(data) - fb + 1, fb)]


def _started_front() -> Any:
    from voiceadapters_bridge.front import FrontFacts
    from voiceadapters_bridge.twilio import TwilioFront

    front = TwilioFront(FrontFacts(provider="bench", capabilities=Capabilities()))
    front.connection_opened()
    front.receive_frame(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    start = {
        "streamSid": _SID,
        "callSid": "CA0",
        "tracks": ["inbound"],
        "customParameters": {},
        "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
    }
    front.receive_frame(json.dumps({"event": "start", "streamSid": _SID, "start": start}))
    front.actions()  # the OpenSession
    return front


def measure_ours(messages: list[str], frames: list[bytes], rate: int, reps: int) -> dict[str, Any]:
    """``TwilioFront`` (plus ``StreamConverter`` when ``rate`` ≠ 8 kHz) over the
    recorded call; see the module docstring."""
    app = AudioFormat(rate)
    inbound: list[float] = []
    digest_in = ""
    for _ in range(reps):
        front = _started_front()
        up = StreamConverter(_PHONE, app) if rate != 8000 else None
        out: list[bytes] = []
        t0 = 0.0
        for i, m in enumerate(messages):
            if i == 1:  # the first frame is untimed: it makes the resampler stream
                t0 = time.process_time()
            front.receive_frame(m)
            for action in front.actions():
                out.append(up.convert(action.pcm) if up is not None else action.pcm)
        inbound.append(time.process_time() - t0)
        digest_in = hashlib.sha256(b"".join(out)).hexdigest()
    pcm = _at_rate(frames, rate)
    outbound: list[float] = []
    digest_out = ""
    sent: list[Any] = []
    for _ in range(reps):
        front = _started_front()
        sent = []
        t0 = 0.0
        if rate == 8000:
            events = [AgentAudio(pcm=p, format=_PHONE, turn_id="t1") for p in pcm]
            for i, e in enumerate(events):
                if i == 1:
                    t0 = time.process_time()
                front.handle_event(e)
                sent.extend(front.frames_to_send())
        else:
            down = StreamConverter(app, _PHONE)
            for i, p in enumerate(pcm):
                if i == 1:  # the first frame is untimed: it makes the resampler stream
                    t0 = time.process_time()
                front.handle_event(AgentAudio(pcm=down.convert(p), format=_PHONE, turn_id="t1"))
                sent.extend(front.frames_to_send())
        outbound.append(time.process_time() - t0)
        media = [json.loads(s) for s in sent if isinstance(s, str) and '"media"' in s[:20]]
        digest_out = hashlib.sha256(
            b"".join(base64.b64decode(m["media"]["payload"]) for m in media)
        ).hexdigest()
    marks = sum(1 for s in sent if isinstance(s, str) and '"mark"' in s[:20])
    return {
        "subject": "voiceadapters-bridge TwilioFront",
        "rate": rate,
        "in_us": 1e6 * min(inbound) / (len(messages) - 1),
        "out_us": 1e6 * min(outbound) / (len(pcm) - 1),
        "in_runs_us": [1e6 * x / (len(messages) - 1) for x in inbound],
        "out_runs_us": [1e6 * x / (len(pcm) - 1) for x in outbound],
        "in_sha256": digest_in,
        "out_sha256": digest_out,
        "out_marks": marks,
        "frames": len(messages),
    }


# -- Pipecat -------------------------------------------------------------------------------


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "voiceadapters-bench"


def _venv_python(root: Path) -> Path:
    return root / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


def _importable_here() -> bool:
    try:
        from importlib.util import find_spec

        return find_spec("pipecat.serializers.twilio") is not None
    except (ImportError, ValueError):
        return False


def find_pipecat(*, setup: bool, log: Any = None) -> tuple[str, str]:
    """An interpreter that runs Pipecat, and how it was found.

    This one when ``pipecat`` is importable; else the bench's own venv
    (``<cache>/pipecat-<version>``), created now when ``setup`` is true.
    Raises :class:`PipecatUnavailable` with the reason otherwise.
    """
    if _importable_here():
        return sys.executable, "pipecat-ai importable in the bench's interpreter"
    root = _cache_dir() / f"pipecat-{PIPECAT_VERSION}"
    python = _venv_python(root)
    marker = root / "voiceadapters-bench-ready"
    how = f"its own venv {root} (pipecat-ai=={PIPECAT_VERSION}, its own dependencies)"
    if marker.exists() and python.exists():
        return str(python), how
    if not setup:
        raise PipecatUnavailable(
            f"pipecat-ai is not importable and its venv {root} is not set up "
            "(a full run sets it up; or run python -m voiceadapters_bench.bridge --setup-pipecat)"
        )
    if log is not None:
        log(f"setting up Pipecat {PIPECAT_VERSION} in {root} (once; ~40 s, ~500 MB) …")
    try:
        venv.EnvBuilder(with_pip=True, clear=True).create(root)
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", f"pipecat-ai=={PIPECAT_VERSION}"],
            capture_output=True,
            text=True,
            timeout=900,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise PipecatUnavailable(f"could not set up {root}: {exc}") from exc
    if done.returncode != 0:
        tail = [ln for ln in done.stderr.splitlines() if not ln.startswith("WARNING")][-3:]
        raise PipecatUnavailable(
            f"pip install pipecat-ai=={PIPECAT_VERSION} failed: {' / '.join(tail)}"
        )
    marker.write_text(f"pipecat-ai=={PIPECAT_VERSION}\n")
    return str(python), how


def _run_pipecat(
    python: str, messages: list[str], frames: list[bytes], rate: int, reps: int
) -> dict[str, Any]:
    spec = {
        "rate": rate,
        "reps": reps,
        "messages": messages,
        "pcm": [base64.b64encode(p).decode("ascii") for p in _at_rate(frames, rate)],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frames.json"
        path.write_text(json.dumps(spec))
        done = subprocess.run(
            [python, str(_SCRIPT), str(path)],
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
    lines = done.stdout.strip().splitlines()
    if done.returncode != 0 or not lines:
        raise PipecatUnavailable(
            f"the Pipecat script failed ({done.returncode}): {done.stderr.strip()[-400:]}"
        )
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def measure_twilio_leg(
    *, quick: bool = False, setup_pipecat: bool = False, log: Any = None
) -> dict[str, Any]:
    """Both sides at every rate of :data:`RATES`; Pipecat's rows are ``None``
    (with ``pipecat_note`` saying why) when it cannot run."""
    seconds = 2.0 if quick else 20.0
    reps = 2 if quick else 5
    messages, frames = recorded_call(seconds)
    python: str | None = None
    try:
        python, how = find_pipecat(setup=setup_pipecat, log=log)
        note = how
    except PipecatUnavailable as exc:
        note = str(exc)
    rows = []
    for rate in RATES:
        ours = measure_ours(messages, frames, rate, reps)
        theirs: dict[str, Any] | None = None
        if python is not None:
            try:
                theirs = _run_pipecat(python, messages, frames, rate, reps)
            except (PipecatUnavailable, OSError, subprocess.SubprocessError) as exc:
                python, note = None, str(exc)
        rows.append({"rate": rate, "ours": ours, "pipecat": theirs})
    return {
        "frames": len(messages),
        "reps": reps,
        "pipecat": python is not None,
        "pipecat_note": note,
        "rows": rows,
    }
