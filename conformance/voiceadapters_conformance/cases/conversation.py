"""Families 4–7: transcripts and text, interruption, tools, emotion."""

from __future__ import annotations

import json

from voiceadapters.commands import Interrupt, SendText, SendToolResult
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentText,
    Emotion,
    Event,
    Interruption,
    SessionStarted,
    ToolCall,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)

from ..framework import CaseContext, case
from ..harness import CodecHarness, Harness
from ._util import has_audio, speech, turn_done


async def _echo_turn(h: Harness, scenario: str = "echo") -> None:
    await h.open(scenario)
    await h.speak(speech(h.app_format))
    await h.wait_for(turn_done, 30)
    await h.settle()


# -- 4: transcripts and text ---------------------------------------------------


@case("4.1", "user transcripts: interim then final", requires=("user_transcripts",))
async def user_transcripts(h: Harness, ctx: CaseContext) -> None:
    """Each utterance yields a final ``user_transcript``; interim results of
    an utterance come before its final one, never after."""
    await _echo_turn(h)
    transcripts = [e for e in h.events if isinstance(e, UserTranscript)]
    finals = [t for t in transcripts if t.final]
    ctx.check(finals, "no final user_transcript for the utterance")
    ctx.check(all(t.text for t in finals), "a final transcript is empty")
    for i, t in enumerate(transcripts):
        if t.final:
            later = [u for u in transcripts[i + 1 :] if not u.final and u.turn_id == t.turn_id]
            ctx.check(
                not later or t.turn_id is None, "an interim transcript followed the final one"
            )
    ctx.prefer(len(transcripts) > len(finals), "no interim transcripts (allowed, but less useful)")


@case("4.2", "agent text accumulates", requires=("agent_text",))
async def agent_text(h: Harness, ctx: CaseContext) -> None:
    """``agent_text.text`` is the whole text so far: each event's text is the
    previous text plus its ``delta`` (or, when the provider rewrote the text,
    ``delta`` equals ``text``); the turn's last text event is final, and its
    text is the whole reply the simulator's agent said."""
    await _echo_turn(h)
    texts = [e for e in h.events if isinstance(e, AgentText)]
    ctx.check(texts, "no agent_text")
    by_turn: dict[str | None, list[AgentText]] = {}
    for t in texts:
        by_turn.setdefault(t.turn_id, []).append(t)
    for turn, items in by_turn.items():
        previous = ""
        for t in items:
            ctx.check(
                t.text == previous + t.delta or t.delta == t.text,
                f"turn {turn}: text {t.text!r} is neither {previous!r} + delta {t.delta!r} "
                "nor a replacement",
            )
            previous = t.text
        ctx.check(items[-1].final, f"turn {turn}: the last agent_text is not final")
        ctx.check(all(not t.final for t in items[:-1]), f"turn {turn}: text after a final one")
    agent = h.server.agent
    if agent is not None:
        # Ground truth: the whole reply the simulator's agent said.
        finals = [t.text for t in texts if t.final]
        ctx.check(
            finals == agent.replies,
            f"final agent texts {finals!r} are not the replies the agent said {agent.replies!r}",
        )


@case("4.3", "agent_audio_done ends the turn's audio", requires=("agent_audio_done",))
async def audio_done(h: Harness, ctx: CaseContext) -> None:
    """After the agent's reply, ``agent_audio_done`` names the turn whose
    audio preceded it, and no audio of that turn follows it."""
    await _echo_turn(h)
    done = [i for i, e in enumerate(h.events) if isinstance(e, AgentAudioDone)]
    ctx.check(done, "no agent_audio_done after the reply")
    i = done[0]
    marker = h.events[i]
    assert isinstance(marker, AgentAudioDone)
    before = [e for e in h.events[:i] if isinstance(e, AgentAudio)]
    ctx.check(before, "agent_audio_done came before any agent audio")
    ctx.check(
        before[-1].turn_id == marker.turn_id,
        f"agent_audio_done names turn {marker.turn_id!r}, the audio was {before[-1].turn_id!r}",
    )
    after = [
        e for e in h.events[i + 1 :] if isinstance(e, AgentAudio) and e.turn_id == marker.turn_id
    ]
    ctx.check(not after, f"{len(after)} audio events of turn {marker.turn_id!r} after its done")


@case("4.4", "speech started precedes speech stopped", requires=("speech_events",))
async def speech_events(h: Harness, ctx: CaseContext) -> None:
    """An utterance produces ``user_speech_started`` then ``user_speech_stopped``."""
    await _echo_turn(h)
    kinds = [type(e) for e in h.events]
    ctx.check(UserSpeechStarted in kinds, "no user_speech_started")
    ctx.check(UserSpeechStopped in kinds, "no user_speech_stopped")
    ctx.check(
        kinds.index(UserSpeechStarted) < kinds.index(UserSpeechStopped),
        "user_speech_stopped came first",
    )


@case("4.5", "text input gets a reply", requires=("text_input",))
async def text_input(h: Harness, ctx: CaseContext) -> None:
    """``send_text`` reaches the provider and the agent answers with text."""
    await h.open("echo")
    await h.wait_for(lambda ev: any(isinstance(e, SessionStarted) for e in ev), 10)
    await h.command(SendText(text="conformance says hello"))
    ok = await h.wait_for(lambda ev: any(isinstance(e, AgentText) for e in ev), 10)
    ctx.check(ok, "no agent_text after send_text")
    seen = json.dumps(h.server.received_messages, default=str)
    ctx.check("conformance says hello" in seen, "the text did not reach the provider")


# -- 5: interruption ---------------------------------------------------------------


@case(
    "5.1",
    "barge-in fences the interrupted turn",
    requires=("interruption_events",),
    scenarios=("barge_in",),
)
async def barge_in(h: Harness, ctx: CaseContext) -> None:
    """When the user speaks over the agent, ``interruption`` names the agent's
    turn, and no ``agent_audio`` (nor ``agent_audio_done``) of that turn
    reaches the application after it. The simulator keeps ~60 ms of the turn's
    audio in flight after the interruption, as real servers do: at codec
    level, the codec itself must drop it."""
    await h.open("barge_in", pace=1.0)
    pcm = speech(h.app_format)
    await h.speak(pcm, trailing_silence=1.0)
    ctx.check(await h.wait_for(has_audio, 20), "the agent never started speaking")
    await h.speak(pcm, trailing_silence=0.2)  # barge in over the (long) reply
    ok = await h.wait_for(lambda ev: any(isinstance(e, Interruption) for e in ev), 20)
    ctx.check(ok, "no interruption when the user spoke over the agent")
    # Leaked audio of the interrupted turn would follow at once; the reply to
    # the barge-in itself may go on for seconds and is not needed.
    await h.settle(quiet=1.0, timeout=3.0)
    i = next(i for i, e in enumerate(h.events) if isinstance(e, Interruption))
    marker = h.events[i]
    assert isinstance(marker, Interruption)
    turn = marker.turn_id
    ctx.prefer(turn is not None, "interruption names no turn")
    before = [e for e in h.events[:i] if isinstance(e, AgentAudio) and e.turn_id == turn]
    ctx.check(before, "interruption came before any audio of its turn")
    leaked = [
        e
        for e in h.events[i + 1 :]
        if isinstance(e, AgentAudio | AgentAudioDone) and e.turn_id == turn
    ]
    ctx.check(not leaked, f"{len(leaked)} audio events of the interrupted turn after interruption")
    if isinstance(h, CodecHarness):
        # The simulator keeps a little audio "in flight" after the interruption,
        # as real servers do; the codec itself must fence it (the session's
        # pipeline is only a safety net).
        raw = h.codec_events
        j = next(k for k, e in enumerate(raw) if isinstance(e, Interruption))
        raw_turn = raw[j].turn_id  # type: ignore[union-attr]
        late = [
            e
            for e in raw[j + 1 :]
            if isinstance(e, AgentAudio | AgentAudioDone) and e.turn_id == raw_turn
        ]
        ctx.check(
            not late, f"the codec passed on {len(late)} in-flight events of the interrupted turn"
        )


@case("5.2", "client interrupt stops the agent", requires=("client_interrupt",))
async def client_interrupt(h: Harness, ctx: CaseContext) -> None:
    """``interrupt()`` while the agent speaks stops its audio: at most a few
    frames already in flight follow, none after an ``interruption`` event."""
    await h.open("echo", pace=1.0)
    await h.speak(speech(h.app_format))
    ctx.check(await h.wait_for(has_audio, 20), "the agent never started speaking")
    mark = len(h.events)
    turn = next(e.turn_id for e in h.events if isinstance(e, AgentAudio))
    await h.command(Interrupt())
    await h.settle(quiet=1.0, timeout=15)
    after = h.events[mark:]
    audio_after = [e for e in after if isinstance(e, AgentAudio) and e.turn_id == turn]
    ctx.check(len(audio_after) <= 10, f"{len(audio_after)} audio frames after interrupt()")
    stops = [i for i, e in enumerate(after) if isinstance(e, Interruption)]
    ctx.prefer(stops, "no interruption event confirms the interrupt")
    if stops:
        late = [e for e in after[stops[0] + 1 :] if isinstance(e, AgentAudio) and e.turn_id == turn]
        ctx.check(not late, "agent audio of the turn after its interruption event")
    ctx.check(
        not any(isinstance(e, AgentAudioDone) and e.turn_id == turn for e in after),
        "the interrupted turn still reported agent_audio_done",
    )


# -- 6: tools ----------------------------------------------------------------------


@case("6.1", "tool call round trip", requires=("tool_calls",), scenarios=("tool_call",))
async def tool_call(h: Harness, ctx: CaseContext) -> None:
    """A ``tool_call`` carries an id, a name and a dict of arguments; the
    result sent with ``send_tool_result`` reaches the provider under the same
    id and the agent's turn completes."""
    await h.open("tool_call")
    await h.speak(speech(h.app_format))
    ok = await h.wait_for(lambda ev: any(isinstance(e, ToolCall) for e in ev), 30)
    ctx.check(ok, "no tool_call")
    call = next(e for e in h.events if isinstance(e, ToolCall))
    ctx.check(call.call_id and call.name, "tool_call without id or name")
    ctx.check(isinstance(call.arguments, dict), "arguments are not a dict")
    mark = len(h.events)
    await h.command(SendToolResult.from_value(call.call_id, {"conformance": "tool-ok-4711"}))
    ok = await h.wait_for(
        lambda ev: (
            turn_done(ev[mark:]) or any(isinstance(e, AgentText) and e.final for e in ev[mark:])
        ),
        30,
    )
    ctx.check(ok, "the turn did not complete after the tool result")
    seen = json.dumps(h.server.received_messages, default=str)
    ctx.check(
        call.call_id in seen and "tool-ok-4711" in seen,
        "the tool result did not reach the provider under the call's id",
    )


# -- 7: emotion --------------------------------------------------------------------


@case("7.1", "emotion scores", requires=("emotion",))
async def emotion(h: Harness, ctx: CaseContext) -> None:
    """An utterance yields ``emotion`` events with labelled scores in 0..1."""
    await _echo_turn(h)
    found: list[Event] = [e for e in h.events if isinstance(e, Emotion)]
    ctx.check(found, "no emotion event")
    for e in found:
        assert isinstance(e, Emotion)
        ctx.check(e.scores, "an emotion event with no scores")
        ctx.check(all(0.0 <= v <= 1.0 for v in e.scores.values()), "a score outside 0..1")
        ctx.prefer(e.source, "emotion without a source")
