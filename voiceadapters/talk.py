"""``voiceadapters talk``: a live session with a microphone and a speaker.

::

    voiceadapters talk vatel                        # the Vatel simulator, in-process
    voiceadapters talk 'vatel://?agent_id=…'        # the real provider (VATEL_API_KEY)
    voiceadapters talk vatel --input-device file:in.wav --output-device file:out.wav

The microphone's frames go to the session as they are captured; agent audio
is queued on the speaker as it arrives, and an ``interruption`` clears the
speaker's queue at once (:meth:`~voiceadapters.devices.AudioOutput.clear`),
so the interrupted turn stops within one audio block. Transcripts, agent
text and each turn's latency (:mod:`voiceadapters.metrics`) are printed as
they happen; Ctrl-C (SIGINT) closes the session cleanly and prints the
session's summary (a second Ctrl-C quits at once). A file input ends the
session once the file is done and the agent has been quiet for
``idle_timeout``.

Devices come through the seam of :mod:`voiceadapters.devices`: PortAudio via
``sounddevice`` (the ``talk`` extra) or WAV files; without the extra, without
PortAudio or without a device, the command says what is missing and exits
with status 2.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import secrets
import signal
import sys
from pathlib import Path
from typing import Any, TextIO

from .devices import AudioInput, AudioOutput, open_input, open_output
from .events import (
    AgentAudio,
    AgentText,
    Interruption,
    ProviderError,
    SessionEnded,
    SessionResumed,
    SessionStarted,
    ToolCall,
    UserTranscript,
)
from .metrics import SessionMetrics, format_summary

__all__ = ["add_talk_parser", "cmd_talk", "talk"]


async def talk(
    config: str,
    source: AudioInput,
    sink: AudioOutput,
    *,
    api_key: str | None = None,
    out: TextIO | None = None,
    stop: asyncio.Event | None = None,
    idle_timeout: float = 2.0,
    max_duration: float | None = None,
    record: str | None = None,
    record_audio: str = "keep",
) -> SessionMetrics:
    """Run one live session of ``config`` between ``source`` and ``sink``
    until ``stop`` is set, the session ends, or ``source`` ends and the
    agent has been quiet for ``idle_timeout``; print as it goes to ``out``.
    Returns the session's metrics. Closes the session, not the devices.
    ``record`` writes the session to that cassette (``record_audio``: its
    audio policy; docs/cassettes.md): a recording from the microphone."""
    from .session import connect

    out = out or sys.stdout
    stop = stop or asyncio.Event()
    recorder = None
    if record is not None:
        from .cassette.record import Recorder

        recorder = Recorder(record, audio=record_audio)
    session = await connect(
        config,
        api_key=api_key,
        input_format=source.format,
        output_format=sink.format,
        record=recorder,
    )
    input_done = asyncio.Event()
    done_at = [0.0]  # when the input ended (loop clock)

    def say(text: str) -> None:
        print(text, file=out, flush=True)

    async def microphone() -> None:
        try:
            async for frame in source.frames():
                if stop.is_set() or session.ended is not None:
                    break
                await session.send_audio(frame)
        finally:
            done_at[0] = asyncio.get_running_loop().time()
            input_done.set()

    async def events() -> None:
        turns = 0
        loop = asyncio.get_running_loop()
        deadline = None if max_duration is None else loop.time() + max_duration
        last = loop.time()
        while not stop.is_set():
            try:
                # Short waits, so that Ctrl-C (``stop``) is seen within 0.1 s.
                event = await session.next_event(timeout=0.1)
            except asyncio.TimeoutError:
                now = loop.time()
                if input_done.is_set() and now - max(last, done_at[0]) >= idle_timeout:
                    return  # the file is done and the agent is quiet
                if deadline is not None and now > deadline:
                    return
                continue
            last = loop.time()
            if event is None:
                return
            if isinstance(event, AgentAudio):
                sink.play(event.pcm)
                if session.stats.agent_turns != turns:
                    turns = session.stats.agent_turns
                    turn = session.metrics.turns[-1]
                    latency = turn.response_latency
                    said = (
                        f"{latency * 1000:.0f} ms from the end of your speech ({turn.end_of_speech})"
                        if latency is not None
                        else "end of your speech unknown"
                    )
                    say(f"  [agent turn {turns} ({turn.turn_id or '—'}): first audio {said}]")
            elif isinstance(event, Interruption):
                dropped = sink.clear()
                ms = sink.format.duration(dropped) * 1000
                say(f"  [interrupted: stopped playback, {ms:.0f} ms of queued audio dropped]")
            elif isinstance(event, UserTranscript):
                if event.final:
                    say(f"you:   {event.text}")
            elif isinstance(event, AgentText):
                if event.final:
                    say(f"agent: {event.text}")
            elif isinstance(event, ToolCall):
                say(f"  [tool call {event.name}({json.dumps(event.arguments)}): answering ok]")
                await session.send_tool_result(event.call_id, {"ok": True})
            elif isinstance(event, SessionStarted | SessionResumed):
                say(f"  [{event.type}]")
            elif isinstance(event, ProviderError):
                say(f"  [provider error {event.code}: {event.message[:200]}]")
            elif isinstance(event, SessionEnded):
                say(f"  [session ended: {event.reason}]")
                return

    mic = asyncio.get_running_loop().create_task(microphone())
    try:
        await events()
    finally:
        mic.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await mic
        await session.close()
        while (event := await session.next_event(timeout=5.0)) is not None:
            if isinstance(event, AgentAudio) and not stop.is_set():
                sink.play(event.pcm)
        if not stop.is_set():
            await sink.drain(timeout=30.0)
    return session.metrics


# -- the command ------------------------------------------------------------------------


def add_talk_parser(sub: Any) -> None:
    p = sub.add_parser(
        "talk",
        help="talk to an agent live: microphone in, speaker out (needs voiceadapters[talk])",
        description="A live session: the microphone goes to the agent, the agent's audio to "
        "the speaker; transcripts and turn latencies are printed as they happen, and Ctrl-C "
        "ends the session and prints its metrics summary. CONFIG is a config string "
        "(provider://…) or a bare provider name, which runs that provider's simulator in "
        "this process (like `demo`).",
    )
    p.add_argument("config", metavar="CONFIG", help="config string, or a provider name")
    p.add_argument(
        "--input-device",
        metavar="DEV",
        help="microphone: 'default' (the default), a PortAudio device index or name, "
        "or file:PATH.wav (a WAV played as the microphone, then 1 s of silence)",
    )
    p.add_argument(
        "--output-device",
        metavar="DEV",
        help="speaker: 'default', a PortAudio device index or name, or file:PATH.wav "
        "(what would have been heard, written when the session ends)",
    )
    p.add_argument(
        "--file-speed",
        type=float,
        default=1.0,
        metavar="X",
        help="pace of file devices: 1 = real time (default), 2 = twice as fast, 0 = unpaced",
    )
    p.add_argument("--scenario", help="simulator scenario, with a provider name")
    p.add_argument(
        "--response-delay",
        type=float,
        metavar="SECONDS",
        help="simulator only: the agent answers this long after the end of your speech",
    )
    p.add_argument(
        "--idle-timeout",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="with a file input: end this long after the file and the agent's last event",
    )
    p.add_argument("--json", metavar="FILE", help="write the metrics summary to FILE as JSON")
    p.add_argument(
        "--record",
        metavar="FILE",
        help="write the session to a cassette (secrets scrubbed; docs/cassettes.md)",
    )
    p.add_argument(
        "--record-audio",
        choices=("keep", "truncate", "marker"),
        default="keep",
        help="with --record: keep the audio, truncate it, or replace it by a length marker",
    )
    p.set_defaults(func=cmd_talk)


def cmd_talk(args: argparse.Namespace) -> int:
    return asyncio.run(_talk(args))


async def _talk(args: argparse.Namespace) -> int:
    from .registry import registry

    loop = asyncio.get_running_loop()
    stop = asyncio.Event()

    def interrupted() -> None:
        print("\ntalk: closing the session (Ctrl-C again quits at once)", file=sys.stderr)
        stop.set()
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(signal.SIGINT)

    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGINT, interrupted)
        loop.add_signal_handler(signal.SIGTERM, stop.set)

    # Devices first: a missing extra or device fails before anything connects.
    source = open_input(args.input_device, speed=args.file_speed)
    try:
        sink = open_output(args.output_device, source.format, speed=args.file_speed)
    except BaseException:
        await source.aclose()
        raise
    try:
        async with contextlib.AsyncExitStack() as stack:
            config, api_key = args.config, None
            if "://" not in args.config:
                provider = registry.get(args.config)
                config, api_key = await stack.enter_async_context(
                    _embedded_simulator(provider, args.scenario, args.response_delay)
                )
                print(f"talk: {provider.name} simulator in this process ({config})")
            print(
                f"talk: microphone {source!r} ({source.format}), speaker {sink!r} "
                f"({sink.format}); Ctrl-C ends the session\n",
                flush=True,
            )
            metrics = await talk(
                config,
                source,
                sink,
                api_key=api_key,
                stop=stop,
                idle_timeout=args.idle_timeout,
                record=args.record,
                record_audio=args.record_audio,
            )
    finally:
        await source.aclose()
        await sink.aclose()
    print()
    print(format_summary(metrics))
    if args.record:
        print(f"\nwrote the session to {args.record}")
    if args.json:
        _write_json(args.json, metrics)
        print(f"\nwrote the metrics to {args.json}")
    return 0


def _write_json(path: str, metrics: SessionMetrics) -> None:
    Path(path).write_text(json.dumps(metrics.to_dict(), indent=2) + "\n", encoding="utf-8")


@contextlib.asynccontextmanager
async def _embedded_simulator(
    provider: Any, scenario: str | None, response_delay: float | None
) -> Any:
    from .simulator.server import SimulatorServer

    if scenario and scenario not in provider.scenarios:
        from .errors import ConfigError

        raise ConfigError(
            f"{provider.name} has no scenario {scenario!r}; choose from {', '.join(provider.scenarios)}"
        )
    key = secrets.token_urlsafe(24)  # a fresh key per run; never printed
    simulator = provider.make_simulator(api_key=key, scenario=scenario, pace=1.0)
    simulator.response_delay = response_delay
    async with SimulatorServer(simulator, "127.0.0.1", 0) as server:
        yield provider.simulator_config("127.0.0.1", server.port, simulator), key
