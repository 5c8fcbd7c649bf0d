"""Family 1: the handshake — described as data, secrets masked, auth failures reported."""

from __future__ import annotations

from voiceadapters.errors import AuthenticationError, VoiceAdaptersError, WebSocketRejected
from voiceadapters.events import ProviderError, SessionEnded, SessionStarted
from voiceadapters.handshake import HttpRequest, MediaRequest, WebSocketRequest
from voiceadapters.secrets import Secret

from ..framework import CaseContext, case
from ..harness import Harness
from ._util import ended, speech, turn_done


@case("1.1", "handshake is described as data", levels=("codec",))
async def handshake_as_data(h: Harness, ctx: CaseContext) -> None:
    """The codec describes its first handshake step as a frozen
    ``HttpRequest``/``WebSocketRequest`` aimed at the configured host, and the
    handshake completes against the simulator."""
    await h.open("echo")
    ctx.check(h.handshake_steps, "the codec described no handshake step")
    first = h.handshake_steps[0]
    ctx.check(
        isinstance(first, HttpRequest | WebSocketRequest),
        f"first handshake step is {type(first).__name__}, not HttpRequest or WebSocketRequest",
    )
    ctx.check(
        "127.0.0.1" in first.url, f"first step {first.describe()} ignores the configured host"
    )
    ctx.check(
        await h.wait_for(lambda ev: any(isinstance(e, SessionStarted) for e in ev), 10),
        "no session_started after the handshake",
    )


@case("1.2", "secrets are never rendered")
async def secrets_masked(h: Harness, ctx: CaseContext) -> None:
    """Through a whole session (handshake, a turn, close), the API key and any
    token the provider issued never appear in a repr, str, log line, event or
    error, nor in a non-secret part of a handshake step."""
    await h.open("echo")
    await h.speak(speech(h.app_format)[: h.app_format.bytes_for(1.0)])
    await h.settle()
    await h.close()
    await h.shutdown()
    for step in h.handshake_steps:
        if isinstance(step, MediaRequest):
            plain = [step.url] + [v for _, v in step.options]
        else:
            plain = [step.url] + [
                v for _, v in (*step.headers, *step.query) if not isinstance(v, Secret)
            ]
        for secret in h.secrets:
            ctx.check(
                not any(secret in text for text in plain),
                f"a secret is sent in the clear part of {type(step).__name__} "
                "(it must be a voiceadapters.secrets.Secret)",
            )
    for text in h.rendered:
        for secret in h.secrets:
            ctx.check(secret not in text, f"a secret appears in rendered output: {text[:80]!r}…")


@case("1.3", "authentication failure is reported")
async def auth_failure(h: Harness, ctx: CaseContext) -> None:
    """A wrong API key gives a typed error at connect
    (``AuthenticationError``, or ``WebSocketRejected`` with 401/403), or a
    session that ends with ``auth_failed``; never a working session."""
    try:
        await h.open("echo", api_key="sk-conformance-wrong-key-0000")
    except AuthenticationError as exc:
        ctx.check(exc.status in (401, 403), f"AuthenticationError with status {exc.status}")
        return
    except WebSocketRejected as exc:
        ctx.check(exc.status in (401, 403), f"WebSocket rejected with HTTP {exc.status}")
        return
    except VoiceAdaptersError as exc:
        ctx.check(
            False, f"wrong key raised {type(exc).__name__}, not an authentication error: {exc}"
        )
    await h.wait_for(ended, 15)
    end = h.ended()
    ctx.check(end is not None, "a wrong key neither failed the connect nor ended the session")
    assert end is not None
    ctx.check(
        end.reason == "auth_failed", f"wrong key ended the session with reason {end.reason!r}"
    )
    ctx.check(not turn_done(h.events[:-1]), "the agent answered a session with a wrong key")
    ctx.prefer(
        any(isinstance(e, ProviderError) for e in h.events),
        "no provider_error says why authentication failed",
    )
    ctx.check(isinstance(h.events[-1], SessionEnded), "session_ended is not the last event")
