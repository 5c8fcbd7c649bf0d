"""The OpenAI Realtime (GA) front (``/v1/realtime``), a sans-I/O server-side codec.

Any client of OpenAI's Realtime API over WebSocket — the ``openai`` SDK's
``client.realtime.connect()``, the Agents SDK, framework plugins, browser
code — points its base URL at the bridge and talks to whichever provider the
bridge fronts. The wire format is the GA one (the ``openai`` SDK's
``types/realtime`` models, ``RealtimeClientEvent`` / ``RealtimeServerEvent``):
JSON text frames, each an object with a ``type`` and an ``event_id``; audio
base64 in ``input_audio_buffer.append`` and ``response.output_audio.delta``.

The connection
--------------
The upgrade request is ``GET /v1/realtime?model=…``. The credential is the
bridge key or a client token, as ``Authorization: Bearer …`` (what the SDK
sends: its ``api_key``), ``?token=…``, or — from browsers, which cannot set
headers on a WebSocket — the subprotocol ``openai-insecure-api-key.<key>``
offered beside ``realtime`` (the route answers ``realtime``, never the key).
``model`` is accepted and echoed in ``session.model``; it chooses nothing (the
provider and its model are the bridge's config string).

On open the front sends ``session.created``. The provider session opens at
once when a client may choose none of the agent options a ``session.update``
could set (``instructions``, ``voice``, ``tools``: see :data:`SESSION_OPTIONS`);
otherwise at the first client event that is not a ``session.update`` (audio,
an item, ``response.create``), or :data:`OPEN_AFTER_UPDATE` seconds after the
last ``session.update`` when nothing else follows. Clients configure in
several updates — LiveKit Agents' plugin sends its audio settings, then its
instructions, then its tools — and every one of them shapes the session.

Client → bridge
---------------
``session.update``
    Audio formats (``audio/pcm`` at 24 kHz, ``audio/pcmu`` / ``audio/pcma`` at
    8 kHz, each direction on its own; changed at any time, the front converts);
    ``instructions``, ``voice``, ``tools`` as agent options where the provider
    has them and the bridge lets clients choose them, before the provider
    session opens; ``audio.input.transcription`` (``null`` stops the
    transcription events); ``turn_detection: null`` where the provider takes
    manual turns. Answered by ``session.updated``; what cannot be applied is
    an ``error`` naming the field (``param``), and the rest still applies.
``input_audio_buffer.append``
    ``SendAudio`` (decoded, expanded from G.711, resampled to the session's
    rate). Not base64, or an odd number of PCM bytes: an ``error``.
``input_audio_buffer.commit``
    ``EndTurn`` where the provider takes manual turns (answered by
    ``input_audio_buffer.committed``), else an ``error``.
``input_audio_buffer.clear``
    An ``error``: the audio already went to the provider as it arrived.
``conversation.item.create``
    A ``function_call_output`` → ``SendToolResult``; a user ``message`` of
    ``input_text`` parts → ``SendText`` where the provider takes text. Both
    answered by ``conversation.item.added`` and ``.done``; anything else, or
    a provider without the capability: an ``error``.
``response.create``
    Accepted after new input (a tool result, user text, a commit, a turn the
    provider detected): the provider answers on its own. Otherwise an
    ``error``: no provider can be made to speak unprompted.
``response.cancel``
    ``Interrupt`` where the provider takes it; the response ends
    ``cancelled`` (``client_cancelled``). No response in progress, or a
    provider without client interrupts: an ``error``.
``conversation.item.truncate``
    ``ReportPlayed(turn, audio_end_ms / 1000)`` for a provider whose codec
    uses played reports, answered by ``conversation.item.truncated``; an
    unknown item or an offset past the audio sent is an ``error``, and so is
    a provider that cannot truncate.

Bridge → client
---------------
=========================  ==================================================
``user_speech_started``    ``input_audio_buffer.speech_started``
``user_speech_stopped``    ``input_audio_buffer.speech_stopped``,
                           ``input_audio_buffer.committed``,
                           ``conversation.item.added`` (the user's item)
``user_transcript``        ``conversation.item.input_audio_transcription.delta``
                           (interim results that extend the previous one) and
                           ``.completed`` (final)
``agent_audio``            the response lifecycle (``response.created``,
                           ``response.output_item.added``,
                           ``conversation.item.added``,
                           ``response.content_part.added``) on a turn's first
                           audio or text, then ``response.output_audio.delta``
``agent_text``             ``response.output_audio_transcript.delta``
``agent_audio_done``       ``response.output_audio.done``,
                           ``response.output_audio_transcript.done``,
                           ``response.content_part.done``,
                           ``response.output_item.done``,
                           ``conversation.item.done``, ``response.done``
                           (``completed``, with the turn's ``usage``)
``tool_call``              a ``function_call`` output item:
                           ``response.output_item.added``,
                           ``response.function_call_arguments.delta`` and
                           ``.done``, ``response.output_item.done``; the
                           response ends (``response.done``) with it
``interruption``           ``input_audio_buffer.speech_started`` (unless the
                           user's speech already started) and the response
                           in progress ends ``cancelled`` (``turn_detected``);
                           its later audio is dropped
``usage``                  the ``usage`` of the turn's ``response.done``
``provider_error``         ``error`` (``server_error``, the provider's code)
``session_resumed``        the response in progress ends ``failed``; an
                           ``error`` if the conversation was not restored
``session_ended``          an ``error`` unless it ended normally, then the
                           close (1000, or 1011 for an error)
=========================  ==================================================

Providers that do not mark the end of a turn's audio (no
``agent_audio_done``) have their responses ended after
:data:`QUIET_GAP` seconds without agent audio (the host keeps that time:
:class:`~voiceadapters_bridge.front.SetTimer`). Providers whose transcripts
come without speech events get ``speech_started`` / ``speech_stopped``
synthesised around the transcript, so clients see the usual user turn.

Errors are the GA ``error`` event: ``{"type": "error", "event_id", "error":
{"type", "code", "message", "param", "event_id"}}``, ``event_id`` inside
naming the client event it answers. Codes: ``invalid_json``,
``invalid_value`` (malformed fields, an unknown event type), the GA
``response_cancel_not_active``, ``input_audio_buffer_commit_empty`` and
``item_truncate_invalid_item_id``, and ``unsupported_by_provider`` for what
the provider behind the bridge cannot do. The connection always survives an
error the front sends about a client event. Before a close other than 1000
(a limit, a provider session that failed) the front sends an ``error``
(``server_error``, ``session_closed``) with the close reason.
"""

from __future__ import annotations

import base64
import binascii
import itertools
import json
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from voiceadapters import wirejson
from voiceadapters.audio import StreamConverter
from voiceadapters.commands import (
    Command,
    EndTurn,
    Interrupt,
    ReportPlayed,
    SendAudio,
    SendText,
    SendToolResult,
)
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentText,
    Event,
    Interruption,
    ProviderError,
    SessionEnded,
    SessionResumed,
    ToolCall,
    Usage,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)
from voiceadapters.fields import base64_data
from voiceadapters.format import AudioFormat
from voiceadapters.frames import Frame
from voiceadapters.turns import TurnFence, TurnMemory

from .front import Front, FrontFacts, OpenSession, SetTimer
from .g711 import alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, ulaw_to_pcm16

__all__ = [
    "PCM_FORMAT",
    "QUIET_GAP",
    "SESSION_OPTIONS",
    "SUBPROTOCOL_KEY_PREFIX",
    "OpenAIRealtimeFront",
]

#: ``audio/pcm``: 16-bit little-endian mono at 24 kHz (the GA's only PCM rate).
PCM_FORMAT = AudioFormat(24000)
#: ``audio/pcmu`` and ``audio/pcma``: G.711 at 8 kHz, one byte a sample.
G711_FORMAT = AudioFormat(8000)
#: The subprotocol browsers put the key in (``openai-insecure-api-key.<key>``).
SUBPROTOCOL_KEY_PREFIX = "openai-insecure-api-key."
#: Seconds without agent audio that end a response, for providers that do
#: not mark the end of a turn (no ``agent_audio_done``).
QUIET_GAP = 0.5
#: How long ``response.done`` waits for the turn's ``usage`` event, which
#: some providers send just after the end of its audio.
USAGE_WAIT = 0.05
#: How long the provider's answer to a ``conversation.item.create`` waits for
#: the client's ``response.create`` (GA: the server answers an item only when
#: asked) before it is sent unasked.
CREATE_WAIT = 1.0
#: How long after a ``session.update`` the provider session waits for
#: another one before it opens, when no other client event opens it first.
OPEN_AFTER_UPDATE = 0.25
#: GA session fields that become agent options, and the option names tried
#: for each (the first the provider has and the bridge lets clients choose).
SESSION_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "instructions": ("instructions", "prompt"),
    "voice": ("voice",),
    "tools": ("tools",),
}

Law = Literal["pcm", "pcmu", "pcma"]
_LAWS: dict[str, Law] = {"audio/pcm": "pcm", "audio/pcmu": "pcmu", "audio/pcma": "pcma"}


def _format_object(law: Law) -> dict[str, Any]:
    if law == "pcm":
        return {"type": "audio/pcm", "rate": PCM_FORMAT.sample_rate}
    return {"type": f"audio/{law}"}


def _rate(law: Law) -> AudioFormat:
    return PCM_FORMAT if law == "pcm" else G711_FORMAT


def _about(message: dict[str, Any]) -> str | None:
    """The client event's own ``event_id``, which an error about it names."""
    about = message.get("event_id")
    return about if isinstance(about, str) else None


class _Problem(Exception):
    """A client event the front cannot carry out: becomes a GA ``error``."""

    def __init__(self, code: str, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.param = param


def _unsupported(message: str, param: str | None = None) -> _Problem:
    return _Problem("unsupported_by_provider", message, param)


@dataclass
class _Response:
    """One response in progress (the GA's unit of an agent turn)."""

    id: str
    turn_id: str | None
    outputs: list[dict[str, Any]] = field(default_factory=list)
    #: The assistant message item of the turn's audio, once it began.
    item_id: str | None = None
    transcript: str = ""
    usage: dict[str, Any] | None = None
    #: The ``metadata`` of the ``response.create`` that asked for it (GA: echoed).
    metadata: dict[str, str] | None = None


class OpenAIRealtimeFront(Front):
    """Serves one OpenAI Realtime (GA) client (see the module docstring)."""

    name: ClassVar[str] = "openai-realtime"
    route: ClassVar[str] = "/v1/realtime"
    audio_format: AudioFormat = PCM_FORMAT
    subprotocols: ClassVar[tuple[str, ...]] = ("realtime",)
    subprotocol_credential_prefix: ClassVar[str | None] = SUBPROTOCOL_KEY_PREFIX

    def __init__(self, facts: FrontFacts) -> None:
        super().__init__(facts)
        caps = facts.capabilities
        self._prefix = secrets.token_hex(6)
        self._counter = itertools.count(1)
        self.session_id = f"sess_{self._prefix}"
        self.model = facts.query.get("model") or "voiceadapters"
        self.opened = False
        self._options: dict[str, str] = {}
        self._applied: dict[str, Any] = {}  # GA field → value applied as an option
        self._in_law: Law = "pcm"
        self._out_law: Law = "pcm"
        self._in_conv: StreamConverter | None = None
        self._out_conv: StreamConverter | None = None
        self._transcription: dict[str, Any] | None = (
            {"model": facts.provider} if caps.user_transcripts else None
        )
        self._vad = True
        # Input audio and the user's items.
        self._in_samples = 0  # client audio received, in samples of its format
        self._in_rate = PCM_FORMAT.sample_rate
        self._speaking: str | None = None  # the user item while speech is on
        self._speech_start_ms = 0
        self._buffer_start_ms = 0  # where the audio since the last commit starts
        self._awaiting_transcript: str | None = None  # committed, no transcript yet
        self._interim = ""
        self._pending_final: str | None = None  # a final transcript before speech_stopped
        self._item_seconds: dict[str, float] = {}
        self._last_item: str | None = None
        self._new_input = False  # since the last response began
        # An item the client added waits for its response.create; the provider's
        # answer, if it comes first, is parked until then (at most CREATE_WAIT).
        self._awaiting_create = False
        self._parked: list[Event] = []
        self._create_metadata: dict[str, str] | None = None
        # Responses.
        self._response: _Response | None = None
        self._held: _Response | None = None  # finished, response.done awaits usage
        self._fenced = TurnFence()
        self._finished = TurnFence()
        self._cancelling = False
        #: assistant item id → (turn id, ms of its audio sent to the client)
        self._items: TurnMemory[tuple[str | None, int]] = TurnMemory(64)
        self._out_bytes = 0  # of the current response's audio, in the client's format
        self._timer_set = False
        # Counters for the log line.
        self.appends = 0
        self.errors_sent = 0
        self.responses = 0

    def summary(self) -> str:
        return (
            f"{self.appends} append(s), {self.responses} response(s), "
            f"{self.errors_sent} error(s) sent, {self.malformed} malformed"
        )

    # -- helpers -------------------------------------------------------------------

    def _id(self, kind: str) -> str:
        return f"{kind}_{self._prefix}{next(self._counter)}"

    def _event(self, kind: str, **fields: Any) -> None:
        self._send(
            json.dumps(
                {"type": kind, "event_id": self._id("event"), **fields}, separators=(",", ":")
            )
        )

    def _error(
        self,
        code: str,
        message: str,
        *,
        param: str | None = None,
        about: str | None = None,
        kind: str = "invalid_request_error",
    ) -> None:
        self.errors_sent += 1
        self._event(
            "error",
            error={
                "type": kind,
                "code": code,
                "message": message,
                "param": param,
                "event_id": about,
            },
        )

    def _session_object(self) -> dict[str, Any]:
        turn_detection: dict[str, Any] | None = None
        if self._vad:
            turn_detection = {
                "type": "server_vad",
                "create_response": True,
                "interrupt_response": self.facts.capabilities.interruption_events,
            }
        session: dict[str, Any] = {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.session_id,
            "model": self.model,
            "output_modalities": ["audio"],
            "tools": self._applied.get("tools", []),
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "prompt": None,
            "expires_at": 0,
            "include": None,
            "audio": {
                "input": {
                    "format": _format_object(self._in_law),
                    "transcription": self._transcription,
                    "noise_reduction": None,
                    "turn_detection": turn_detection,
                },
                "output": {"format": _format_object(self._out_law), "speed": 1.0},
            },
        }
        if "instructions" in self._applied:
            session["instructions"] = self._applied["instructions"]
        if "voice" in self._applied:
            session["audio"]["output"]["voice"] = self._applied["voice"]
        return session

    def _open(self) -> None:
        if self.opened:
            return
        self.opened = True
        self._timer(None)  # the OPEN_AFTER_UPDATE wait, if one is on
        options = {k: v for k, v in self.facts.query.items() if k != "model"}
        options.update(self._options)
        if self._in_law != "pcm" and self._out_law != "pcm":
            # Both ways G.711: the session converts once, to and from 8 kHz.
            self.audio_format = G711_FORMAT
        self._refresh_converters()
        self._act(OpenSession(options=options))

    def _refresh_converters(self) -> None:
        session = self.audio_format
        src_in, dst_out = _rate(self._in_law), _rate(self._out_law)
        self._in_rate = src_in.sample_rate
        self._in_conv = StreamConverter(src_in, session) if src_in != session else None
        self._out_conv = StreamConverter(session, dst_out) if dst_out != session else None

    # -- client → bridge -------------------------------------------------------------

    def connection_opened(self) -> None:
        self._event("session.created", session=self._session_object())
        chosen = {o for names in SESSION_OPTIONS.values() for o in names} & self.facts.options
        if not chosen:
            self._open()

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            self.malformed += 1
            self._error("invalid_value", "Binary frames are not events: send JSON text frames.")
            return
        try:
            message, _ = wirejson.decode(frame)
        except wirejson.MalformedJSON:
            self.malformed += 1
            self._error("invalid_json", "The message is not valid JSON.")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.malformed += 1
            self._error("invalid_value", "The message must be an object with a string 'type'.")
            return
        kind: str = message["type"]
        about = _about(message)
        handler = self._HANDLERS.get(kind)
        if handler is None:
            self.malformed += 1
            self._error("invalid_value", f"Invalid value: '{kind}'.", param="type", about=about)
            return
        if kind != "session.update":
            self._open()
        try:
            handler(self, message)
        except _Problem as problem:
            if problem.code in ("invalid_value", "invalid_json"):
                self.malformed += 1
            self._error(problem.code, problem.message, param=problem.param, about=about)

    def _on_session_update(self, message: dict[str, Any]) -> None:
        session = message.get("session")
        if not isinstance(session, dict):
            raise _Problem("invalid_value", "Missing required parameter: 'session'.", "session")
        if session.get("type", "realtime") != "realtime":
            raise _unsupported(
                "Only realtime sessions are served here (no transcription sessions).",
                "session.type",
            )
        problems: list[_Problem] = []
        self._apply_audio(session.get("audio"), problems)
        modalities = session.get("output_modalities")
        if modalities is not None and modalities != ["audio"]:
            problems.append(
                _unsupported(
                    "The bridge answers in audio (with its transcript): output_modalities "
                    "stays ['audio'].",
                    "session.output_modalities",
                )
            )
        for name, candidates in SESSION_OPTIONS.items():
            if name in session and session[name] is not None:
                self._apply_option(name, candidates, session[name], problems)
        if not self.opened:
            # More updates may follow (module docstring): open when the client
            # sends something else, or after a short quiet.
            self._timer(OPEN_AFTER_UPDATE)
        self._event("session.updated", session=self._session_object())
        for problem in problems:
            self._error(problem.code, problem.message, param=problem.param, about=_about(message))

    def _apply_audio(self, audio: Any, problems: list[_Problem]) -> None:
        if audio is None:
            return
        if not isinstance(audio, dict):
            raise _Problem("invalid_value", "'session.audio' must be an object.", "session.audio")
        for direction in ("input", "output"):
            part = audio.get(direction)
            if part is None:
                continue
            if not isinstance(part, dict):
                raise _Problem(
                    "invalid_value",
                    f"'session.audio.{direction}' must be an object.",
                    f"session.audio.{direction}",
                )
            fmt = part.get("format")
            if fmt is not None:
                law = self._law_of(fmt, f"session.audio.{direction}.format")
                if direction == "input" and law != self._in_law:
                    self._in_law = law
                elif direction == "output" and law != self._out_law:
                    self._out_law = law
                if self.opened:
                    self._refresh_converters()
            if direction == "input":
                self._apply_input(part, problems)
            elif "voice" in part and part["voice"] is not None:
                self._apply_option("voice", SESSION_OPTIONS["voice"], part["voice"], problems)

    def _law_of(self, fmt: Any, param: str) -> Law:
        kind = fmt.get("type") if isinstance(fmt, dict) else None
        law = _LAWS.get(kind) if isinstance(kind, str) else None
        if law is None:
            raise _Problem(
                "invalid_value",
                f"Invalid '{param}': expected audio/pcm, audio/pcmu or audio/pcma.",
                param,
            )
        rate = fmt.get("rate")
        if law == "pcm" and rate not in (None, PCM_FORMAT.sample_rate):
            raise _Problem("invalid_value", "audio/pcm is 24000 Hz only.", f"{param}.rate")
        return law

    def _apply_input(self, part: dict[str, Any], problems: list[_Problem]) -> None:
        caps = self.facts.capabilities
        if "transcription" in part:
            wanted = part["transcription"]
            if wanted is None:
                self._transcription = None
            elif not caps.user_transcripts:
                problems.append(
                    _unsupported(
                        f"The provider behind this bridge ({self.facts.provider}) does not "
                        "transcribe the user.",
                        "session.audio.input.transcription",
                    )
                )
            else:
                # The provider's own speech-to-text transcribes, whatever the model named.
                self._transcription = {"model": self.facts.provider}
        if "turn_detection" in part:
            detection = part["turn_detection"]
            if detection is None:
                if caps.manual_turns:
                    self._vad = False
                    if "turn_detection" in self.facts.options and not self.opened:
                        self._options["turn_detection"] = "none"
                elif self._vad:
                    problems.append(
                        _unsupported(
                            f"The provider behind this bridge ({self.facts.provider}) detects "
                            "the end of the user's turn itself: turn_detection stays server_vad.",
                            "session.audio.input.turn_detection",
                        )
                    )
            elif isinstance(detection, dict) and detection.get("type") in (
                "server_vad",
                "semantic_vad",
            ):
                if not self._vad:
                    if self.opened or "turn_detection" not in self.facts.options:
                        problems.append(
                            _unsupported(
                                "Turn detection cannot be turned back on in this session.",
                                "session.audio.input.turn_detection",
                            )
                        )
                    else:
                        self._vad = True
                        self._options.pop("turn_detection", None)
            else:
                raise _Problem(
                    "invalid_value",
                    "turn_detection is null or an object of type server_vad or semantic_vad.",
                    "session.audio.input.turn_detection",
                )

    def _apply_option(
        self, name: str, candidates: tuple[str, ...], value: Any, problems: list[_Problem]
    ) -> None:
        param = f"session.{name}" if name != "voice" else "session.audio.output.voice"
        if self._applied.get(name) == value:
            return
        if name == "tools":
            if not isinstance(value, list):
                raise _Problem("invalid_value", "'session.tools' must be an array.", param)
            if not value:
                return  # no tools asked for: nothing to refuse
            if not self.facts.capabilities.tool_calls:
                problems.append(
                    _unsupported(
                        f"The provider behind this bridge ({self.facts.provider}) has no tool calls.",
                        param,
                    )
                )
                return
        elif not isinstance(value, str):
            raise _Problem("invalid_value", f"'{param}' must be a string.", param)
        option = next((o for o in candidates if o in self.facts.options), None)
        if option is None:
            problems.append(
                _unsupported(
                    f"This bridge does not let clients set {name} for {self.facts.provider}: "
                    "the agent's is the bridge's own configuration.",
                    param,
                )
            )
            return
        if self.opened:
            problems.append(
                _unsupported(
                    f"{name} can only be set before the provider session opens (in a "
                    "session.update before any other event).",
                    param,
                )
            )
            return
        self._options[option] = (
            json.dumps(value, separators=(",", ":")) if name == "tools" else value
        )
        self._applied[name] = value

    def _on_append(self, message: dict[str, Any]) -> None:
        audio = message.get("audio")
        try:
            if not isinstance(audio, str):
                raise ValueError
            data = base64_data(audio)
        except (binascii.Error, ValueError):
            raise _Problem("invalid_value", "Invalid 'audio': not valid base64.", "audio") from None
        if self._in_law == "pcm":
            if len(data) % 2:
                raise _Problem(
                    "invalid_value",
                    "Invalid 'audio': audio/pcm is 16-bit samples, an even number of bytes.",
                    "audio",
                )
            pcm = data
        else:
            pcm = ulaw_to_pcm16(data) if self._in_law == "pcmu" else alaw_to_pcm16(data)
        if not pcm:
            return
        self.appends += 1
        self._in_samples += len(pcm) // 2
        if self._in_conv is not None:
            pcm = self._in_conv.convert(pcm)
        if pcm:
            self._act(SendAudio(pcm=pcm))

    def _in_ms(self) -> int:
        return self._in_samples * 1000 // self._in_rate

    def _on_commit(self, message: dict[str, Any]) -> None:
        if not self.facts.capabilities.manual_turns:
            raise _unsupported(
                f"The provider behind this bridge ({self.facts.provider}) detects the end of "
                "the user's turn itself: input_audio_buffer.commit is not supported."
            )
        if self._in_ms() - self._buffer_start_ms < 100:
            raise _Problem(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: expected at least 100ms of audio.",
            )
        self._act(EndTurn())
        item = self._speaking or self._id("item")
        self._speaking = None
        self._commit_item(item, self._in_ms())

    def _on_clear(self, message: dict[str, Any]) -> None:
        raise _unsupported(
            "The bridge streams input audio to the provider as it arrives: there is no "
            "uncommitted buffer to clear."
        )

    def _on_item_create(self, message: dict[str, Any]) -> None:
        item = message.get("item")
        if not isinstance(item, dict):
            raise _Problem("invalid_value", "Missing required parameter: 'item'.", "item")
        kind = item.get("type")
        caps = self.facts.capabilities
        item_id = item.get("id") if isinstance(item.get("id"), str) else self._id("item")
        stored: dict[str, Any]
        command: Command
        if kind == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str) or not isinstance(output, str):
                raise _Problem(
                    "invalid_value", "function_call_output needs a call_id and an output.", "item"
                )
            if not caps.tool_calls:
                raise _unsupported(
                    f"The provider behind this bridge ({self.facts.provider}) has no tool calls.",
                    "item.type",
                )
            stored = {
                "id": item_id,
                "object": "realtime.item",
                "type": "function_call_output",
                "status": "completed",
                "call_id": call_id,
                "output": output,
            }
            command = SendToolResult(call_id=call_id, output=output)
        elif kind == "message" and item.get("role") == "user":
            content = item.get("content")
            parts = content if isinstance(content, list) else []
            if not parts or any(
                not isinstance(p, dict)
                or p.get("type") != "input_text"
                or not isinstance(p.get("text"), str)
                for p in parts
            ):
                raise _unsupported(
                    "User messages are taken as input_text parts only (no audio or image items).",
                    "item.content",
                )
            if not caps.text_input:
                raise _unsupported(
                    f"The provider behind this bridge ({self.facts.provider}) takes no user text.",
                    "item",
                )
            text = "\n".join(p["text"] for p in parts)
            stored = {
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            }
            command = SendText(text=text)
        else:
            raise _unsupported(
                f"Items of type {kind!r} (role {item.get('role')!r}) cannot be added through "
                "this bridge: function_call_output and user input_text messages only.",
                "item.type",
            )
        self._event("conversation.item.added", previous_item_id=self._last_item, item=stored)
        self._event("conversation.item.done", previous_item_id=self._last_item, item=stored)
        self._last_item = item_id
        self._new_input = True
        if self._response is None:
            self._awaiting_create = True
        self._act(command)

    def _on_response_create(self, message: dict[str, Any]) -> None:
        params = message.get("response")
        metadata = params.get("metadata") if isinstance(params, dict) else None
        if metadata is not None and not (
            isinstance(metadata, dict)
            and all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
        ):
            raise _Problem(
                "invalid_value",
                "Invalid 'response.metadata': an object of string values.",
                "response.metadata",
            )
        if self._awaiting_create:
            # The answer to the client's item, parked until now, is this response.
            self._create_metadata = metadata
            self._release_parked()
            return
        if self._new_input:
            self._create_metadata = metadata  # for the response the provider begins next
            return
        if self._response is not None:
            return  # the provider answers that input on its own
        raise _unsupported(
            f"The provider behind this bridge ({self.facts.provider}) answers the user's input "
            "on its own: response.create without new input is not supported."
        )

    def _on_response_cancel(self, message: dict[str, Any]) -> None:
        response = self._response
        if response is None:
            raise _Problem(
                "response_cancel_not_active", "Cancellation failed: no active response found."
            )
        if not self.facts.capabilities.client_interrupt:
            raise _unsupported(
                f"The provider behind this bridge ({self.facts.provider}) cannot be "
                "interrupted by the client."
            )
        self._act(Interrupt())
        if response.turn_id is not None:
            self._fenced.add(response.turn_id)
        self._finish(response, "cancelled", "client_cancelled")

    def _on_truncate(self, message: dict[str, Any]) -> None:
        item_id, end = message.get("item_id"), message.get("audio_end_ms")
        index = message.get("content_index", 0)
        if not isinstance(item_id, str) or item_id not in self._items:
            raise _Problem(
                "item_truncate_invalid_item_id",
                f"Item with item_id {item_id!r} not found (an assistant audio item of this "
                "session).",
                "item_id",
            )
        if not isinstance(end, int) or isinstance(end, bool) or end < 0:
            raise _Problem(
                "invalid_value", "audio_end_ms must be a non-negative integer.", "audio_end_ms"
            )
        if not isinstance(index, int) or isinstance(index, bool) or index != 0:
            raise _Problem("invalid_value", "content_index must be 0.", "content_index")
        turn_id, sent_ms = self._items.get(item_id, (None, 0))
        if end > sent_ms:
            raise _Problem(
                "invalid_value",
                f"Audio content of {sent_ms}ms is already shorter than {end}ms.",
                "audio_end_ms",
            )
        if not self.facts.played_reports:
            raise _unsupported(
                f"The provider behind this bridge ({self.facts.provider}) cannot truncate the "
                "agent's memory of a reply."
            )
        self._act(ReportPlayed(turn_id=turn_id, seconds=end / 1000))
        self._event(
            "conversation.item.truncated", item_id=item_id, content_index=index, audio_end_ms=end
        )

    def _on_unsupported_event(self, message: dict[str, Any]) -> None:
        raise _unsupported(f"{message['type']} is not supported by this bridge.")

    _HANDLERS: ClassVar[dict[str, Any]] = {
        "session.update": _on_session_update,
        "input_audio_buffer.append": _on_append,
        "input_audio_buffer.commit": _on_commit,
        "input_audio_buffer.clear": _on_clear,
        "conversation.item.create": _on_item_create,
        "conversation.item.truncate": _on_truncate,
        "conversation.item.retrieve": _on_unsupported_event,
        "conversation.item.delete": _on_unsupported_event,
        "output_audio_buffer.clear": _on_unsupported_event,
        "response.create": _on_response_create,
        "response.cancel": _on_response_cancel,
    }

    def command_refused(self, command: Command, message: str) -> None:
        self._error("unsupported_by_provider", f"{command.type}: {message}")

    def _close(self, code: int, reason: str) -> None:
        if code != 1000 and not self.closed:
            # SDK clients surface events more readily than close reasons.
            self._error("session_closed", reason, kind="server_error")
        super()._close(code, reason)

    # -- the user's turn -----------------------------------------------------------------

    def _speech_started(self) -> None:
        if self._speaking is not None:
            return
        self._speaking = self._id("item")
        self._speech_start_ms = self._in_ms()
        self._interim = ""
        self._event(
            "input_audio_buffer.speech_started",
            audio_start_ms=self._speech_start_ms,
            item_id=self._speaking,
        )

    def _speech_stopped(self) -> None:
        item = self._speaking
        if item is None:
            return
        self._speaking = None
        end = max(self._in_ms(), self._speech_start_ms)
        self._event("input_audio_buffer.speech_stopped", audio_end_ms=end, item_id=item)
        self._commit_item(item, end)
        pending, self._pending_final = self._pending_final, None
        if pending is not None:
            self._completed(item, pending)

    def _commit_item(self, item: str, end_ms: int) -> None:
        start = max(self._speech_start_ms, self._buffer_start_ms)
        self._item_seconds[item] = max(0, end_ms - start) / 1000
        self._buffer_start_ms = end_ms
        if len(self._item_seconds) > 64:
            self._item_seconds.pop(next(iter(self._item_seconds)))
        self._event("input_audio_buffer.committed", previous_item_id=self._last_item, item_id=item)
        self._event(
            "conversation.item.added",
            previous_item_id=self._last_item,
            item={
                "id": item,
                "object": "realtime.item",
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_audio", "transcript": None}],
            },
        )
        self._last_item = item
        self._awaiting_transcript = item
        self._new_input = True

    def _on_transcript(self, event: UserTranscript) -> None:
        emulate = not self.facts.capabilities.speech_events
        if emulate and self._speaking is None and self._awaiting_transcript is None:
            if self._response is not None:
                return  # the provider transcribes its barge-in audio; no speech events to hang it on
            self._speech_started()
        item = self._speaking or self._awaiting_transcript
        if item is None:
            return
        if not event.final:
            if self._transcription is not None and event.text.startswith(self._interim):
                delta = event.text[len(self._interim) :]
                if delta:
                    self._event(
                        "conversation.item.input_audio_transcription.delta",
                        item_id=item,
                        content_index=0,
                        delta=delta,
                    )
            self._interim = event.text
            return
        self._interim = ""
        if self._speaking is not None:
            if not emulate:
                # Transcribed before the provider's speech_stopped: sent after the commit.
                self._pending_final = event.text
                return
            self._speech_stopped()
            item = self._awaiting_transcript or item
        self._completed(item, event.text)

    def _completed(self, item: str, text: str) -> None:
        if self._transcription is not None:
            self._event(
                "conversation.item.input_audio_transcription.completed",
                item_id=item,
                content_index=0,
                transcript=text,
                usage={"type": "duration", "seconds": self._item_seconds.get(item, 0.0)},
            )
        if self._awaiting_transcript == item:
            self._awaiting_transcript = None

    # -- responses ---------------------------------------------------------------------------

    def _response_object(
        self, response: _Response, status: str, reason: str | None = None
    ) -> dict[str, Any]:
        details: dict[str, Any] | None = None
        if status == "cancelled":
            details = {"type": "cancelled", "reason": reason}
        elif status == "failed":
            details = {
                "type": "failed",
                "error": {"type": "server_error", "code": reason, "message": None},
            }
        elif status == "completed":
            details = {"type": "completed"}
        obj: dict[str, Any] = {
            "object": "realtime.response",
            "id": response.id,
            "status": status,
            "status_details": details,
            "output": list(response.outputs),
            "conversation_id": f"conv_{self._prefix}",
            "output_modalities": ["audio"],
            "max_output_tokens": "inf",
            "audio": {"output": {"format": _format_object(self._out_law)}},
            "usage": response.usage,
            "metadata": dict(response.metadata) if response.metadata is not None else None,
        }
        if "voice" in self._applied:
            obj["audio"]["output"]["voice"] = self._applied["voice"]
        return obj

    def _begin(self, turn_id: str | None) -> _Response:
        """The response of ``turn_id``: the one in progress, or a new one."""
        response = self._response
        if response is not None and (turn_id is None or response.turn_id in (None, turn_id)):
            if response.turn_id is None:
                response.turn_id = turn_id
            return response
        if response is not None:
            # The provider moved to another turn without ending this one.
            self._finish(response, "completed")
        if self._speaking is not None:
            # The agent answers: the user's turn is over (a provider without speech_stopped).
            self._speech_stopped()
        response = _Response(id=self._id("resp"), turn_id=turn_id, metadata=self._create_metadata)
        self._create_metadata = None
        self._response = response
        self._new_input = False
        self._out_bytes = 0
        self.responses += 1
        self._event("response.created", response=self._response_object(response, "in_progress"))
        return response

    def _audio_item(self, response: _Response) -> str:
        if response.item_id is None:
            response.item_id = self._id("item")
            item = self._message_item(response, "in_progress")
            self._event(
                "response.output_item.added",
                response_id=response.id,
                output_index=len(response.outputs),
                item=item,
            )
            self._event("conversation.item.added", previous_item_id=self._last_item, item=item)
            self._last_item = response.item_id
            self._event(
                "response.content_part.added",
                **self._refs(response),
                part={"type": "audio", "transcript": ""},
            )
            self._items.set(response.item_id, (response.turn_id, 0))
        return response.item_id

    def _message_item(self, response: _Response, status: str) -> dict[str, Any]:
        content: list[dict[str, Any]] = []
        if status != "in_progress":
            content = [{"type": "output_audio", "transcript": response.transcript}]
        return {
            "id": response.item_id,
            "object": "realtime.item",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def _refs(self, response: _Response) -> dict[str, Any]:
        return {
            "response_id": response.id,
            "item_id": response.item_id,
            "output_index": len(response.outputs),
            "content_index": 0,
        }

    def _close_audio_item(self, response: _Response, status: str) -> None:
        if response.item_id is None:
            return
        refs = self._refs(response)
        self._event("response.output_audio.done", **refs)
        self._event("response.output_audio_transcript.done", **refs, transcript=response.transcript)
        self._event(
            "response.content_part.done",
            **refs,
            part={"type": "audio", "transcript": response.transcript},
        )
        item = self._message_item(response, status)
        self._event(
            "response.output_item.done",
            response_id=response.id,
            output_index=len(response.outputs),
            item=item,
        )
        self._event("conversation.item.done", previous_item_id=None, item=item)
        response.outputs.append(item)
        response.item_id = None

    def _finish(
        self,
        response: _Response,
        status: str,
        reason: str | None = None,
        *,
        wait_for_usage: bool = False,
    ) -> None:
        if self._response is not response:
            return
        self._response = None
        self._close_audio_item(response, "completed" if status == "completed" else "incomplete")
        if self._out_conv is not None:
            self._out_conv.clear()
        if wait_for_usage and response.usage is None:
            self._held = response
            self._timer(USAGE_WAIT)
            return
        self._event("response.done", response=self._response_object(response, status, reason))
        self._timer(None)

    def _flush_held(self) -> None:
        held, self._held = self._held, None
        if held is not None:
            self._event("response.done", response=self._response_object(held, "completed"))

    def _timer(self, delay: float | None) -> None:
        if delay is None and not self._timer_set:
            return
        self._timer_set = delay is not None
        self._act(SetTimer(delay))

    def _on_timer(self) -> None:
        self._timer_set = False
        if not self.opened:
            self._open()  # OPEN_AFTER_UPDATE passed with no other update
        elif self._parked:
            self._release_parked()  # no response.create came: the answer goes unasked
        elif self._held is not None:
            self._flush_held()
        elif self._response is not None and not self.facts.capabilities.agent_audio_done:
            self._finish(self._response, "completed")

    # -- provider → client -------------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if self._awaiting_create:
            if isinstance(event, SessionEnded):
                self._release_parked()
            elif not (isinstance(event, Usage) and self._held is not None):
                if self._held is not None:
                    self._flush_held()
                if not self._parked:
                    self._timer(CREATE_WAIT)
                self._parked.append(event)
                return
        if isinstance(event, Usage):
            self._on_usage(event)
            return
        if self._held is not None:
            self._flush_held()
        if isinstance(event, AgentAudio):
            self._on_audio(event)
        elif isinstance(event, AgentText):
            self._on_text(event)
        elif isinstance(event, AgentAudioDone):
            response = self._response
            if event.turn_id is not None:
                self._finished.add(event.turn_id)
            if response is not None and event.turn_id in (None, response.turn_id):
                self._finish(response, "completed", wait_for_usage=True)
        elif isinstance(event, UserSpeechStarted):
            self._speech_started()
        elif isinstance(event, UserSpeechStopped):
            self._speech_stopped()
        elif isinstance(event, UserTranscript):
            self._on_transcript(event)
        elif isinstance(event, ToolCall):
            self._on_tool_call(event)
        elif isinstance(event, Interruption):
            self._on_interruption(event)
        elif isinstance(event, ProviderError):
            self._error(event.code, event.message, kind="server_error")
        elif isinstance(event, SessionResumed):
            if self._response is not None:
                self._finish(self._response, "failed", event.cause)
            if not event.state_restored:
                self._error(
                    "session_resumed",
                    "The provider connection was re-established; the conversation starts afresh.",
                    kind="server_error",
                )
        elif isinstance(event, SessionEnded):
            self._on_ended(event)

    def _release_parked(self) -> None:
        self._awaiting_create = False
        parked, self._parked = self._parked, []
        if parked:
            self._timer(None)
        for event in parked:
            self._on_event(event)

    def _on_audio(self, event: AgentAudio) -> None:
        turn = event.turn_id
        if turn is not None and (turn in self._fenced or turn in self._finished):
            return
        response = self._begin(turn)
        self._audio_item(response)
        pcm = event.pcm
        if self._out_conv is not None:
            pcm = self._out_conv.convert(pcm)
        if self._out_law == "pcmu":
            data = pcm16_to_ulaw(pcm)
        elif self._out_law == "pcma":
            data = pcm16_to_alaw(pcm)
        else:
            data = pcm
        if data:
            self._out_bytes += len(data)
            width = 2 if self._out_law == "pcm" else 1
            sent_ms = self._out_bytes * 1000 // (_rate(self._out_law).sample_rate * width)
            assert response.item_id is not None
            self._items.set(response.item_id, (response.turn_id, sent_ms))
            self._event(
                "response.output_audio.delta",
                **self._refs(response),
                delta=base64.b64encode(data).decode("ascii"),
            )
        if not self.facts.capabilities.agent_audio_done:
            self._timer(QUIET_GAP)

    def _on_text(self, event: AgentText) -> None:
        turn = event.turn_id
        if turn is not None and (turn in self._fenced or turn in self._finished):
            return
        if not event.delta and self._response is None:
            return
        response = self._begin(turn)
        self._audio_item(response)
        if event.delta:
            response.transcript += event.delta
            self._event(
                "response.output_audio_transcript.delta", **self._refs(response), delta=event.delta
            )
        if event.final:
            response.transcript = event.text

    def _on_usage(self, event: Usage) -> None:
        usage = {
            k: v
            for k, v in (
                ("total_tokens", event.total_tokens),
                ("input_tokens", event.input_tokens),
                ("output_tokens", event.output_tokens),
            )
            if v is not None
        }
        held = self._held
        if held is not None and event.turn_id in (None, held.turn_id):
            held.usage = usage
            self._flush_held()
            self._timer(None)
        elif self._response is not None and event.turn_id in (None, self._response.turn_id):
            self._response.usage = usage

    def _on_tool_call(self, event: ToolCall) -> None:
        response = self._response
        if response is None:
            response = self._begin(None)
        self._close_audio_item(response, "completed")
        arguments = json.dumps(event.arguments, separators=(",", ":"))
        item_id = self._id("item")
        index = len(response.outputs)
        item = {
            "id": item_id,
            "object": "realtime.item",
            "type": "function_call",
            "status": "in_progress",
            "call_id": event.call_id,
            "name": event.name,
            "arguments": "",
        }
        self._event(
            "response.output_item.added", response_id=response.id, output_index=index, item=item
        )
        self._event("conversation.item.added", previous_item_id=self._last_item, item=item)
        self._last_item = item_id
        refs = {"response_id": response.id, "item_id": item_id, "output_index": index}
        self._event(
            "response.function_call_arguments.delta",
            **refs,
            call_id=event.call_id,
            delta=arguments,
        )
        self._event(
            "response.function_call_arguments.done",
            **refs,
            call_id=event.call_id,
            name=event.name,
            arguments=arguments,
        )
        done = {**item, "status": "completed", "arguments": arguments}
        self._event(
            "response.output_item.done", response_id=response.id, output_index=index, item=done
        )
        self._event("conversation.item.done", previous_item_id=None, item=done)
        response.outputs.append(done)
        # The agent waits for the result: this response is over.
        self._finish(response, "completed")

    def _on_interruption(self, event: Interruption) -> None:
        if event.turn_id is not None:
            self._fenced.add(event.turn_id)
        self._speech_started()
        response = self._response
        if response is not None and (
            event.turn_id is None or response.turn_id in (None, event.turn_id)
        ):
            self._finish(response, "cancelled", "turn_detected")

    def _on_ended(self, event: SessionEnded) -> None:
        if self._response is not None:
            status = "completed" if event.reason == "completed" else "failed"
            self._finish(self._response, status, None if status == "completed" else event.reason)
        normal = event.reason in ("completed", "client_closed")
        if not normal:
            detail = f" ({event.provider_reason})" if event.provider_reason else ""
            self._error(
                event.provider_reason or event.reason,
                f"The provider session ended: {event.reason}{detail}.",
                kind="server_error",
            )
        self._close(
            1000 if normal or event.reason == "timeout" else 1011, f"session ended: {event.reason}"
        )
