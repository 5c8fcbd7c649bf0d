"""Pipecat's ``TwilioFrameSerializer`` over recorded Twilio frames: CPU per frame.

Run by :mod:`voiceadapters_bench.twilioleg` with an interpreter that has
``pipecat-ai`` (its own virtual environment, since Pipecat's dependencies
pin versions the development environment does not have), as
``python pipecat_twilio.py INPUT_JSON``. It imports nothing from
``voiceadapters``, so it runs in a venv that has only Pipecat. The input
file holds what the bench's own side loops over:

* ``messages``: Twilio ``media`` messages (JSON text, μ-law 8 kHz, 20 ms);
* ``pcm``: base64 16-bit PCM frames of 20 ms at ``rate`` (agent audio);
* ``rate``: the pipeline's sample rate (8000: no resampling on either side;
  16000: Pipecat resamples with its ``SOXRStreamAudioResampler``);
* ``reps``: timed passes; the best counts, every one is reported.

Pipecat's public API only: ``TwilioFrameSerializer(stream_sid, params=
InputParams(auto_hang_up=False))`` (no Twilio REST credentials: hanging up
is not on the media path), ``await setup(FrameProcessorSetup(…,
audio_in_sample_rate=rate))`` as a transport calls it, then ``await
deserialize(message)`` (→ ``InputAudioRawFrame``) and ``await
serialize(OutputAudioRawFrame(...))`` (→ a ``media`` JSON string), awaited
in a coroutine as Pipecat's transports do. The output frames are built
before the timed loop (the pipeline builds them, not the serializer), and
the first frame of each pass is untimed (it makes the resampler stream). It
prints one JSON object: µs of CPU per frame each way and digests of what
came out, so the bench can check both sides produced the same audio.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import sys
import time
from typing import Any

SID = "MZ0123456789abcdef0123456789abcdef"


async def _measure(spec: dict[str, Any]) -> dict[str, Any]:
    import pipecat  # type: ignore[import-not-found]
    from pipecat.clocks.system_clock import SystemClock  # type: ignore[import-not-found]
    from pipecat.frames.frames import OutputAudioRawFrame  # type: ignore[import-not-found]
    from pipecat.processors.frame_processor import (  # type: ignore[import-not-found]
        FrameProcessorSetup,
    )
    from pipecat.serializers.twilio import TwilioFrameSerializer  # type: ignore[import-not-found]
    from pipecat.utils.asyncio.task_manager import TaskManager  # type: ignore[import-not-found]

    rate = int(spec["rate"])
    reps = int(spec["reps"])
    messages: list[str] = spec["messages"]
    pcm = [base64.b64decode(p) for p in spec["pcm"]]
    setup = FrameProcessorSetup(
        clock=SystemClock(),
        task_manager=TaskManager(),
        pipeline_worker=None,  # the serializer's setup reads only the rates
        audio_in_sample_rate=rate,
        audio_out_sample_rate=rate,
    )

    def serializer() -> Any:
        return TwilioFrameSerializer(
            SID, params=TwilioFrameSerializer.InputParams(auto_hang_up=False)
        )

    # One serializer per pass (its resampler streams are stateful, as one call's are).
    inbound: list[float] = []
    digest_in = ""
    for _ in range(reps):
        s = serializer()
        await s.setup(setup)
        out = [await s.deserialize(messages[0])]  # untimed: makes the resampler stream
        t0 = time.process_time()
        for m in messages[1:]:
            out.append(await s.deserialize(m))
        inbound.append(time.process_time() - t0)
        digest_in = hashlib.sha256(b"".join(f.audio for f in out if f is not None)).hexdigest()
    frames = [OutputAudioRawFrame(audio=p, sample_rate=rate, num_channels=1) for p in pcm]
    outbound: list[float] = []
    digest_out = ""
    for _ in range(reps):
        s = serializer()
        await s.setup(setup)
        sent = [await s.serialize(frames[0])]  # untimed: makes the resampler stream
        t0 = time.process_time()
        for f in frames[1:]:
            sent.append(await s.serialize(f))
        outbound.append(time.process_time() - t0)
        payloads = [base64.b64decode(json.loads(x)["media"]["payload"]) for x in sent if x]
        digest_out = hashlib.sha256(b"".join(payloads)).hexdigest()
    version = getattr(pipecat, "__version__", "?")
    return {
        "subject": f"pipecat-ai {version} TwilioFrameSerializer",
        "version": version,
        "python": sys.version.split()[0],
        "rate": rate,
        "in_us": 1e6 * min(inbound) / (len(messages) - 1),
        "out_us": 1e6 * min(outbound) / (len(frames) - 1),
        "in_runs_us": [1e6 * x / (len(messages) - 1) for x in inbound],
        "out_runs_us": [1e6 * x / (len(frames) - 1) for x in outbound],
        "in_sha256": digest_in,
        "out_sha256": digest_out,
    }


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    with open(args[0], encoding="utf-8") as f:
        spec = json.load(f)
    # Pipecat logs through loguru to stderr; only the result goes to stdout.
    result = asyncio.run(_measure(spec))
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    main()
