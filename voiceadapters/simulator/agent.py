"""A provider-neutral scripted voice agent for the simulators (design §7).

The agent hears user audio (in the provider's wire input format), detects
speech by energy, and answers with *actions* — speech started/stopped,
transcripts, agent text, agent audio chunks, tool calls, interruptions, an end
of session. Each provider's simulator connection turns those actions into its
own wire messages, so the behaviour is written once and every protocol is
exercised the same way.

Everything is driven by the caller: audio and time (``now``) are passed in,
actions are drained with :meth:`Agent.actions`, and the next moment the agent
wants to act is :meth:`Agent.get_timer`.

The end of the user's turn
--------------------------
An utterance starts after ``min_speech`` of audio louder than
``threshold_dbfs`` and ends in either of two ways, like a real provider's:

* **quiet audio**: ``hangover`` (0.7 s) of received audio below the threshold
  (true digital silence included). This is measured on the audio's own
  timeline (samples received), so it is deterministic however fast a client
  streams;
* **no audio**: no user audio has *arrived* for ``hangover``, measured on the
  clock passed in (the ``now`` of :meth:`Agent.user_audio` and
  :meth:`Agent.handle_timer`): while an utterance is open,
  :meth:`Agent.get_timer` includes ``last arrival + hangover``. Clients that
  stop sending after speech (a file sent whole, then listening) or that drop
  all-zero frames (the NextEVI vendor plugin does) still get their reply.

Any audio that arrives, voiced or quiet, moves the "no audio" deadline, so a
client streaming faster than real time (seconds of audio in milliseconds) is
never cut while it sends, and is answered ``hangover`` after it stops — the
moment its last audio arrived, not the moment that audio would have finished
playing. A client that pauses for longer than ``hangover`` between two chunks
has ended its turn, as it would have with a provider. The quiet-audio end
needs no clock at all; the no-audio end happens only in
:meth:`Agent.handle_timer`, so a test on a fake clock decides when.

Memory is bounded however long a session streams: :attr:`Agent.spoken` keeps
the most recent ``spoken_limit`` bytes, :attr:`Agent.replies` the most recent
``replies_limit`` texts, the echo of an utterance its last ``max_echo``
seconds (the transcript still gives the whole duration), and at most
``max_pending_tools`` tool calls wait for their result.

Scenarios (``scenario=``):

``echo``
    After each utterance, the transcript and a text reply, then the
    utterance itself spoken back (a contiguous copy, so the end-to-end audio
    fidelity can be measured). User speech over agent audio interrupts it.
``tool_call``
    After each utterance, a ``tool_call`` first; the reply (text including the
    tool's output, then the echo) follows the tool result.
``barge_in``
    Like ``echo`` but the reply is the utterance three times over, so that the
    user's next utterance lands on agent speech and produces an interruption.
``server_shutdown``
    Like ``echo``, then the session ends from the server side after the first
    reply (``end_reason="server_shutdown"``).
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from ..format import AudioFormat
from .records import RecentBytes, RecentList

__all__ = [
    "AGENT_SCENARIOS",
    "Action",
    "Agent",
    "AgentSpeech",
    "AgentTextOut",
    "EndSession",
    "Interrupted",
    "SpeechStarted",
    "SpeechStopped",
    "ToolCallOut",
    "TranscriptOut",
]

AGENT_SCENARIOS = ("echo", "tool_call", "barge_in", "server_shutdown")


@dataclass(frozen=True, slots=True)
class SpeechStarted:
    emulated: bool = False


@dataclass(frozen=True, slots=True)
class SpeechStopped:
    pass


@dataclass(frozen=True, slots=True)
class TranscriptOut:
    text: str
    final: bool
    turn_id: str
    confidence: float = 0.9


@dataclass(frozen=True, slots=True)
class AgentTextOut:
    """Agent text; ``text`` is the whole text so far, ``delta`` what was added."""

    text: str
    delta: str
    final: bool
    turn_id: str


@dataclass(frozen=True, slots=True)
class AgentSpeech:
    """One chunk of agent audio in the wire output format; ``last`` ends the turn."""

    pcm: bytes
    turn_id: str
    last: bool


@dataclass(frozen=True, slots=True)
class Interrupted:
    turn_id: str


@dataclass(frozen=True, slots=True)
class ToolCallOut:
    call_id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EndSession:
    reason: str


Action = (
    SpeechStarted
    | SpeechStopped
    | TranscriptOut
    | AgentTextOut
    | AgentSpeech
    | Interrupted
    | ToolCallOut
    | EndSession
)


def _rms_dbfs(pcm: memoryview | bytes) -> float:
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    if samples.size == 0:
        return -math.inf
    rms = math.sqrt(float(np.mean(samples * samples)))
    return 20 * math.log10(rms / 32768.0) if rms > 0 else -math.inf


class Agent:
    """The scripted agent. See the module docstring for scenarios.

    ``pace`` scales real-time pacing of agent audio (1.0: one chunk per chunk
    duration; 0: all at once). ``threshold_dbfs``, ``min_speech`` and
    ``hangover`` tune the energy voice-activity detector and the end of a
    turn (module docstring). ``spoken_limit`` (bytes), ``replies_limit``,
    ``max_echo`` (seconds) and ``max_pending_tools`` bound what it keeps.
    """

    def __init__(
        self,
        audio_in: AudioFormat,
        audio_out: AudioFormat | None = None,
        *,
        scenario: str = "echo",
        pace: float = 1.0,
        chunk_ms: int = 20,
        response_delay: float = 0.05,
        threshold_dbfs: float = -40.0,
        min_speech: float = 0.06,
        hangover: float = 0.7,
        preroll: float = 0.2,
        interim_every: float = 0.5,
        inflight_chunks: int = 3,
        spoken_limit: int = 1 << 20,
        replies_limit: int = 100,
        max_echo: float = 20.0,
        max_pending_tools: int = 8,
    ) -> None:
        if scenario not in AGENT_SCENARIOS:
            raise ValueError(f"unknown scenario {scenario!r}; choose from {AGENT_SCENARIOS}")
        self.audio_in = audio_in
        self.audio_out = audio_out or audio_in
        self.scenario = scenario
        self.pace = pace
        self.chunk_bytes = self.audio_out.bytes_for(chunk_ms / 1000)
        self.chunk_seconds = chunk_ms / 1000
        self.response_delay = response_delay
        self.threshold_dbfs = threshold_dbfs
        self._window = audio_in.bytes_for(0.02)
        self._min_speech_windows = max(1, round(min_speech / 0.02))
        self.hangover = hangover
        self._hangover_windows = max(1, round(hangover / 0.02))
        self._preroll_bytes = audio_in.bytes_for(preroll)
        self._interim_windows = max(1, round(interim_every / 0.02))
        #: Chunks of an interrupted turn still released after ``Interrupted``,
        #: like audio a real server already had in flight; clients must fence them.
        self.inflight_chunks = inflight_chunks
        #: The chunks of agent speech released, concatenated (``audio_out``):
        #: ground truth for what a client should have received. The most
        #: recent ``spoken_limit`` bytes (``.total`` counts them all).
        self.spoken = RecentBytes(spoken_limit)
        #: The final text of the replies released, in order: the most recent
        #: ``replies_limit`` (``.total`` counts them all).
        self.replies: RecentList[str] = RecentList(replies_limit)
        self._echo_bytes = self.audio_in.bytes_for(max_echo)
        self._max_pending_tools = max_pending_tools

        self._actions: list[Action] = []
        self._scheduled: deque[tuple[float, Action]] = deque()
        self._pending = bytearray()  # audio not yet a whole VAD window
        self._history = bytearray()  # recent audio, for pre-roll
        self._utterance = RecentBytes(self._echo_bytes)
        self._last_arrival: float | None = None  # when user audio last arrived
        self._speaking = False
        self._voiced_run = 0
        self._silent_run = 0
        self._speech_windows = 0
        self._turns = 0
        self._agent_turn: str | None = None  # turn whose audio is still scheduled
        self._awaiting_tool: dict[str, tuple[str, bytes, str]] = {}
        self._ended = False

    # -- outputs -----------------------------------------------------------

    def actions(self) -> list[Action]:
        out, self._actions = self._actions, []
        return out

    def get_timer(self) -> float | None:
        timers = [t for t in (self._no_audio_deadline(),) if t is not None]
        if self._scheduled:
            timers.append(self._scheduled[0][0])
        return min(timers) if timers else None

    def _no_audio_deadline(self) -> float | None:
        """When the open utterance ends if no more audio arrives (module docstring)."""
        if not self._speaking or self._ended or self._last_arrival is None:
            return None
        return self._last_arrival + self.hangover

    @property
    def speaking(self) -> bool:
        """True while agent audio of a turn is still scheduled."""
        return self._agent_turn is not None

    @property
    def turns(self) -> int:
        return self._turns

    # -- inputs ------------------------------------------------------------

    def handle_timer(self, now: float) -> None:
        deadline = self._no_audio_deadline()
        if deadline is not None and deadline <= now:
            # In time order: what was due before the turn ended, then the end.
            self._release(deadline)
            if self._speaking and not self._ended:
                self._utterance += self._pending  # the last part-window too
                self._pending.clear()
                self._end_speech(deadline)
        self._release(now)

    def _release(self, now: float) -> None:
        while self._scheduled and self._scheduled[0][0] <= now:
            _, action = self._scheduled.popleft()
            self._actions.append(action)
            if isinstance(action, AgentSpeech):
                self.spoken += action.pcm
                if action.last:
                    self._agent_turn = None
            elif isinstance(action, AgentTextOut) and action.final:
                self.replies.append(action.text)
            if isinstance(action, EndSession):
                self._scheduled.clear()
                self._ended = True

    def user_audio(self, pcm: bytes, now: float) -> None:
        """Feed user audio (whole samples in ``audio_in``)."""
        if self._ended:
            return
        self._last_arrival = now
        self._pending += pcm
        w = self._window
        offset = 0
        view = memoryview(self._pending)
        while len(self._pending) - offset >= w:
            self._window_in(view[offset : offset + w], now)
            offset += w
        view.release()
        del self._pending[:offset]

    def tool_result(self, call_id: str, output: str, now: float) -> None:
        pending = self._awaiting_tool.pop(call_id, None)
        if pending is None:
            return  # unknown or repeated call id: ignored (protocols/vatel.md §12.8)
        turn_id, utterance, transcript = pending
        self._respond(turn_id, utterance, f"The tool said {output}. You said {transcript}.", now)

    def user_text(self, text: str, now: float) -> None:
        self._turns += 1
        turn_id = f"turn-{self._turns}"
        self._actions.append(TranscriptOut(text, True, turn_id, 1.0))
        reply = f"You wrote: {text}"
        self._actions.append(AgentTextOut(reply, reply, True, turn_id))

    def interrupt(self, now: float) -> None:
        """The client asked the agent to stop speaking."""
        self._cancel_speech()

    # -- voice activity ------------------------------------------------------

    def _window_in(self, window: memoryview, now: float) -> None:
        voiced = _rms_dbfs(window) > self.threshold_dbfs
        if not self._speaking:
            self._history += window
            if len(self._history) > self._preroll_bytes + self._window * 4:
                del self._history[: len(self._history) - self._preroll_bytes - self._window * 4]
            self._voiced_run = self._voiced_run + 1 if voiced else 0
            if self._voiced_run >= self._min_speech_windows:
                self._start_speech(now)
            return
        self._utterance += window
        self._speech_windows += 1
        if voiced:
            self._silent_run = 0
        else:
            self._silent_run += 1
        if self._speech_windows % self._interim_windows == 0 and voiced:
            seconds = self._utterance.total / self.audio_in.bytes_per_second
            self._actions.append(
                TranscriptOut(f"[{seconds:.2f} s of speech…]", False, self._next_turn_id(), 0.5)
            )
        if self._silent_run >= self._hangover_windows:
            self._end_speech(now)

    def _next_turn_id(self) -> str:
        return f"turn-{self._turns + 1}"

    def _start_speech(self, now: float) -> None:
        self._speaking = True
        self._silent_run = 0
        self._speech_windows = 0
        keep = self._preroll_bytes + self._voiced_run * self._window
        self._utterance = RecentBytes(self._echo_bytes, self._history[-keep:])
        self._history.clear()
        if self._agent_turn is not None:
            turn = self._agent_turn
            inflight = [
                (t, AgentSpeech(a.pcm, a.turn_id, last=False))
                for t, a in self._scheduled
                if isinstance(a, AgentSpeech) and a.turn_id == turn
            ][: self.inflight_chunks]
            self._cancel_speech()
            self._actions.append(Interrupted(turn))
            self._scheduled = deque(sorted([*self._scheduled, *inflight], key=lambda i: i[0]))
        self._actions.append(SpeechStarted(emulated=False))

    def _cancel_speech(self) -> None:
        self._scheduled = deque(
            (t, a) for t, a in self._scheduled if not isinstance(a, AgentSpeech | AgentTextOut)
        )
        self._agent_turn = None

    def _end_speech(self, now: float) -> None:
        self._speaking = False
        self._voiced_run = 0
        utterance = bytes(self._utterance)
        seconds = self._utterance.total / self.audio_in.bytes_per_second
        self._utterance = RecentBytes(self._echo_bytes)
        self._turns += 1
        turn_id = f"turn-{self._turns}"
        transcript = f"[{seconds:.2f} s of speech]"
        self._actions.append(TranscriptOut(transcript, True, turn_id, 0.9))
        self._actions.append(SpeechStopped())
        if self.scenario == "tool_call":
            call_id = f"call-{self._turns}"
            self._awaiting_tool[call_id] = (turn_id, utterance, transcript)
            while len(self._awaiting_tool) > self._max_pending_tools:
                # A client that never answers: forget the oldest call (its
                # late result is then ignored like an unknown one).
                del self._awaiting_tool[next(iter(self._awaiting_tool))]
            self._actions.append(
                ToolCallOut(
                    call_id, "lookup_utterance", {"seconds": round(seconds, 2), "turn": self._turns}
                )
            )
            return
        self._respond(turn_id, utterance, f"You said {transcript}.", now)
        if self.scenario == "server_shutdown":
            last = self._scheduled[-1][0] if self._scheduled else now
            self._scheduled.append((last + self.chunk_seconds, EndSession("server_shutdown")))

    # -- replies -------------------------------------------------------------

    def _respond(self, turn_id: str, utterance: bytes, reply: str, now: float) -> None:
        audio = self._to_output(utterance)
        if self.scenario == "barge_in":
            audio = audio * 3
        t = now + self.response_delay * (1 if self.pace else 0)
        words = reply.split(" ")
        half = " ".join(words[: max(1, len(words) // 2)])
        self._scheduled.append((t, AgentTextOut(half, half, False, turn_id)))
        self._scheduled.append((t, AgentTextOut(reply, reply[len(half) :], True, turn_id)))
        step = self.chunk_seconds * self.pace
        chunks = [audio[i : i + self.chunk_bytes] for i in range(0, len(audio), self.chunk_bytes)]
        for i, chunk in enumerate(chunks):
            last = i == len(chunks) - 1
            self._scheduled.append((t + i * step, AgentSpeech(chunk, turn_id, last)))
        self._scheduled = deque(sorted(self._scheduled, key=lambda item: item[0]))
        if chunks:
            self._agent_turn = turn_id

    def _to_output(self, pcm: bytes) -> bytes:
        if self.audio_out == self.audio_in:
            return pcm
        from ..audio import StreamConverter

        conv = StreamConverter(self.audio_in, self.audio_out)
        return conv.convert(pcm) + conv.flush()
