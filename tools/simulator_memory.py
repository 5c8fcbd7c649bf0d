"""Bytes a simulator connection holds per simulated minute of streamed audio.

For each first-party simulator, a codec is paired with it in memory
(:class:`voiceadapters.testing.CodecPair`, fake clock, real-time pacing) and
streams the bundled speech sample followed by 1 s of quiet, over and over, in
20 ms frames. After the first block end past each minute it prints what the
simulator's connection holds (a deep ``sys.getsizeof`` walk) and what
tracemalloc counts in all (codec included; the pair's own logs of events and
frames are emptied as it goes).

    python tools/simulator_memory.py [MINUTES] [provider[+option=value] ...]

e.g. ``python tools/simulator_memory.py 6 nextevi+audio_input=base64``.
"""

from __future__ import annotations

import gc
import itertools
import sys
import tracemalloc

from voiceadapters import get_provider, parse_config
from voiceadapters.audio import StreamConverter
from voiceadapters.commands import SendAudio
from voiceadapters.config import resolve_config
from voiceadapters.simulator.base import Simulator
from voiceadapters.simulator.records import held_bytes as _held_bytes
from voiceadapters.testing import CodecPair, speech_sample

KEY = "oak_memory_0123456789"
DEFAULT = [
    "vatel",
    "binary-pcm",
    "nextevi",
    "nextevi+audio_input=base64",
    "example",
    "deepgram",
    "openai",
]


def held_bytes(root: object) -> int:
    """Bytes reachable from ``root``, not following the shared simulator."""
    return _held_bytes(root, skip=(Simulator,))


def measure(label: str, minutes: int) -> None:
    name, _, option = label.partition("+")
    provider = get_provider(name)
    simulator = provider.make_simulator(api_key=KEY, pace=1.0)
    config = provider.simulator_config("127.0.0.1", 1, simulator) + (f"&{option}" if option else "")
    codec = provider.make_codec(resolve_config(parse_config(config), provider, api_key=KEY))
    pair = CodecPair(codec, simulator)
    pair.advance(1.0)
    pcm, fmt = speech_sample()
    wire = codec.wire_input
    conv = StreamConverter(fmt, wire)
    block = conv.convert(pcm) + conv.flush() + bytes(wire.bytes_for(1.0))
    frame = wire.bytes_for(0.02)
    marks: list[tuple[int, int]] = []
    tracemalloc.start()
    gc.collect()
    base = tracemalloc.get_traced_memory()[0]
    sent = 0
    while len(marks) < minutes:
        for at in range(0, len(block), frame):
            chunk = block[at : at + frame]
            pair.send(SendAudio(pcm=chunk))
            pair.advance(wire.duration(len(chunk)))
            pair.events.clear()
            pair.client_frames.clear()
            pair.server_frames.clear()
            sent += len(chunk)
        if sent >= wire.bytes_for(60.0) * (len(marks) + 1):
            gc.collect()
            marks.append((tracemalloc.get_traced_memory()[0] - base, held_bytes(pair.server)))
    tracemalloc.stop()
    holds = " ".join(f"{h / 1e6:.2f}" for _, h in marks)
    traced = " ".join(f"{t / 1e6:.2f}" for t, _ in marks)
    growth = [(b - a) / 1e3 for (_, a), (_, b) in itertools.pairwise(marks)]
    print(f"{label}: connection holds (MB, each minute) {holds}")
    print(f"{' ' * len(label)}  growth per minute (KB) {' '.join(f'{g:+.0f}' for g in growth)}")
    print(f"{' ' * len(label)}  tracemalloc, all (MB) {traced}")


def main(argv: list[str]) -> None:
    minutes = int(argv[0]) if argv and argv[0].isdigit() else 3
    labels = [a for a in argv if not a.isdigit()] or DEFAULT
    for label in labels:
        measure(label, max(2, minutes))


if __name__ == "__main__":
    main(sys.argv[1:])
