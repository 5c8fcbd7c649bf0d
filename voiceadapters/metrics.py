"""Latency metrics of a session: ``session.metrics`` (docs/metrics.md).

A :class:`MetricsRecorder` sits in every :class:`~voiceadapters.session.Session`.
It reads what the session already has — the events as the codec produced
them, each with the moment it was received (``event.received``, stamped by
the driver), the handshake's step times (``Driver.steps``) and the
microphone audio the application sends — and keeps, per session:

* **connect time by step**: the token request(s), the WebSocket opening,
  then the provider's ``session_started`` and ``agent_ready`` (each measured
  from the end of the step before);
* **per agent turn**: the time from the **end of the user's speech** to the
  **first agent audio** received, the turn's duration and audio, whether it
  was interrupted and, if so, the **interruption-to-silence** time;
* the resampler delay in use and the audio dropped (from
  :class:`~voiceadapters.session.SessionStats`), in
  :meth:`MetricsRecorder.snapshot`.

End of the user's speech: the ``user_speech_stopped`` event when the
provider sent one since the previous agent turn began (its ``received``
time); otherwise the moment the application sent its last non-silent
microphone chunk (:func:`voiced`), which for a live microphone is the end
of that audio — a provider that does not report speech events (binary-pcm)
then shows its own end-of-turn detection inside the figure. Each turn says
which it used (``end_of_speech``).

First agent audio: the ``received`` time of the turn's first
``agent_audio`` from the provider (before the session's resampler: add
``resampler.output`` for when the application can have it).

Interruption to silence: from the ``interruption`` event's ``received``
time to the last ``agent_audio`` of the interrupted turn that the
application read after it (0 when the session's fencing let none through).

Cost: nothing per microphone frame for providers that report speech
events; for the others, one check of the chunk's high bytes (:func:`voiced`,
a C-level ``bytes.translate``). Per agent-audio event, a few attribute reads
and comparisons. Everything else happens per turn or per connection.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any, Literal

from .events import (
    AgentAudio,
    AgentAudioDone,
    AgentReady,
    Event,
    Interruption,
    SessionEnded,
    SessionResumed,
    SessionStarted,
    UserSpeechStopped,
)
from .format import AudioFormat

__all__ = [
    "METRICS_SCHEMA",
    "ConnectTimes",
    "MetricsRecorder",
    "SessionMetrics",
    "TurnMetrics",
    "format_summary",
    "voiced",
]

#: The version of :meth:`SessionMetrics.to_dict`'s layout (``--json`` files).
METRICS_SCHEMA = "voiceadapters-metrics/1"

#: Agent audio without a turn id arriving this long after the previous
#: agent audio starts a new turn: for providers that never mark a turn's end
#: (binary-pcm: no ``agent_audio_done``, no turn ids). The session's tail
#: flush uses 0.2 s.
TURN_GAP = 0.3

#: ``bytes.translate`` deletes these high bytes of 16-bit little-endian
#: samples: what is left is a sample louder than ±256 (−42 dBFS).
_QUIET_HIGH_BYTES = bytes((0x00, 0xFF))


def voiced(pcm: bytes) -> bool:
    """Whether 16-bit little-endian ``pcm`` has a sample louder than ±256
    (peak above −42 dBFS): its high bytes are not all ``0x00``/``0xFF``."""
    return bool(pcm[1::2].translate(None, _QUIET_HIGH_BYTES))


EndOfSpeech = Literal["user_speech_stopped", "input_audio"]


#: ``Driver.steps`` kinds that open the connection: a WebSocket, or a media session.
_OPENING_STEPS = ("websocket", "media")


@dataclass(frozen=True)
class ConnectTimes:
    """One connection's opening, in seconds (``None``: the step did not
    happen, or has not yet). Each step counts from the end of the one before:
    ``token_request`` (all HTTP steps together), ``websocket_open`` (for a
    media transport, joining the media session: ``Driver.steps`` says
    ``"media"``), then
    ``session_started`` (from the WebSocket open to the provider's
    ``session_started``) and ``agent_ready`` (from ``session_started`` to
    ``agent_ready``, for protocols that have it); ``total`` from the start
    of the first step to the last of these."""

    token_request: float | None
    websocket_open: float | None
    session_started: float | None
    agent_ready: float | None
    total: float | None
    started: float | None = None
    """When the first step began (:func:`time.monotonic`)."""
    steps: tuple[tuple[str, float, float], ...] = field(default=(), repr=False)
    """``(name, began, ended)`` of each step that happened, on :func:`time.monotonic`."""

    def spans(self) -> tuple[tuple[str, float, float], ...]:
        return self.steps

    def to_dict(self) -> dict[str, float | None]:
        return {
            "token_request_ms": _ms(self.token_request),
            "websocket_open_ms": _ms(self.websocket_open),
            "session_started_ms": _ms(self.session_started),
            "agent_ready_ms": _ms(self.agent_ready),
            "total_ms": _ms(self.total),
        }


@dataclass(frozen=True)
class TurnMetrics:
    """One agent turn (times on :func:`time.monotonic`, like ``event.received``)."""

    turn_id: str | None
    first_audio: float
    """When the turn's first agent audio was received."""
    end: float
    """When the turn ended: ``agent_audio_done`` or ``interruption``
    received, else its last agent audio received (so far)."""
    audio_seconds: float
    """Agent audio received for the turn, in seconds."""
    speech_ended: float | None = None
    """The end of the user's speech the turn answers (module docstring)."""
    end_of_speech: EndOfSpeech | None = None
    """Which signal ``speech_ended`` is: the provider's ``user_speech_stopped``
    or the application's last non-silent input audio."""
    interrupted: bool = False
    interruption_to_silence: float | None = None
    """Seconds from the ``interruption`` to the last audio of the turn the
    application read after it (0: none); ``None`` unless interrupted."""

    @property
    def response_latency(self) -> float | None:
        """Seconds from the end of the user's speech to the first agent audio."""
        return None if self.speech_ended is None else self.first_audio - self.speech_ended

    @property
    def duration(self) -> float:
        """Seconds from the first agent audio to the end of the turn."""
        return self.end - self.first_audio

    def to_dict(self) -> dict[str, Any]:
        return {
            "turn_id": self.turn_id,
            "end_of_speech": self.end_of_speech,
            "response_ms": _ms(self.response_latency),
            "duration_ms": _ms(self.duration),
            "audio_ms": _ms(self.audio_seconds),
            "interrupted": self.interrupted,
            "interruption_to_silence_ms": _ms(self.interruption_to_silence),
        }


@dataclass(frozen=True)
class SessionMetrics:
    """What ``session.metrics`` returns: a snapshot, taken when read."""

    provider: str
    connect: ConnectTimes | None
    """The first connection's opening."""
    reconnects: tuple[ConnectTimes, ...]
    """The openings of the connections that replaced it (reconnects, rollovers)."""
    turns: tuple[TurnMetrics, ...]
    resampler_input_ms: tuple[float, float]
    """``(mean, worst)`` delay of the microphone resampler (application → wire)."""
    resampler_output_ms: tuple[float, float]
    """``(mean, worst)`` delay of the agent-audio resampler (wire → application)."""
    audio: dict[str, float | int] = field(default_factory=dict)
    """Audio dropped, from :class:`~voiceadapters.session.SessionStats` (see
    :meth:`to_dict`)."""

    def latencies(self) -> list[float]:
        """Every turn's end-of-speech-to-first-audio, in seconds (turns with one)."""
        return [t.response_latency for t in self.turns if t.response_latency is not None]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``--json`` of ``run``, ``demo`` and ``talk``);
        durations in milliseconds."""
        lat = sorted(self.latencies())
        return {
            "schema": METRICS_SCHEMA,
            "provider": self.provider,
            "connect": self.connect.to_dict() if self.connect else None,
            "reconnects": [c.to_dict() for c in self.reconnects],
            "turns": [t.to_dict() for t in self.turns],
            "response_ms": {
                "count": len(lat),
                "mean": _ms(sum(lat) / len(lat)) if lat else None,
                "min": _ms(lat[0]) if lat else None,
                "median": _ms(_median(lat)) if lat else None,
                "max": _ms(lat[-1]) if lat else None,
            },
            "resampler": {
                "input": {
                    "mean_ms": self.resampler_input_ms[0],
                    "worst_ms": self.resampler_input_ms[1],
                },
                "output": {
                    "mean_ms": self.resampler_output_ms[0],
                    "worst_ms": self.resampler_output_ms[1],
                },
            },
            "audio": dict(self.audio),
        }


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 1)


def _median(values: list[float]) -> float:
    n = len(values)
    mid = n // 2
    return values[mid] if n % 2 else (values[mid - 1] + values[mid]) / 2


class _Turn:
    """A turn being recorded (mutable; :class:`TurnMetrics` is its snapshot)."""

    __slots__ = (
        "audio_bytes",
        "end",
        "end_of_speech",
        "first_audio",
        "format",
        "interrupted",
        "interrupted_at",
        "last_audio",
        "last_read_after_interruption",
        "speech_ended",
        "turn_id",
    )

    def __init__(self, turn_id: str | None, fmt: AudioFormat, at: float) -> None:
        self.turn_id = turn_id
        self.first_audio = at
        self.last_audio = at
        self.end: float | None = None
        self.format = fmt
        self.audio_bytes = 0
        self.speech_ended: float | None = None
        self.end_of_speech: EndOfSpeech | None = None
        self.interrupted = False
        self.interrupted_at = 0.0
        self.last_read_after_interruption: float | None = None

    def snapshot(self) -> TurnMetrics:
        silence = None
        if self.interrupted:
            last = self.last_read_after_interruption
            silence = 0.0 if last is None else max(0.0, last - self.interrupted_at)
        return TurnMetrics(
            turn_id=self.turn_id,
            first_audio=self.first_audio,
            end=self.end if self.end is not None else self.last_audio,
            audio_seconds=self.format.duration(self.audio_bytes),
            speech_ended=self.speech_ended,
            end_of_speech=self.end_of_speech,
            interrupted=self.interrupted,
            interruption_to_silence=silence,
        )


class _Connection:
    __slots__ = ("agent_ready", "session_started", "steps")

    def __init__(self, steps: list[tuple[str, float, float]]) -> None:
        self.steps = steps  # the driver's own list, filled as the handshake runs
        self.session_started: float | None = None
        self.agent_ready: float | None = None

    @property
    def opened(self) -> bool:
        return any(kind in _OPENING_STEPS for kind, _, _ in self.steps)

    def times(self) -> ConnectTimes:
        http = [s for s in self.steps if s[0] == "http"]
        ws = [s for s in self.steps if s[0] in _OPENING_STEPS]
        token = sum(end - start for _, start, end in http) if http else None
        opened = ws[-1][2] if ws else None
        ws_time = ws[-1][2] - ws[-1][1] if ws else None
        started = ready = None
        if self.session_started is not None and opened is not None:
            started = max(0.0, self.session_started - opened)
        if self.agent_ready is not None and self.session_started is not None:
            ready = max(0.0, self.agent_ready - self.session_started)
        last = self.agent_ready or self.session_started
        first = self.steps[0][1] if self.steps else None
        total = last - first if last is not None and first is not None else None
        spans: list[tuple[str, float, float]] = []
        if http:
            spans.append(("token_request", http[0][1], http[-1][2]))
        if ws:
            spans.append(("websocket_open", ws[-1][1], ws[-1][2]))
            if self.session_started is not None:
                spans.append(("session_started", ws[-1][2], self.session_started))
        if self.session_started is not None and self.agent_ready is not None:
            spans.append(("agent_ready", self.session_started, self.agent_ready))
        return ConnectTimes(token, ws_time, started, ready, total, first, tuple(spans))


class MetricsRecorder:
    """Fed by the session (module docstring); :meth:`snapshot` makes the view.

    ``track_input``: the provider reports no speech events, so the end of
    the user's speech is taken from the application's input audio
    (:meth:`input_voiced`, which the session calls for non-silent chunks).
    """

    def __init__(self, provider: str, *, track_input: bool, stats: Any = None) -> None:
        self.provider = provider
        self.track_input = track_input
        #: A :class:`~voiceadapters.session.SessionStats` to keep
        #: ``agent_turns``, ``connect_time`` and ``last_response_latency`` in.
        self.stats = stats
        self._connections: list[_Connection] = []
        self._turns: list[_Turn] = []
        self._turn: _Turn | None = None
        self._new_turn = True  # the next agent audio starts a turn
        self._last_rx = -math.inf
        self._speech_stopped: float | None = None  # user_speech_stopped since the turn began
        self._last_voiced: float | None = None  # last non-silent input chunk sent
        #: The interrupted turn whose late reads are being watched (:meth:`audio_read`).
        self.watching: _Turn | None = None
        self.ended = False

    # -- inputs ------------------------------------------------------------------

    def connection(self, steps: list[tuple[str, float, float]]) -> None:
        """A connection is being opened; ``steps`` is its driver's list of
        handshake steps (``Driver.steps``), read as it fills."""
        self._connections.append(_Connection(steps))

    def input_voiced(self, at: float) -> None:
        """The application sent a non-silent microphone chunk at ``at``."""
        self._last_voiced = at

    def on_events(self, events: list[Event]) -> None:
        """The codec's events, in order, before the session's pipeline."""
        for event in events:
            if type(event) is AgentAudio:  # the hot path
                self.on_audio(event.turn_id, event.format, len(event.pcm), event.received.monotonic)
                continue
            self._other(event)

    def on_audio(self, turn_id: str | None, fmt: AudioFormat, nbytes: int, at: float) -> None:
        """``nbytes`` of the codec's agent audio of ``turn_id`` in ``fmt``,
        received at ``at`` (monotonic): an ``agent_audio`` event, or the same
        audio handed over without one (:attr:`Codec.audio_sink
        <voiceadapters.codec.Codec.audio_sink>`)."""
        turn = self._turn
        if (
            self._new_turn
            or turn is None
            or turn_id != turn.turn_id
            or (turn_id is None and at - self._last_rx > TURN_GAP)
        ):
            turn = self._start_turn(turn_id, fmt, at)
        turn.audio_bytes += nbytes
        turn.last_audio = self._last_rx = at

    def _other(self, event: Event) -> None:
        at = event.received.monotonic
        if isinstance(event, UserSpeechStopped):
            self._speech_stopped = at
        elif isinstance(event, AgentAudioDone):
            self._end_turn(at)
        elif isinstance(event, Interruption):
            turn = self._turn
            if (
                turn is not None
                and turn.end is None
                and (event.turn_id is None or event.turn_id == turn.turn_id)
            ):
                turn.interrupted = True
                turn.interrupted_at = at
                turn.end = at
                self.watching = turn
            self._new_turn = True
        elif isinstance(event, SessionStarted | SessionResumed):
            conn = self._connections[-1] if self._connections else None
            if conn is not None and conn.session_started is None:
                conn.session_started = at
                self._connect_time()
            self._end_turn(None)
        elif isinstance(event, AgentReady):
            conn = self._connections[-1] if self._connections else None
            if conn is not None and conn.agent_ready is None:
                conn.agent_ready = at
                self._connect_time()
        elif isinstance(event, SessionEnded):
            self._end_turn(None)
            self.ended = True

    def _connect_time(self) -> None:
        stats = self.stats
        if stats is not None and len(self._connections) == 1:
            stats.connect_time = self._connections[0].times().total

    def audio_read(self, event: AgentAudio) -> None:
        """The application read ``event`` while an interrupted turn is watched."""
        turn = self.watching
        if turn is not None and (turn.turn_id is None or event.turn_id == turn.turn_id):
            turn.last_read_after_interruption = time.monotonic()

    def _start_turn(self, turn_id: str | None, fmt: AudioFormat, at: float) -> _Turn:
        self._end_turn(None)
        turn = _Turn(turn_id, fmt, at)
        if self._speech_stopped is not None:
            turn.speech_ended = self._speech_stopped
            turn.end_of_speech = "user_speech_stopped"
        elif self.track_input and self._last_voiced is not None:
            previous = self._turns[-1].first_audio if self._turns else -math.inf
            if self._last_voiced > previous:
                turn.speech_ended = self._last_voiced
                turn.end_of_speech = "input_audio"
        self._speech_stopped = None
        self._turns.append(turn)
        stats = self.stats
        if stats is not None:
            stats.agent_turns += 1
            if turn.speech_ended is not None:
                stats.last_response_latency = at - turn.speech_ended
        self._turn = turn
        self._new_turn = False
        # A new turn is coming: audio read from now on is not the interrupted
        # turn's (whatever of that turn was queued, the session discarded).
        self.watching = None
        return turn

    def _end_turn(self, at: float | None) -> None:
        turn = self._turn
        if turn is not None and at is not None and turn.end is None:
            turn.end = at
        self._new_turn = True

    # -- output ------------------------------------------------------------------

    def snapshot(
        self,
        *,
        resampler_input_ms: tuple[float, float],
        resampler_output_ms: tuple[float, float],
        audio: dict[str, float | int],
    ) -> SessionMetrics:
        # Attempts that never opened a WebSocket (a failed reconnect) are left out.
        conns = [c.times() for c in self._connections if c.opened]
        return SessionMetrics(
            provider=self.provider,
            connect=conns[0] if conns else None,
            reconnects=tuple(conns[1:]),
            turns=tuple(t.snapshot() for t in self._turns),
            resampler_input_ms=resampler_input_ms,
            resampler_output_ms=resampler_output_ms,
            audio=audio,
        )


def _cell(value: float | None, unit: str = " ms") -> str:
    return "—" if value is None else f"{value:.0f}{unit}"


def format_summary(metrics: SessionMetrics) -> str:
    """The per-session summary ``run``, ``demo`` and ``talk`` print: the
    connection's steps, a table of turns, resampler delay and dropped audio."""
    data = metrics.to_dict()
    lines = [f"session metrics ({metrics.provider})"]
    c = data["connect"]
    if c is not None:
        lines.append(
            "  connect: "
            + ", ".join(
                f"{label} {_cell(c[key])}"
                for label, key in (
                    ("token request", "token_request_ms"),
                    ("WebSocket open", "websocket_open_ms"),
                    ("session_started", "session_started_ms"),
                    ("agent_ready", "agent_ready_ms"),
                    ("total", "total_ms"),
                )
                if c[key] is not None or key == "total_ms"
            )
        )
    if data["reconnects"]:
        lines.append(f"  reconnects: {len(data['reconnects'])}")
    lines.append("")
    lines.append("  | turn | end of speech | response | duration | audio | interrupted → silence |")
    lines.append("  |---|---|---|---|---|---|")
    for t in data["turns"]:
        silence = f"yes → {_cell(t['interruption_to_silence_ms'])}" if t["interrupted"] else "no"
        lines.append(
            f"  | {t['turn_id'] or '—'} | {t['end_of_speech'] or '—'} | "
            f"{_cell(t['response_ms'])} | {_cell(t['duration_ms'])} | "
            f"{_cell(t['audio_ms'])} | {silence} |"
        )
    if not data["turns"]:
        lines.append("  | (no agent turn) | | | | | |")
    r = data["response_ms"]
    lines.append("")
    if r["count"]:
        lines.append(
            f"  end of speech → first agent audio: median {_cell(r['median'])}, "
            f"min {_cell(r['min'])}, max {_cell(r['max'])} over {r['count']} turn(s)"
        )
    res = data["resampler"]
    lines.append(
        f"  resampler delay: input {res['input']['mean_ms']:g} ms mean "
        f"({res['input']['worst_ms']:g} worst), output {res['output']['mean_ms']:g} ms mean "
        f"({res['output']['worst_ms']:g} worst)"
    )
    a = data["audio"]
    lines.append(
        "  audio dropped: "
        f"{a.get('dropped_audio_events', 0)} agent frames ({a.get('dropped_audio_ms', 0):g} ms) "
        f"for a slow reader, {a.get('fenced_audio_events', 0)} fenced after interruptions, "
        f"{a.get('dropped_input_ms', 0):g} ms of microphone audio while reconnecting, "
        f"{a.get('unsent_audio_ms', 0):g} ms never sent"
    )
    return "\n".join(lines)
