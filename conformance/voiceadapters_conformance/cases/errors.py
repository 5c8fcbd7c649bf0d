"""Family 8: provider errors, malformed and unknown messages, fatal closes."""

from __future__ import annotations

from voiceadapters.events import ProviderError, SessionStarted, UnknownMessage
from voiceadapters.handshake import CloseFrame

from ..framework import CaseContext, case
from ..harness import Harness
from ._util import ended, has_audio, speech

MALFORMED = '{"type": "agent_audio", "data": {not json'
UNKNOWN = '{"type": "x-voiceadapters-conformance-unknown", "data": {"n": 1}}'


def _started(events: list) -> bool:  # type: ignore[type-arg]
    return any(isinstance(e, SessionStarted) for e in events)


@case("8.1", "malformed frame is reported and the session goes on")
async def malformed(h: Harness, ctx: CaseContext) -> None:
    """A frame that is not valid JSON becomes a non-fatal ``provider_error``,
    and the next turn still works."""
    await h.open("echo")
    ctx.check(await h.wait_for(_started, 10), "no session_started")
    await h.inject(MALFORMED)
    ok = await h.wait_for(lambda ev: any(isinstance(e, ProviderError) for e in ev), 5)
    ctx.check(ok, "a malformed frame produced no provider_error")
    error = next(e for e in h.events if isinstance(e, ProviderError))
    ctx.check(not error.fatal, "a malformed frame was reported as fatal")
    ctx.check(not ended(h.events), "a malformed frame ended the session")
    await h.speak(speech(h.app_format))
    ctx.check(
        await h.wait_for(has_audio, 30), "the session stopped working after a malformed frame"
    )


@case("8.2", "unknown message is passed on")
async def unknown(h: Harness, ctx: CaseContext) -> None:
    """A well-formed message of a type the plugin does not know becomes
    ``unknown_message`` carrying it, and the session goes on."""
    await h.open("echo")
    ctx.check(await h.wait_for(_started, 10), "no session_started")
    await h.inject(UNKNOWN)
    ok = await h.wait_for(
        lambda ev: any(isinstance(e, UnknownMessage | ProviderError) for e in ev), 5
    )
    ctx.check(ok, "an unknown message produced no event")
    ctx.check(not ended(h.events), "an unknown message ended the session")
    unknowns = [e for e in h.events if isinstance(e, UnknownMessage)]
    ctx.prefer(unknowns, "an unknown message was reported as provider_error, not unknown_message")
    if unknowns:
        ctx.check(
            "x-voiceadapters-conformance-unknown" in repr(unknowns[0].raw),
            "unknown_message.raw does not carry the message",
        )


@case("8.3", "fatal close is reported with its code")
async def fatal_close(h: Harness, ctx: CaseContext) -> None:
    """With reconnect off, a server close with 1011 (internal error) ends the
    session with reason ``error`` and ``close_code`` 1011. (Unsupported over a
    media transport, which has no close codes.)"""
    await h.open("echo", reconnect=False)
    if h.media:
        ctx.unsupported(
            "a media session has no close codes (a WebRTC room ends with a leave message and "
            "a reason); 9.2 covers the server ending it"
        )
    ctx.check(await h.wait_for(_started, 10), "no session_started")
    await h.inject(CloseFrame(1011, "internal error"))
    ctx.check(await h.wait_for(ended, 10), "a fatal close did not end the session")
    end = h.ended()
    assert end is not None
    ctx.check(end.close_code == 1011, f"close_code {end.close_code}, not 1011")
    ctx.check(end.reason == "error", f"a 1011 close ended with reason {end.reason!r}")
