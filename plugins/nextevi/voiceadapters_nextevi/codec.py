"""The NextEVI client codec: the WebSocket handshake and both message dialects.

Pure, like every codec (:mod:`voiceadapters.codec`): no I/O, no clock, no
randomness, no asyncio. Sections cited as §n are the NextEVI wire spec's
(``protocols/nextevi.md``), which summarises the docs pages, seed 004, the
LiveKit plugin ``livekit-plugins-nextevi`` 0.1.0 and the React SDK 1.1.6.

Handshake (§1)
--------------
There is no REST step. :meth:`NextEVICodec.handshake_step` describes one
WebSocket::

    {ws_base}/ws/voice/{connection_id}?api_key=<key>&config_id=<id>[&project_id=<id>]

* ``connection_id`` is fresh per connection, in the vendor clients' form
  ``voice_<epoch ms>_<9 base-36 chars>``. The codec does not make it (that
  would read a clock and a random source): the provider does, with
  :func:`~voiceadapters_nextevi.provider.new_connection_id`, and passes it in.
* The API key rides in the URL, as a :class:`~voiceadapters.secrets.Secret`
  query value: every ``repr``/``str`` of the request, the codec and the
  config shows ``api_key=***``, and the core's transport scrubs it from
  connection errors and from the ``websockets`` library's DEBUG log.
* Protocol pings every 30 s with a 10 s timeout, as the LiveKit plugin does
  (§8); ``connect_timeout`` bounds the opening handshake and then the wait
  for the server's first message (``connection_metadata``).

On open the codec sends ``session_settings`` in the superset form (§9.1):
flat ``sample_rate``/``channels``/``encoding`` (what the vendor clients send)
plus the documented ``data{emotion_detection, turn_detection, audio}``, with
a ``message_id`` from a per-connection counter and **no** ``timestamp`` (a
codec has no wall clock; the ``now`` it is given is monotonic, not epoch, and
the vendor clients' flat form carries none either).

Client → server
---------------
* Microphone audio: binary frames of raw PCM16 24 kHz mono, exactly as the
  session hands them over (§9.2). Silent frames are **sent**, not dropped
  (the LiveKit plugin drops all-zero frames, which starves the server's
  end-of-speech detection of the silence it needs).
  With ``audio_input=base64``: the documented ``audio_input`` message,
  ``data{audio, chunk_id}`` only (no flat mirror: nobody sends a flat
  ``audio_input``, and a mirror would double every audio message).
  ``chunk_id`` is ``chunk-<n>``, counting from 1.
* ``send_text`` → ``text_input`` with flat ``text`` (the LiveKit plugin's
  shape) mirrored in ``data``; ``interrupt`` → ``interrupt``. The client
  interrupt itself emits no event: the ``interruption`` comes from the
  server's ``tts_interruption`` answer, so that it names the turn the server
  really stopped.
* ``keep_alive`` (no data) when nothing at all was sent for
  ``keep_alive_interval`` seconds (§8). Time comes only from
  :meth:`handle_timer`; a send does not come with a time, so the codec asks
  for a timer tick every quarter interval while it is sending and dates its
  last activity to that tick. A ``keep_alive`` is therefore never sent
  before ``keep_alive_interval`` of real silence, and at most a quarter
  interval after it. ``keep_alive_interval=0`` disables it.

Server messages → events (§3)
-----------------------------
Every field is read from ``data`` first, then from the top level
(:func:`~voiceadapters_nextevi.messages.get_field`), so the documented
(nested) and the vendor (flat) dialects give the same events.

============================  =================================================
``connection_metadata``       ``session_started(session_id=connection_id)``
                              (the server's ``connection_id``, else ours)
``transcription``             ``user_transcript(text, final=is_final,
                              confidence)`` when ``transcript`` is not empty;
                              then ``emotion(source="transcription")`` when it
                              carries ``emotions``. ``metadata.event_type``
                              ``speech_started`` → ``user_speech_started``
                              first; ``utterance_end`` → ``user_speech_stopped``
                              last
``llm_response_chunk``        ``agent_text(text so far, delta, final, turn_id)``
``tts_chunk``                 ``agent_audio`` (raw PCM 24 kHz, or the WAV's own
                              format); ``is_last`` → ``agent_audio_done``
``emotion_update``            ``emotion(scores 0..1, source="emotion_update")``
``tts_interruption``,         ``interruption(turn_id)``; later audio of that
``user_interruption``         turn is dropped (fencing, below)
``error``                     ``provider_error(code, message, fatal)``:
                              ``fatal=True`` for the codes that end the
                              session (below), else ``fatal=False``
``websocket.disconnect``      ``session_ended`` (its ``code`` mapped as a close
                              code; ``provider_reason`` = its ``reason``)
``turn_complete``             nothing — the server's turn detector's verdict
                              on the *user's* turn, sent once per turn; the
                              event model has no place for it, and the
                              transcript it repeats already arrived as the
                              final ``user_transcript`` (an ``unknown_message``
                              every turn would only be noise)
``idle_warning``              ``unknown_message`` — advisory; the app may
                              read ``time_remaining`` from ``raw``
``system_message``            ``unknown_message``; a ``message_type: hangup``
                              also makes the close that follows end the
                              session with ``reason="timeout"``
``status``, any other type    ``unknown_message(raw=<the JSON object>)``
binary frame                  ``provider_error("unexpected_binary")``; ignored
============================  =================================================

Closes: 1000 (and 1005) → ``completed`` (``client_closed`` when we closed;
``timeout`` after a hang-up ``system_message`` or an ``IDLE_TIMEOUT_HANGUP``
error); 1001, 1012, 1013 → ``server_shutdown``; 4001 and 1008 →
``auth_failed``; any other code ≥ 4000 → ``error``; no close frame or 1006 →
``connection_lost``; the rest as :func:`voiceadapters.codec.default_close_reason`.
``provider_reason`` is the close reason, else the hang-up text, else the code
of the last ``error`` message.

Decisions where the protocol is silent or loose (§9):

* **Which errors are fatal.** NextEVI's ``error`` says nothing about its
  effect; the session ends when the server closes (a bad key: ``error``
  then close 4001, §9.7), and the close is the ``session_ended``. The codes
  that refuse or end a session — ``AUTHENTICATION_FAILED``,
  ``JWT_TOKEN_EXPIRED``, ``JWT_TOKEN_INVALID``, ``PROJECT_NOT_FOUND``,
  ``CONFIG_NOT_FOUND``, ``CONNECTION_ID_IN_USE`` and ``IDLE_TIMEOUT_HANGUP``
  (the React SDK's list, §3, plus the simulator's ``CONNECTION_ID_IN_USE``)
  — are ``provider_error(fatal=True)``, as the event model says a fatal
  error is: ``session_ended`` follows (the server closes right after them).
  Every other code (``TURN_DETECTION_FAILED``, ``IDLE_TIMEOUT_WARNING``, an
  unknown one) is ``fatal=False``: by itself it ends nothing. The code is the first
  of ``data.code``, ``data.error_code``, ``error_code``, ``code``; the message
  the first of ``data.message``, ``data.error_message``, ``error_message``,
  ``error`` (a string, or an object with ``code``/``message``), ``message``,
  ``data.error``; missing ones are ``"nextevi_error"`` and the JSON of the
  message. A bad key therefore does not raise at ``connect()``: the session
  opens, then ends with ``reason="auth_failed"``.
* **Agent turns.** NextEVI puts no turn id on ``tts_chunk`` or
  ``tts_interruption``. The codec assigns one per agent turn: the
  ``generation_id`` of the turn's first ``llm_response_chunk`` when it has
  one, else ``turn-<n>`` from a counter. A new turn starts with

  - an ``llm_response_chunk`` when there is no turn yet, the current turn's
    text is already final, its ``generation_id`` differs, or the current turn
    was interrupted;
  - a ``tts_chunk`` when there is no turn yet, the current turn's audio
    already ended (``is_last``), or the current turn was interrupted;

  otherwise text and audio join the current turn (the TTS of a reply lags
  its text, so audio after the final text chunk still belongs to it).
* **Agent text (§9.4).** Chunks with ``is_final: false`` are deltas and are
  appended. The final chunk may carry the full text (seed 004's browser
  example, the React SDK) or a last delta (seed 004's Node example): if the
  accumulated text is empty or the final content starts with it, the final
  content is the full text (``delta`` = what it adds); otherwise it is a
  last delta and is appended. (A last delta that happens to start with the
  whole text so far is misread as the full text — the one case the two
  readings cannot be told apart.)
* **Agent audio (§9.3).** ``content`` is base64. Bytes starting with
  ``RIFF`` are parsed as a WAV file (:func:`voiceadapters.audio.parse_wav_bytes`,
  any chunk layout, streaming sizes allowed) and the event carries the WAV's
  own sample rate and channels — the session converts. A header-less chunk
  that follows a WAV chunk in the same turn is taken to continue that WAV's
  format (a streamed WAV has its header only once); otherwise raw chunks are
  PCM16 24 kHz mono. A wrong or truncated WAV header → ``provider_error``
  ``malformed_wav`` and the chunk is skipped (its ``is_last`` still counts);
  invalid base64 → ``malformed_audio``; a byte count that is not whole
  sample frames → the whole-frame prefix plus ``odd_length_audio``. The
  session goes on in every case.
* **Interruption fencing (§7).** ``tts_interruption`` / ``user_interruption``
  → ``interruption(turn_id=<the current turn>)`` (``None`` before any
  turn). Until a new turn is recognised, every ``tts_chunk`` is the
  interrupted turn's late audio and is dropped (:attr:`NextEVICodec.fenced_chunks`
  counts them), including its ``is_last``, so neither audio nor an
  ``agent_audio_done`` of that turn reaches the application. The fence
  lifts at the next ``llm_response_chunk`` (a new reply: NextEVI's TTS is
  made from its LLM text, so a reply's text comes before its audio), at a
  final ``transcription`` (the user finished a new utterance, so what
  follows answers it) or at an ``is_last`` (the interrupted stream ended).
  ``llm_response_chunk``\\ s whose ``generation_id`` names an interrupted turn
  are dropped too: that text will never be spoken. The limit of this rule:
  a server that keeps streaming the interrupted reply's *text* without a
  ``generation_id`` after the interruption would start a "new" turn with it,
  and that reply's late audio would then play under the new turn's id.
* **Lenient fields.** Missing ``is_final`` means not final (as the LiveKit
  plugin reads it); ``confidence`` outside 0..1 or not a number is left out;
  empty transcripts produce no ``user_transcript``; emotion entries without
  a label or with a score outside 0..1 (``percentage`` outside 0..100) are
  skipped and reported once as ``malformed_emotion``. A known type whose
  payload field has the wrong type becomes ``provider_error``
  ``malformed_message`` naming the type and the field.
"""

from __future__ import annotations

import binascii
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from voiceadapters import wirejson
from voiceadapters.audio import parse_wav_bytes
from voiceadapters.codec import Codec, default_close_reason
from voiceadapters.commands import (
    COMMAND_CAPABILITY,
    Command,
    Interrupt,
    SendAudio,
    SendText,
)
from voiceadapters.config import ProviderConfig
from voiceadapters.errors import AudioFormatError, UnsupportedCommandError
from voiceadapters.events import (
    AgentAudioDone,
    AgentText,
    Emotion,
    EndReason,
    Interruption,
    SessionStarted,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)
from voiceadapters.fields import MalformedField, base64_data, boolean, number, optional_string
from voiceadapters.format import AudioFormat
from voiceadapters.handshake import CloseFrame, Frame, OutFrame, WebSocketRequest
from voiceadapters.turns import TurnFence

from . import messages as m
from .provider import API_KEY_ENV, WIRE_FORMAT, NextEVIOptions, NextEVIProvider

__all__ = [
    "CONNECTION_PATH",
    "FATAL_ERROR_CODES",
    "PING_INTERVAL",
    "PING_TIMEOUT",
    "NextEVICodec",
    "normalize_emotions",
]

#: WebSocket path prefix (the provider's), under its name before 0.2.
CONNECTION_PATH = NextEVIProvider.connection_path

#: The LiveKit plugin's protocol keepalive (§8).
PING_INTERVAL = 30.0
PING_TIMEOUT = 10.0

#: Error codes after which the close ends the session as a time-out.
_HANGUP_CODES = frozenset({"IDLE_TIMEOUT_HANGUP"})

#: Error codes that refuse or end the session: the server closes right after
#: them, so their ``provider_error`` is fatal (module docstring, §3, §9.7).
FATAL_ERROR_CODES = frozenset(
    {
        "AUTHENTICATION_FAILED",
        "JWT_TOKEN_EXPIRED",
        "JWT_TOKEN_INVALID",
        "PROJECT_NOT_FOUND",
        "CONFIG_NOT_FOUND",
        "CONNECTION_ID_IN_USE",
        "IDLE_TIMEOUT_HANGUP",
    }
)

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")


def _str_field(message: dict[str, Any], name: str, default: str | None) -> str | None:
    return optional_string(m.get_field(message, name), name, default)


def _flag(message: dict[str, Any], name: str) -> bool:
    return boolean(m.get_field(message, name), name, False)


def _unit_score(item: dict[str, Any]) -> float | None:
    """An item's score on 0..1: ``score``, else ``confidence``, else ``percentage``/100."""
    for key in ("score", "confidence"):
        value = number(item.get(key))
        if value is not None:
            return value
    percentage = number(item.get("percentage"))
    return None if percentage is None else percentage / 100.0


def normalize_emotions(value: Any) -> tuple[dict[str, float], list[str]]:
    """Emotion scores (label → 0..1) from any of NextEVI's shapes, and what was skipped.

    Accepted (§9.5): a list of objects with a label in ``name``, ``emotion``
    or ``label`` and a score in ``score`` or ``confidence`` (0..1) or
    ``percentage`` (0..100); or a map label → score (0..1), or label → such
    an object. Entries without a label or a usable score, or with a score
    outside the range, are skipped and described in the second value. The
    first entry for a label wins.
    """
    scores: dict[str, float] = {}
    problems: list[str] = []

    def add(label: Any, score: float | None, where: str) -> None:
        if not isinstance(label, str) or not label:
            problems.append(f"{where}: no label")
        elif score is None:
            problems.append(f"{where} ({label}): no numeric score")
        elif not 0.0 <= score <= 1.0:
            problems.append(f"{where} ({label}): score {score:g} is outside 0..1")
        elif label not in scores:
            scores[label] = score

    if isinstance(value, dict):
        for label, item in value.items():
            score = _unit_score(item) if isinstance(item, dict) else number(item)
            add(label, score, f"entry {label!r}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                problems.append(f"item #{index}: not an object")
                continue
            label = item.get("name", item.get("emotion", item.get("label")))
            add(label, _unit_score(item), f"item #{index}")
    elif value is not None:
        problems.append(f"expected a list or an object, got {type(value).__name__}")
    return scores, problems


@dataclass(slots=True)
class _Turn:
    """One agent turn (reply) as the codec reconstructs it."""

    id: str
    generation_id: str | None = None
    text: str = ""
    text_final: bool = False
    audio_done: bool = False
    #: Format of header-less audio in this turn (a WAV chunk's format sticks).
    format: AudioFormat = field(default=WIRE_FORMAT)


class NextEVICodec(Codec):
    """Client side of a NextEVI voice session; see the module docstring.

    ``connection_id`` is the path segment of this one connection (make it
    with :func:`~voiceadapters_nextevi.provider.new_connection_id`); it must
    be non-empty and made of URL-unreserved characters. Raises
    :class:`~voiceadapters.errors.ConfigError` at construction when ``config``
    has no API key.
    """

    def __init__(
        self,
        config: ProviderConfig,
        *,
        connection_id: str,
        provider: NextEVIProvider | None = None,
    ) -> None:
        self._spec = provider or NextEVIProvider()
        super().__init__(self._spec)
        options = config.options_as(NextEVIOptions)
        if not connection_id or not set(connection_id) <= _UNRESERVED:
            raise ValueError(
                f"connection_id must be a non-empty URL path segment of letters, digits "
                f"and '-._~', not {connection_id!r}"
            )
        self.config = config
        self.options: NextEVIOptions = options
        self.connection_id = connection_id
        self._api_key = config.require_api_key(API_KEY_ENV)
        self._opened = False
        self._started = False
        self._message_count = 0
        self._chunk_count = 0
        # keep_alive: activity dated by handle_timer ticks (module docstring).
        self._interval = options.keep_alive_interval
        self._tick = options.keep_alive_interval / 4
        self._last_activity: float | None = None
        self._last_tick: float | None = None
        self._sent_since_tick = False
        # agent turns and interruption fencing
        self._turn_count = 0
        self._turn: _Turn | None = None
        self._interrupted = TurnFence()
        self._fence: str | None = None
        self._fenced_chunks = 0
        # how the session ends
        self._hangup: str | None = None
        self._last_error_code: str | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            m.TTS_CHUNK: self._on_tts_chunk,
            m.LLM_RESPONSE_CHUNK: self._on_llm_chunk,
            m.TRANSCRIPTION: self._on_transcription,
            m.EMOTION_UPDATE: self._on_emotion_update,
            m.TTS_INTERRUPTION: self._on_interruption,
            m.USER_INTERRUPTION: self._on_interruption,
            m.CONNECTION_METADATA: self._on_connection_metadata,
            m.ERROR: self._on_error,
            m.WEBSOCKET_DISCONNECT: self._on_disconnect,
            m.SYSTEM_MESSAGE: self._on_system_message,
            m.TURN_COMPLETE: self._on_turn_complete,
        }

    def __repr__(self) -> str:
        state = "ended" if self.ended else "open" if self._opened else "handshake"
        return f"<NextEVICodec {self.config.to_string()!r} {self.connection_id} {state}>"

    @property
    def fenced_chunks(self) -> int:
        """``tts_chunk`` messages dropped because their turn was interrupted."""
        return self._fenced_chunks

    # -- handshake ---------------------------------------------------------

    @property
    def connection_url(self) -> str:
        """``{ws_base}/ws/voice/{connection_id}`` (no query: that holds the key)."""
        path = self._spec.connection_path
        return f"{self.config.ws_base}{path}{quote(self.connection_id, safe='')}"

    def handshake_step(self) -> WebSocketRequest | None:
        """The WebSocket to open (key, config and project in the query), then ``None``."""
        if self._opened:
            return None
        query: list[tuple[str, Any]] = [
            ("api_key", self._api_key),
            ("config_id", self.options.config_id),
        ]
        if self.options.project_id is not None:
            query.append(("project_id", self.options.project_id))
        return WebSocketRequest(
            url=self.connection_url,
            query=tuple(query),
            open_timeout=self.options.connect_timeout,
            first_message_timeout=self.options.connect_timeout,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
        )

    def connection_opened(self) -> None:
        """Queue ``session_settings`` (superset form, module docstring)."""
        if self._opened:
            raise RuntimeError("NextEVICodec: connection_opened called twice")
        self._opened = True
        options = self.options
        self._send_json(
            m.session_settings(
                message_id=self._next_id(m.SESSION_SETTINGS),
                sample_rate=WIRE_FORMAT.sample_rate,
                channels=WIRE_FORMAT.channels,
                emotion_detection=options.emotion_detection,
                turn_detection=options.turn_detection,
                silence_threshold=options.silence_threshold,
            )
        )

    def _next_id(self, kind: str) -> str:
        self._message_count += 1
        return f"{kind}-{self._message_count}"

    # -- keep_alive timer ------------------------------------------------------

    def _send(self, frame: OutFrame) -> None:
        self._sent_since_tick = True
        super()._send(frame)

    def get_timer(self) -> float | None:
        """When the keep_alive clock wants a tick: a quarter interval after the
        last tick while frames are being sent (to date them), else when the
        interval since the last activity runs out; ``None`` when disabled,
        not yet opened, closing or ended."""
        if (
            not self._interval
            or self._last_activity is None
            or self._last_tick is None
            or self.ended
            or self.closing
        ):
            return None
        if self._sent_since_tick:
            return self._last_tick + self._tick
        return self._last_activity + self._interval

    def handle_timer(self, now: float) -> None:
        """Date the frames sent since the last tick to ``now``, or send
        ``keep_alive`` if nothing was sent for ``keep_alive_interval``."""
        if not self._opened or self.ended or self.closing or not self._interval:
            return
        self._last_tick = now
        if self._last_activity is None or self._sent_since_tick:
            self._last_activity = now
        elif now - self._last_activity >= self._interval:
            self._send_json(m.keep_alive(message_id=self._next_id(m.KEEP_ALIVE)))
            self._last_activity = now
        self._sent_since_tick = False

    # -- frames from the server ----------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            self._error(
                "unexpected_binary",
                f"binary frame of {len(frame)} bytes ignored; NextEVI sends only JSON "
                "text frames (audio comes base64 in tts_chunk)",
            )
            return
        message = self._parse_json_object(frame)
        if message is None:
            return
        kind = message.get("type")
        if not isinstance(kind, str):
            self._error("malformed_message", f"message has no string 'type': {frame[:120]!r}")
            return
        handler = self._handlers.get(kind)
        if handler is None:
            self._unknown(message)
            return
        try:
            handler(message)
        except MalformedField as exc:
            self._malformed(kind, exc)

    def _on_connection_metadata(self, message: dict[str, Any]) -> None:
        if self._started:
            self._error("unexpected_message", "connection_metadata received twice; ignored")
            return
        self._started = True
        session_id = m.get_field(message, "connection_id")
        self._emit(
            SessionStarted(
                session_id=session_id if isinstance(session_id, str) else self.connection_id
            )
        )

    def _on_transcription(self, message: dict[str, Any]) -> None:
        text = _str_field(message, "transcript", "") or ""
        final = _flag(message, "is_final")
        confidence = number(m.get_field(message, "confidence"))
        if confidence is not None and not 0.0 <= confidence <= 1.0:
            confidence = None
        metadata = m.get_field(message, "metadata")
        event_type = metadata.get("event_type") if isinstance(metadata, dict) else None
        if event_type == "speech_started":
            self._emit(UserSpeechStarted())
        if text:
            self._emit(UserTranscript(text=text, final=final, confidence=confidence))
        emotions = m.get_field(message, "emotions")
        if emotions is not None:
            self._emotion(emotions, "transcription")
        if event_type == "utterance_end":
            self._emit(UserSpeechStopped())
        if final:
            self._fence = None  # a new user utterance: what follows answers it

    def _on_llm_chunk(self, message: dict[str, Any]) -> None:
        content = _str_field(message, "content", None)
        if content is None:
            raise MalformedField("content", "a string")
        final = _flag(message, "is_final")
        generation_id = _str_field(message, "generation_id", None)
        if generation_id is not None and generation_id in self._interrupted:
            return  # text of an interrupted generation: it will never be spoken
        turn = self._turn
        if (
            turn is None
            or turn.text_final
            or turn.id in self._interrupted
            or (generation_id is not None and turn.generation_id not in (None, generation_id))
        ):
            turn = self._new_turn(generation_id)
        elif turn.generation_id is None:
            turn.generation_id = generation_id
        self._fence = None
        previous = turn.text
        if final and (not previous or content.startswith(previous)):
            turn.text = content  # the full text
        else:
            turn.text = previous + content  # a delta
        turn.text_final = final
        self._emit(
            AgentText(
                text=turn.text, delta=turn.text[len(previous) :], final=final, turn_id=turn.id
            )
        )

    def _new_turn(self, generation_id: str | None) -> _Turn:
        self._turn_count += 1
        turn_id = generation_id if generation_id is not None else f"turn-{self._turn_count}"
        self._turn = _Turn(id=turn_id, generation_id=generation_id)
        return self._turn

    def _on_tts_chunk(self, message: dict[str, Any]) -> None:
        # The hot path: one message per agent audio chunk.
        content = m.get_field(message, "content", "")
        if content is None:
            content = ""
        if not isinstance(content, str):
            raise MalformedField("content", "a string")
        is_last = _flag(message, "is_last")
        if self._fence is not None:
            self._fenced_chunks += 1
            if is_last:
                self._fence = None  # the interrupted turn's stream is over
            return
        turn = self._turn
        if turn is None or turn.audio_done or turn.id in self._interrupted:
            turn = self._new_turn(None)
        if content:
            self._audio(content, turn)
        if is_last:
            turn.audio_done = True
            self._emit(AgentAudioDone(turn_id=turn.id))

    def _audio(self, content: str, turn: _Turn) -> None:
        try:
            raw = base64_data(content)
        except (binascii.Error, ValueError):
            self._error(
                "malformed_audio",
                f"tts_chunk of {turn.id}: content is not valid base64 "
                f"({len(content)} characters); chunk skipped",
            )
            return
        fmt = turn.format
        if raw[:4] == b"RIFF":
            try:
                raw, fmt = parse_wav_bytes(raw)
            except AudioFormatError as exc:
                self._error("malformed_wav", f"tts_chunk of {turn.id}: {exc}; chunk skipped")
                return
            turn.format = fmt
        width = fmt.frame_width
        if len(raw) % width:
            whole = len(raw) - len(raw) % width
            self._error(
                "odd_length_audio",
                f"tts_chunk of {turn.id} has {len(raw)} bytes, not whole {width}-byte "
                f"sample frames of {fmt}; the last {len(raw) - whole} byte(s) were dropped",
            )
            raw = raw[:whole]
        if raw:
            self._emit_audio(raw, fmt, turn.id)

    def _on_emotion_update(self, message: dict[str, Any]) -> None:
        value = m.get_field(message, "top_emotions")
        if value is None:
            value = m.get_field(message, "emotions")
        self._emotion(value, "emotion_update")

    def _emotion(self, value: Any, source: str) -> None:
        scores, problems = normalize_emotions(value)
        if problems:
            self._error(
                "malformed_emotion", f"{source}: skipped emotion entries: {'; '.join(problems)}"
            )
        if scores:
            self._emit(Emotion(scores=scores, source=source))

    def _on_interruption(self, message: dict[str, Any]) -> None:
        turn = self._turn
        turn_id = None if turn is None else turn.id
        if turn_id is not None:
            self._interrupted.add(turn_id)
            self._fence = turn_id
        self._emit(Interruption(turn_id=turn_id))

    def _on_error(self, message: dict[str, Any]) -> None:
        code, text = _error_parts(message)
        self._last_error_code = code
        if code in _HANGUP_CODES:
            self._hangup = text
        self._error(code, text, fatal=code in FATAL_ERROR_CODES)

    def _on_turn_complete(self, message: dict[str, Any]) -> None:
        """Known, and deliberately mapped to nothing (module docstring)."""

    def _on_system_message(self, message: dict[str, Any]) -> None:
        if m.get_field(message, "message_type") == "hangup":
            content = m.get_field(message, "content")
            self._hangup = content if isinstance(content, str) and content else "hangup"
        self._unknown(message)

    def _on_disconnect(self, message: dict[str, Any]) -> None:
        code = m.get_field(message, "code")
        code = code if isinstance(code, int) and not isinstance(code, bool) else None
        reason = m.get_field(message, "reason")
        reason = reason if isinstance(reason, str) and reason else None
        self._end(
            self._end_reason(1000 if code is None else code),
            provider_reason=reason or self._hangup or self._last_error_code,
            close_code=code,
            close=CloseFrame(1000, "websocket.disconnect received"),
        )

    # -- the end -------------------------------------------------------------------

    def _end_reason(self, code: int | None) -> EndReason:
        if self.closing and code in (1000, 1001, 1005, None):
            return "client_closed"
        if code in (4001, 1008):
            return "auth_failed"
        if code is not None and code >= 4000:
            return "error"
        if self._hangup is not None and code in (1000, 1005):
            return "timeout"
        return default_close_reason(code, client_closing=self.closing)

    def _on_closed(self, code: int | None, reason: str) -> None:
        self._end(
            self._end_reason(code),
            provider_reason=reason or self._hangup or self._last_error_code,
            close_code=code,
        )

    # -- commands from the application ------------------------------------------

    def _on_send_audio(self, pcm: bytes) -> None:
        # The hot path (every 20 ms); SendAudio commands come here too.
        if not pcm:
            return
        WIRE_FORMAT.check(pcm, what="send_audio pcm")
        if self.options.audio_input == "binary":
            self._send(pcm)
            return
        self._chunk_count += 1
        self._send_json(
            m.audio_input(
                pcm,
                chunk_id=f"chunk-{self._chunk_count}",
                message_id=self._next_id(m.AUDIO_INPUT),
            )
        )

    def _on_command(self, command: Command) -> None:
        if isinstance(command, SendAudio):
            self._on_send_audio(command.pcm)
        elif isinstance(command, SendText):
            self._send_json(m.text_input(command.text, message_id=self._next_id(m.TEXT_INPUT)))
        elif isinstance(command, Interrupt):
            self._send_json(m.interrupt(message_id=self._next_id(m.INTERRUPT)))
        else:
            # The base class refuses commands whose capability is false
            # (send_tool_result), so this is only reached by a command type
            # added to the core later.
            raise UnsupportedCommandError(
                self.provider, COMMAND_CAPABILITY.get(command.type, command.type), command.type
            )


def _error_parts(message: dict[str, Any]) -> tuple[str, str]:
    """``(code, message)`` of an ``error`` in any of its shapes (module docstring)."""
    data = message.get("data")
    data = data if isinstance(data, dict) else {}
    nested = message.get("error")
    nested_obj = nested if isinstance(nested, dict) else {}
    code_candidates = (
        data.get("code"),
        data.get("error_code"),
        message.get("error_code"),
        message.get("code"),
        nested_obj.get("code"),
    )
    text_candidates = (
        data.get("message"),
        data.get("error_message"),
        message.get("error_message"),
        nested,
        nested_obj.get("message"),
        message.get("message"),
        data.get("error"),
    )
    code = next((c for c in code_candidates if isinstance(c, str) and c), None)
    if code is None:
        code = next(
            (str(c) for c in code_candidates if isinstance(c, int) and not isinstance(c, bool)),
            "nextevi_error",
        )
    text = next((t for t in text_candidates if isinstance(t, str) and t), None)
    if text is None:
        rest = {k: v for k, v in message.items() if k != "type"}
        text = wirejson.dumps_excerpt(rest, 300) if rest else "(no details)"
    return code, text
