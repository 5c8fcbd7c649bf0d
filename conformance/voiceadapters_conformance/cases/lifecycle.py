"""Family 2: session start and end."""

from __future__ import annotations

from voiceadapters.commands import (
    COMMAND_CAPABILITY,
    Command,
    EndTurn,
    Interrupt,
    SendAudio,
    SendText,
    SendToolResult,
)
from voiceadapters.errors import SessionClosedError, UnsupportedCommandError
from voiceadapters.events import AgentReady, SessionEnded, SessionStarted

from ..framework import CaseContext, case
from ..harness import Harness
from ._util import ended, speech


def _started(events: list) -> bool:  # type: ignore[type-arg]
    return any(isinstance(e, SessionStarted) for e in events)


@case("2.1", "session starts with session_started")
async def session_starts(h: Harness, ctx: CaseContext) -> None:
    """The first event of a session is ``session_started``."""
    await h.open("echo")
    ctx.check(await h.wait_for(_started, 10), "no session_started")
    ctx.check(isinstance(h.events[0], SessionStarted), f"first event is {h.events[0].type}")
    ctx.prefer(h.events[0].session_id, "session_started carries no session_id")  # type: ignore[union-attr]


@case("2.2", "client close ends with client_closed")
async def client_close(h: Harness, ctx: CaseContext) -> None:
    """Closing from the application ends the session with exactly one
    ``session_ended(reason="client_closed")``, the last event; commands after
    it raise ``SessionClosedError``."""
    await h.open("echo")
    ctx.check(await h.wait_for(_started, 10), "no session_started")
    end = await h.close()
    ctx.check(end.reason == "client_closed", f"client close ended with reason {end.reason!r}")
    ctx.check(isinstance(h.events[-1], SessionEnded), "session_ended is not the last event")
    ctx.check(sum(isinstance(e, SessionEnded) for e in h.events) == 1, "session_ended twice")
    try:
        await h.command(SendAudio(pcm=bytes(h.app_format.bytes_for(0.02))))
    except SessionClosedError:
        pass
    else:
        ctx.check(False, "send_audio after close did not raise SessionClosedError")


@case("2.3", "provider ends the session", scenarios=("server_shutdown",))
async def provider_ends(h: Harness, ctx: CaseContext) -> None:
    """When the provider ends the session (scenario ``server_shutdown``: one
    reply, then the end), ``session_ended`` is last and its reason is
    ``completed`` or ``server_shutdown``."""
    await h.open("server_shutdown")
    await h.speak(speech(h.app_format))
    ctx.check(await h.wait_for(ended, 30), "the provider's end of the session was not reported")
    end = h.ended()
    assert end is not None
    ctx.check(
        end.reason in ("completed", "server_shutdown"),
        f"a provider-ended session has reason {end.reason!r}",
    )
    ctx.check(h.events[-1] is end, "events arrived after session_ended")


@case("2.4", "agent_ready follows session_started", requires=("agent_ready",))
async def agent_ready(h: Harness, ctx: CaseContext) -> None:
    """Providers with a separate readiness step report ``agent_ready`` after
    ``session_started``."""
    await h.open("echo")
    ok = await h.wait_for(lambda ev: any(isinstance(e, AgentReady) for e in ev), 10)
    ctx.check(ok, "no agent_ready")
    kinds = [e.type for e in h.events]
    ctx.check(
        "session_started" in kinds and kinds.index("session_started") < kinds.index("agent_ready"),
        "agent_ready came before session_started",
    )


@case("2.5", "commands the provider lacks raise")
async def missing_commands_raise(h: Harness, ctx: CaseContext) -> None:
    """Each command whose capability is false raises
    ``UnsupportedCommandError`` naming the provider and the capability, and the
    session goes on."""
    caps = h.provider.capabilities
    commands: dict[str, Command] = {
        "send_tool_result": SendToolResult(call_id="c-1", output="{}"),
        "send_text": SendText(text="hello"),
        "interrupt": Interrupt(),
        "end_turn": EndTurn(),
    }
    lacking = [name for name in commands if not getattr(caps, COMMAND_CAPABILITY[name])]
    if not lacking:
        ctx.unsupported("the provider supports every optional command")
    await h.open("echo")
    ctx.check(await h.wait_for(_started, 10), "no session_started")
    for name in lacking:
        capability = COMMAND_CAPABILITY[name]
        try:
            await h.command(commands[name])
        except UnsupportedCommandError as exc:
            ctx.check(
                h.provider.name in str(exc) and capability in str(exc),
                f"the error for {name} does not name provider and capability: {exc}",
            )
        else:
            ctx.check(False, f"{name} did not raise although {capability} is false")
    ctx.check(not ended(h.events), "the session ended after a rejected command")
