"""Stream a recording through a session and collect what comes back.

This is the work behind ``voiceadapters run`` and ``voiceadapters demo``,
usable from Python too::

    result = await stream_recording(session, pcm, realtime=True)
    write_wav("agent.wav", result.agent_audio, session.output_format)

The microphone side sends ``pcm`` in frames of ``frame_ms`` (paced in real
time, or as fast as the session accepts), then ``trailing_silence`` seconds
of silence so that the provider's end-of-speech detection fires, then waits
until the agent has been quiet for ``idle_timeout`` seconds and closes.
``tool_call`` events are answered with ``tool_output``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .events import AgentAudio, Event, SessionEnded, ToolCall
from .session import Session

__all__ = ["RunResult", "stream_recording"]


@dataclass
class RunResult:
    """What a run produced."""

    events: list[tuple[float, Event]] = field(default_factory=list)
    """Every event with the seconds since the start of the run."""
    agent_audio: bytearray = field(default_factory=bytearray)
    """All agent audio, concatenated, in the session's output format."""
    ended: SessionEnded | None = None


async def stream_recording(
    session: Session,
    pcm: bytes,
    *,
    realtime: bool = True,
    frame_ms: int = 20,
    trailing_silence: float = 1.0,
    idle_timeout: float = 2.0,
    max_duration: float = 120.0,
    tool_output: Any = None,
    on_event: Callable[[float, Event], None] | None = None,
) -> RunResult:
    """Send ``pcm`` (in ``session.input_format``) and gather the session's events.

    Closes the session before returning. ``tool_output`` (default
    ``{"ok": true}``) answers every ``tool_call``.
    """
    fmt = session.input_format
    frame = fmt.bytes_for(frame_ms / 1000)
    result = RunResult()
    start = time.monotonic()
    input_done = asyncio.Event()
    answer = {"ok": True} if tool_output is None else tool_output

    async def produce() -> None:
        silence = bytes(fmt.bytes_for(trailing_silence))
        data = pcm + silence
        next_at = time.monotonic()
        try:
            for i in range(0, len(data), frame):
                await session.send_audio(data[i : i + frame])
                if realtime:
                    next_at += frame_ms / 1000
                    delay = next_at - time.monotonic()
                    if delay > 0:
                        await asyncio.sleep(delay)
                if session.ended is not None:
                    break
        finally:
            input_done.set()

    def record(event: Event) -> None:
        stamp = time.monotonic() - start
        result.events.append((stamp, event))
        if on_event is not None:
            on_event(stamp, event)
        if isinstance(event, AgentAudio):
            result.agent_audio += event.pcm

    async def consume() -> None:
        while True:
            # While the microphone streams, wake up twice a second to notice
            # its end; after it, stop once the agent is quiet for idle_timeout.
            try:
                event = await session.next_event(
                    timeout=idle_timeout if input_done.is_set() else 0.5
                )
            except asyncio.TimeoutError:
                if input_done.is_set():
                    return
                continue
            if event is None:
                return
            record(event)
            if isinstance(event, ToolCall):
                await session.send_tool_result(event.call_id, answer)
            elif isinstance(event, SessionEnded):
                return

    producer = asyncio.create_task(produce())
    try:
        await asyncio.wait_for(consume(), max_duration)
    except asyncio.TimeoutError:
        pass
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await producer
    ended = await session.close()
    # Events that arrived during the close (session_ended, late audio).
    while True:
        event = await session.next_event(timeout=5.0)
        if event is None:
            break
        record(event)
    result.ended = ended
    return result
