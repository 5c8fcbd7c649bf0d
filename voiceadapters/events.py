"""The normalized event model: what every provider's session produces.

Each event is a frozen pydantic v2 model whose ``type`` literal is its name on
the wire of the normalized model (design §3). :data:`Event` is the
discriminated union of them all, so ``EventAdapter.validate_python({"type":
"agent_text", ...})`` builds the right class.

Events are valid on construction and immutable afterwards. A provider's
peculiarities never leak into them: they are mapped by the plugin's codec;
whatever a codec cannot map arrives as :class:`UnknownMessage`, and whatever
is malformed as :class:`ProviderError` — never as an exception.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal, NamedTuple

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer, TypeAdapter

from .format import AudioFormat

__all__ = [
    "END_REASONS",
    "SCHEMA_VERSION",
    "AgentAudio",
    "AgentAudioDone",
    "AgentReady",
    "AgentText",
    "Emotion",
    "EndReason",
    "Event",
    "EventAdapter",
    "Interruption",
    "ProviderError",
    "Received",
    "SessionEnded",
    "SessionResumed",
    "SessionStarted",
    "ToolCall",
    "UnknownMessage",
    "Usage",
    "UserSpeechStarted",
    "UserSpeechStopped",
    "UserTranscript",
    "event_to_log",
    "receiving",
]

#: The version of this event model, ``MAJOR.MINOR``: a minor step adds event
#: types or optional fields (an application that ignores what it does not
#: know keeps working); a major step changes or removes something. History
#: (docs/concepts/events.md#schema-versions): 1.0, the design's 14 types;
#: 1.1 (voiceadapters 0.2), ``session_resumed``; 1.2, ``usage`` and ``received``
#: on every event (when it was received, :class:`Received`).
SCHEMA_VERSION = "1.2"

EndReason = Literal[
    "completed",
    "client_closed",
    "server_shutdown",
    "connection_lost",
    "auth_failed",
    "timeout",
    "error",
]
#: The normalized ``session_ended.reason`` values, in documentation order.
END_REASONS: tuple[str, ...] = EndReason.__args__  # type: ignore[attr-defined]


#: Longest rendering of a provider's raw message in a repr.
_REPR_LIMIT = 500


class Received(NamedTuple):
    """When an event was received: ``monotonic`` is :func:`time.monotonic`
    (the clock of every duration in :mod:`voiceadapters.metrics`), ``wall``
    the UNIX time (:func:`time.time`) read at the same moment."""

    monotonic: float
    wall: float

    @classmethod
    def now(cls) -> Received:
        """This moment, on both clocks."""
        return cls(time.monotonic(), time.time())


class _Receiving:
    """The stamp of the input a driver is feeding to a codec right now (a
    received frame, a close, a timer, the opening), or ``None`` outside one.
    Events built meanwhile take it as their ``received`` (one attribute read
    per event: docs/metrics.md#what-the-timestamps-cost), so a codec never
    reads a clock.

    One slot for the process, set and restored around each input, which
    runs synchronously: not a context variable, which the tasks and timer
    handles created during an input would inherit (and so stamp later
    events with a stale time), nor thread-local, which costs ~0.25 µs more
    per message. With event loops in several threads, an event may take the
    stamp of another thread's input that overlaps its own — a time within
    the same few milliseconds."""

    __slots__ = ("stamp",)

    def __init__(self) -> None:
        self.stamp: Received | None = None


_RECEIVING = _Receiving()


def _received_default() -> Received:
    stamp = _RECEIVING.stamp
    return stamp if stamp is not None else _new(Received, (time.monotonic(), time.time()))


_new = tuple.__new__
_new_object = object.__new__
_set = object.__setattr__


@contextmanager
def receiving(stamp: Received) -> Iterator[None]:
    """Events built inside the block are stamped ``stamp`` (a codec-level
    harness with a fake clock uses it; the driver sets the same variable
    around every input it feeds)."""
    previous = _RECEIVING.stamp
    _RECEIVING.stamp = stamp
    try:
        yield
    finally:
        _RECEIVING.stamp = previous


def _received_from_json(value: Any) -> Any:
    if isinstance(value, dict):
        return (value.get("monotonic"), value.get("wall"))
    return value


#: ``received`` in the JSON form of events: ``{"monotonic": …, "wall": …}``.
ReceivedField = Annotated[
    Received,
    BeforeValidator(_received_from_json),
    PlainSerializer(
        lambda r: {"monotonic": r.monotonic, "wall": r.wall},
        return_type=dict[str, float],
    ),
]


class _Event(BaseModel):
    """Every event carries ``received`` (:class:`Received`): when it was
    received. The driver stamps it for events a codec builds while it feeds
    an input; an event built anywhere else takes the time it was built.

    ``received`` is not part of an event's identity: two events equal in
    every other field are equal (and hash alike), and it is left out of
    ``repr``. It is in ``model_dump()`` and the JSON form.
    """

    # defer_build: each event class builds its validator on first use, not
    # at ``import voiceadapters`` (about 15 ms of import time for all of
    # them; pydantic's documented way to cut it). A session uses a few.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)

    received: ReceivedField = Field(default_factory=_received_default, repr=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BaseModel):
            return NotImplemented
        if type(other) is not type(self):
            return False
        mine, theirs = self.__dict__, other.__dict__
        return len(mine) == len(theirs) and all(
            k == "received" or mine[k] == theirs.get(k, mine) for k in mine
        )

    def __hash__(self) -> int:
        return hash((type(self), *(v for k, v in self.__dict__.items() if k != "received")))


class SessionStarted(_Event):
    """The provider accepted the session. ``session_id`` is the provider's id for it."""

    type: Literal["session_started"] = "session_started"
    session_id: str | None = None


class AgentReady(_Event):
    """The agent is listening (a separate step in some protocols)."""

    type: Literal["agent_ready"] = "agent_ready"


class SessionEnded(_Event):
    """The session is over; always the last event.

    ``reason`` is normalized; ``provider_reason`` is the provider's own words
    (a reason string or error code) when it gave any; ``close_code`` is the
    WebSocket close code when the connection closed with one.
    """

    type: Literal["session_ended"] = "session_ended"
    reason: EndReason
    provider_reason: str | None = None
    close_code: int | None = None


class SessionResumed(_Event):
    """The session lost its connection and continues on a new one
    (:mod:`voiceadapters.reconnect`); it takes the place of the new
    connection's ``session_started``.

    ``cause`` is why the old connection went: the normalized end reason it
    would have had (``connection_lost``, ``server_shutdown``, ``error``), or
    ``rollover`` for a planned reconnect before the provider's session cap;
    ``close_code`` its close code. ``attempts`` counts the connections tried
    (1: the first worked), ``downtime`` the seconds without a connection.
    ``state_restored`` is true only when the provider resumed the
    conversation itself; otherwise the agent starts afresh and the turn in
    flight when the connection went is lost. ``session_id`` is the new
    connection's id, if the provider gives one.
    """

    type: Literal["session_resumed"] = "session_resumed"
    cause: str
    attempts: int = Field(ge=1)
    downtime: float = Field(ge=0.0)
    state_restored: bool = False
    close_code: int | None = None
    session_id: str | None = None


class UserSpeechStarted(_Event):
    """The provider detected the user starting to speak.

    ``emulated`` is true when the provider synthesised the start (for example
    because a transcript arrived without voice activity detection firing).
    """

    type: Literal["user_speech_started"] = "user_speech_started"
    emulated: bool = False


class UserSpeechStopped(_Event):
    type: Literal["user_speech_stopped"] = "user_speech_stopped"


class UserTranscript(_Event):
    """Speech-to-text of the user. Interim results have ``final=False`` and are
    replaced (not extended) by the next result of the same utterance."""

    type: Literal["user_transcript"] = "user_transcript"
    text: str
    final: bool
    confidence: float | None = Field(default=None, ge=0.0, le=1.0)
    turn_id: str | None = None


class AgentText(_Event):
    """Agent text. ``text`` is the whole text of the turn so far; ``delta`` what
    this event added to the previous ``text`` of the same turn (equal to
    ``text`` when the provider replaced rather than extended it)."""

    type: Literal["agent_text"] = "agent_text"
    text: str
    delta: str
    final: bool
    turn_id: str | None = None


class AgentAudio(_Event):
    """Agent speech as raw PCM in the application's output format."""

    type: Literal["agent_audio"] = "agent_audio"
    pcm: bytes
    format: AudioFormat
    turn_id: str | None = None

    @classmethod
    def new(cls, pcm: bytes, format: AudioFormat, turn_id: str | None = None) -> AgentAudio:
        """The same event as ``AgentAudio(pcm=pcm, format=format, turn_id=turn_id)``,
        built about 1 µs faster: for codecs and the session, which build one
        for every 20 ms of agent audio.

        When the arguments already have the field types exactly (``bytes``,
        :class:`~voiceadapters.format.AudioFormat`, ``str`` or ``None``: three
        type tests), the instance is assembled as pydantic's
        ``model_construct`` would, skipping a validation that could not fail;
        anything else (a ``bytearray``, a subclass, a wrong type) goes through
        the validating constructor and its errors. Only for ``AgentAudio``
        itself: a subclass is always validated.
        """
        if (
            cls is AgentAudio
            and type(pcm) is bytes
            and type(format) is AudioFormat
            and (turn_id is None or type(turn_id) is str)
        ):
            event = _new_object(cls)
            stamp = _RECEIVING.stamp  # _received_default(), inlined: once per 20 ms frame
            _set(
                event,
                "__dict__",
                {
                    "received": stamp
                    if stamp is not None
                    else _new(Received, (time.monotonic(), time.time())),
                    "type": "agent_audio",
                    "pcm": pcm,
                    "format": format,
                    "turn_id": turn_id,
                },
            )
            # What the validating path leaves on an instance (pydantic's
            # documented instance attributes; tests/test_events.py holds the
            # two paths equal in every observable way).
            _set(event, "__pydantic_fields_set__", {"pcm", "format", "turn_id"})
            _set(event, "__pydantic_extra__", None)
            _set(event, "__pydantic_private__", None)
            return event
        return cls(pcm=pcm, format=format, turn_id=turn_id)

    @property
    def duration(self) -> float:
        """Seconds of audio in this event."""
        return self.format.duration(len(self.pcm))

    def __repr__(self) -> str:
        # 20 ms of PCM as a bytes repr is noise in logs and tracebacks.
        return (
            f"AgentAudio(pcm=<{len(self.pcm)} bytes, {self.duration * 1000:.1f} ms>, "
            f"format={self.format!r}, turn_id={self.turn_id!r})"
        )

    __str__ = __repr__


class AgentAudioDone(_Event):
    """The agent finished speaking turn ``turn_id``: no more audio follows for it."""

    type: Literal["agent_audio_done"] = "agent_audio_done"
    turn_id: str | None = None


class Interruption(_Event):
    """The user barged in. No further ``agent_audio`` of ``turn_id`` is delivered;
    audio of that turn already queued but not yet read is discarded."""

    type: Literal["interruption"] = "interruption"
    turn_id: str | None = None


class ToolCall(_Event):
    """The agent asks the application to run a tool; answer with
    :meth:`Session.send_tool_result` and the same ``call_id``."""

    type: Literal["tool_call"] = "tool_call"
    call_id: str
    name: str
    arguments: dict[str, Any] = Field(default_factory=dict)


class Usage(_Event):
    """What one agent turn (a provider's response) cost, as the provider
    counted it: token counts, when it reports them at the end of a turn.

    ``input_tokens``, ``output_tokens`` and ``total_tokens`` are ``None``
    when the provider did not say. ``details`` is the provider's own
    breakdown (for example cached, audio and text tokens), as it sent it.
    """

    type: Literal["usage"] = "usage"
    turn_id: str | None = None
    input_tokens: int | None = Field(default=None, ge=0)
    output_tokens: int | None = Field(default=None, ge=0)
    total_tokens: int | None = Field(default=None, ge=0)
    details: dict[str, Any] = Field(default_factory=dict)


class Emotion(_Event):
    """Emotion scores (label → 0..1) detected in the user's voice or text."""

    type: Literal["emotion"] = "emotion"
    scores: dict[str, Annotated[float, Field(ge=0.0, le=1.0)]]
    source: str | None = None


class ProviderError(_Event):
    """The provider reported an error, or sent something malformed.

    ``fatal`` errors are followed by ``session_ended``; others leave the
    session running.
    """

    type: Literal["provider_error"] = "provider_error"
    code: str
    message: str
    fatal: bool = False


class UnknownMessage(_Event):
    """A well-formed provider message the plugin does not map. ``raw`` is the
    decoded JSON object when the frame was JSON, else the frame text."""

    type: Literal["unknown_message"] = "unknown_message"
    raw: Any

    def __repr__(self) -> str:
        # raw is whatever the provider sent, up to the transport's 16 MiB:
        # logs and tracebacks get its start (the event keeps all of it).
        text = repr(self.raw)
        if len(text) > _REPR_LIMIT:
            text = f"{text[:_REPR_LIMIT]}… ({len(text)} characters)"
        return f"UnknownMessage(raw={text})"

    __str__ = __repr__


Event = Annotated[
    SessionStarted
    | AgentReady
    | SessionEnded
    | SessionResumed
    | UserSpeechStarted
    | UserSpeechStopped
    | UserTranscript
    | AgentText
    | AgentAudio
    | AgentAudioDone
    | Interruption
    | ToolCall
    | Usage
    | Emotion
    | ProviderError
    | UnknownMessage,
    Field(discriminator="type"),
]
"""Any normalized event; discriminated by ``type``."""

#: Validates a dict (or JSON) into the right event class.
EventAdapter: TypeAdapter[Event] = TypeAdapter(Event, config=ConfigDict(defer_build=True))


def event_to_log(event: Event) -> dict[str, Any]:
    """A JSON-ready dict of ``event`` for event logs.

    ``agent_audio`` carries ``bytes`` (byte count) and ``duration_ms`` instead
    of the audio itself; everything else is the event's fields as they are,
    ``received`` included (``{"monotonic": …, "wall": …}``).
    """
    if isinstance(event, AgentAudio):
        return {
            "type": event.type,
            "bytes": len(event.pcm),
            "duration_ms": round(event.duration * 1000, 3),
            "sample_rate": event.format.sample_rate,
            "channels": event.format.channels,
            "turn_id": event.turn_id,
            "received": {"monotonic": event.received.monotonic, "wall": event.received.wall},
        }
    data = event.model_dump(mode="json")
    if isinstance(event, UnknownMessage) and isinstance(event.raw, bytes):
        data["raw"] = base64.b64encode(event.raw).decode("ascii")
    data["received"] = data.pop("received")  # after the event's own fields
    return data
