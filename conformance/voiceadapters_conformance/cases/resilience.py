"""Family 9: connection loss, server shutdown, slow consumers."""

from __future__ import annotations

import asyncio

from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    SessionEnded,
    SessionResumed,
    SessionStarted,
    UserTranscript,
)

from ..framework import CaseContext, case
from ..harness import Harness, NetworkHarness
from ._util import ended, speech


def _started(events: list) -> bool:  # type: ignore[type-arg]
    return any(isinstance(e, SessionStarted) for e in events)


@case("9.1", "connection loss ends with connection_lost")
async def connection_lost(h: Harness, ctx: CaseContext) -> None:
    """With reconnect off, a connection cut without a closing handshake ends
    the session with ``connection_lost`` and no close code."""
    await h.open("echo", reconnect=False)
    ctx.check(await h.wait_for(_started, 10), "no session_started")
    await h.drop()
    ctx.check(await h.wait_for(ended, 10), "a lost connection did not end the session")
    end = h.ended()
    assert end is not None
    ctx.check(end.reason == "connection_lost", f"a lost connection ended with {end.reason!r}")
    ctx.check(end.close_code is None, f"a lost connection reports close code {end.close_code}")


@case("9.2", "server shutdown ends with server_shutdown")
async def server_shutdown(h: Harness, ctx: CaseContext) -> None:
    """With reconnect off, a server going away (close 1001) ends the session
    with ``server_shutdown`` and ``close_code`` 1001 (over a media transport:
    no close code, the reason in ``provider_reason``)."""
    await h.open("echo", reconnect=False)
    ctx.check(await h.wait_for(_started, 10), "no session_started")
    await h.server_going_away()
    ctx.check(await h.wait_for(ended, 10), "a server shutdown did not end the session")
    end = h.ended()
    assert end is not None
    ctx.check(end.reason == "server_shutdown", f"a server shutdown ended with {end.reason!r}")
    if h.media:
        # No WebSocket close code: the room's Leave says why (provider_reason).
        ctx.check(end.close_code is None, f"a media session reports close code {end.close_code}")
        ctx.note(f"media transport: provider_reason {end.provider_reason!r}")
    else:
        ctx.check(end.close_code == 1001, f"close code {end.close_code}, not 1001")


@case("9.3", "slow consumer: bounded memory, only audio dropped", levels=("network",))
async def slow_consumer(h: Harness, ctx: CaseContext) -> None:
    """An application that stops reading while the agent speaks keeps at most
    ``max_buffered_audio`` of audio queued; only ``agent_audio`` is dropped,
    and every drop is counted in ``session.stats``; every other event arrives."""
    assert isinstance(h, NetworkHarness)
    limit = 0.5
    await h.open("echo", max_buffered_audio=limit)
    session = h.session
    fmt = h.app_format
    data = speech(fmt) + bytes(fmt.bytes_for(1.0))
    frame = fmt.bytes_for(0.02)
    for i in range(0, len(data), frame):
        await session.send_audio(data[i : i + frame])  # and read nothing
    await asyncio.sleep(2.0)  # the agent replies (3+ s of audio) while nobody reads
    await h.settle(quiet=1.0)
    await h.close()
    stats = session.stats
    ctx.check(
        stats.max_queued_audio_bytes <= fmt.bytes_for(limit) + frame,
        f"{stats.max_queued_audio_bytes} bytes of audio queued; the limit is {fmt.bytes_for(limit)}",
    )
    ctx.check(stats.dropped_audio_events > 0, "nothing was dropped although 3 s queued for 0.5 s")
    ctx.check(isinstance(h.events[0], SessionStarted), "session_started was lost")
    ctx.check(isinstance(h.events[-1], SessionEnded), "session_ended was lost")
    caps = h.provider.capabilities
    if caps.agent_audio_done:
        ctx.check(any(isinstance(e, AgentAudioDone) for e in h.events), "agent_audio_done was lost")
    if caps.user_transcripts:
        ctx.check(
            any(isinstance(e, UserTranscript) and e.final for e in h.events),
            "the final transcript was lost",
        )
    ctx.note(
        f"dropped {stats.dropped_audio_events} audio events ({stats.dropped_audio_bytes} bytes)"
    )


@case("9.4", "a dropped connection resumes", levels=("network",))
async def connection_resumed(h: Harness, ctx: CaseContext) -> None:
    """With reconnect on (the default), a connection cut without a closing
    handshake is replaced: one ``session_resumed`` arrives within 2 s instead
    of ``session_ended``, and the next utterance on the new connection is
    answered with agent audio. (Its ``cause`` is the end reason 9.1 checks.)"""
    assert isinstance(h, NetworkHarness)
    await h.open("echo")
    ctx.check(await h.wait_for(_started, 10), "no session_started")
    await h.drop()
    resumed = await h.wait_for(lambda es: any(isinstance(e, SessionResumed) for e in es), 2.0)
    ctx.check(resumed, "no session_resumed within 2 s of the drop")
    ctx.check(not any(isinstance(e, SessionEnded) for e in h.events), "the drop ended the session")
    if not resumed:
        return
    event = next(e for e in h.events if isinstance(e, SessionResumed))
    mark = len(h.events)
    await h.speak(speech(h.app_format))
    answered = await h.wait_for(lambda es: any(isinstance(e, AgentAudio) for e in es[mark:]), 20)
    ctx.check(answered, "no agent audio on the new connection")
    ctx.note(
        f"resumed ({event.cause}) after {event.downtime * 1000:.0f} ms, {event.attempts} attempt(s)"
    )
