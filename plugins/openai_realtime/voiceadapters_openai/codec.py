"""The OpenAI Realtime (GA) client codec, for OpenAI, Azure and compatible servers.

Pure, like every codec (:mod:`voiceadapters.codec`): no I/O, no clock. The
contract is the ``openai`` SDK's GA types (``openai/types/realtime/``); the
plugin's tests validate every client message this codec sends against the
SDK's client-event models.

Handshake
---------
One step: the WebSocket (``…/realtime?model=…``, or Azure's
``…/openai/realtime?api-version=…&deployment=…``) with ``Authorization:
Bearer <key>`` (Azure: ``api-key: <key>``), no ``OpenAI-Beta`` header (the GA
client sends none). On open the codec sends one ``session.update``
(``session.type = "realtime"``, the audio formats, voice, turn detection,
transcription, tools… from the options); the server's ``session.created``
starts the session.

Server events → normalized events
---------------------------------
========================================================  ==========================================
``session.created``                                       ``session_started(session_id=session.id)``
``input_audio_buffer.speech_started``                     ``user_speech_started`` (and a barge-in,
                                                          below)
``input_audio_buffer.speech_stopped``                     ``user_speech_stopped``
``conversation.item.input_audio_transcription.delta``     ``user_transcript(final=False)``, the text
                                                          so far of the item
``…input_audio_transcription.completed``                  ``user_transcript(final=True)``
``…input_audio_transcription.failed``                     ``provider_error`` (non-fatal)
``response.output_audio.delta``                           ``agent_audio`` (turn = response id)
``response.output_audio_transcript.delta`` / ``.done``,   ``agent_text`` (``final`` on ``.done``)
``response.output_text.delta`` / ``.done``
``response.function_call_arguments.done``, or             ``tool_call`` (once per ``call_id``)
``response.output_item.done`` of a ``function_call``
``response.done``                                         ``agent_audio_done`` (if the response had
                                                          audio and was not interrupted), ``usage``
``error``                                                 ``provider_error(code, message)``;
                                                          ``session_expired`` is fatal (below)
other GA events (``session.updated``, ``conversation.*``, nothing
``content_part.*``, ``rate_limits.updated``…)
anything else                                             ``unknown_message``
========================================================  ==========================================

Beta-era names are accepted as their GA names: ``response.audio.delta``,
``response.audio_transcript.delta``, ``response.text.delta`` and their
``.done`` (:data:`~voiceadapters_openai.messages.BETA_ALIASES`).

Barge-in and truncation
-----------------------
The turn of an ``agent_audio`` is its response id. When the user starts
speaking (``speech_started``) while a response's audio is arriving — or after
it arrived, while the application reports it is still playing it
(:meth:`voiceadapters.Session.report_played`) — the codec emits
``interruption`` for that turn, drops the turn's later audio, and sends
``conversation.item.truncate`` for the assistant item at the offset the
application last reported, **clamped to the audio received** (in whole ms,
rounded down), so ``audio_end_ms`` is never past what the server sent. With
nothing reported, or 0 ms, it sends no truncate (the server rejects 0 and
offsets past the audio). ``interrupt()`` does the same and also sends
``response.cancel`` while a response is in progress. A report that arrives
after the barge-in, for the interrupted turn not truncated yet (a client that
stops playback when it learns of the interruption), truncates it then.

Commands
--------
``send_audio`` → ``input_audio_buffer.append`` (base64; G.711 compressed for
``pcmu``/``pcma``); ``send_text`` → ``conversation.item.create`` (a user
``input_text`` message) + ``response.create``; ``send_tool_result`` →
``conversation.item.create`` (``function_call_output``) + ``response.create``;
``interrupt`` → ``response.cancel`` + truncate (above); ``end_turn`` →
``input_audio_buffer.commit`` + ``response.create`` (for
``turn_detection=none``).

The session cap
---------------
At 60 minutes the server sends ``error`` with code ``session_expired``: a
fatal ``provider_error``, then ``session_ended(reason="timeout",
provider_reason="session_expired")``, and :attr:`RealtimeCodec.resumable` is
true so the session continues on a new connection (it normally rolls over
before, :attr:`voiceadapters.provider.Provider.max_session_seconds`).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voiceadapters.codec import Codec
from voiceadapters.commands import (
    COMMAND_CAPABILITY,
    Command,
    EndTurn,
    Interrupt,
    ReportPlayed,
    SendAudio,
    SendText,
    SendToolResult,
)
from voiceadapters.config import ProviderConfig
from voiceadapters.errors import ConfigError, UnsupportedCommandError
from voiceadapters.events import (
    AgentAudioDone,
    AgentText,
    Interruption,
    SessionStarted,
    ToolCall,
    Usage,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)
from voiceadapters.fields import MalformedField, base64_data
from voiceadapters.handshake import Frame, WebSocketRequest
from voiceadapters.secrets import Secret
from voiceadapters.turns import TurnFence, TurnMemory

from . import g711
from . import messages as m
from .provider import AUDIO_FORMATS, OpenAIRealtimeOptions, RealtimeProvider

__all__ = ["RealtimeCodec", "session_config"]

#: Keepalive: protocol pings (the SDK's websockets defaults: 20 s / 20 s).
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0
#: Tool call ids remembered to emit each call once.
_CALL_MEMORY = 64


def session_config(options: OpenAIRealtimeOptions) -> dict[str, Any]:
    """The ``session`` object of the GA ``session.update`` for ``options``
    (``RealtimeSessionCreateRequest``); unset options are left out."""
    audio_format = AUDIO_FORMATS[options.audio_format]
    audio_in: dict[str, Any] = {"format": dict(audio_format)}
    if options.transcription_model is not None:
        transcription: dict[str, Any] = {"model": options.transcription_model}
        if options.transcription_language:
            transcription["language"] = options.transcription_language
        audio_in["transcription"] = transcription
    if options.turn_detection == "none":
        audio_in["turn_detection"] = None
    else:
        detection: dict[str, Any] = {"type": options.turn_detection}
        if options.turn_detection == "server_vad":
            for name, value in (
                ("threshold", options.vad_threshold),
                ("silence_duration_ms", options.silence_duration_ms),
                ("prefix_padding_ms", options.prefix_padding_ms),
            ):
                if value is not None:
                    detection[name] = value
        elif options.eagerness is not None:
            detection["eagerness"] = options.eagerness
        if options.interrupt_response is not None:
            detection["interrupt_response"] = options.interrupt_response
        audio_in["turn_detection"] = detection
    audio_out: dict[str, Any] = {"format": dict(audio_format)}
    if options.voice:
        audio_out["voice"] = options.voice
    session: dict[str, Any] = {
        "type": "realtime",
        "output_modalities": list(options.modalities),
        "audio": {"input": audio_in, "output": audio_out},
    }
    if options.instructions is not None:
        session["instructions"] = options.instructions
    if options.tools:
        session["tools"] = [{"type": "function", **tool} for tool in options.tools]
    if options.tool_choice is not None:
        session["tool_choice"] = options.tool_choice
    if options.temperature is not None:
        session["temperature"] = options.temperature  # beta-era field (provider docstring)
    return session


@dataclass
class _AudioItem:
    """The assistant audio of one response: what truncation needs."""

    response_id: str
    item_id: str
    content_index: int
    samples: int = 0
    truncated: bool = False


class RealtimeCodec(Codec):
    """Client side of one OpenAI Realtime session; see the module docstring.

    Raises :class:`~voiceadapters.errors.ConfigError` at construction for a
    missing key (where the provider requires one), an Azure config without
    ``deployment`` or resource host.
    """

    def __init__(self, config: ProviderConfig, provider: RealtimeProvider) -> None:
        self._spec = provider
        super().__init__(provider)
        self.config = config
        self.options = config.options_as(OpenAIRealtimeOptions)
        if provider.key_required:
            self._key: Secret | None = config.require_api_key(provider.api_key_env)
        else:
            self._key = config.api_key
        if provider.url_style == "azure":
            if not self.options.deployment:
                raise ConfigError(f"{provider.name}: the deployment option is required")
            if not config.host:
                raise ConfigError(
                    f"{provider.name}: give the resource host "
                    f"({provider.name}://RESOURCE.openai.azure.com?deployment=…)"
                )
        fmt = self.options.wire_format
        self.wire_input = fmt
        self.wire_output = fmt
        self._law: g711.Law | None = (
            None if self.options.audio_format == "pcm" else self.options.audio_format
        )
        self._opened = False
        self._started = False
        self._expired = False
        # The response in progress (response.created … response.done).
        self._response: str | None = None
        # Assistant audio item of each recent response, and the last one with audio.
        self._items: TurnMemory[_AudioItem | None] = TurnMemory()
        self._last_audio: _AudioItem | None = None
        self._fenced = TurnFence()
        self._texts: TurnMemory[str] = TurnMemory()  # response id → agent text so far
        self._transcripts: TurnMemory[str] = TurnMemory()  # user item id → text so far
        self._played: TurnMemory[float] = TurnMemory()  # response id → seconds played
        self._calls: TurnMemory[None] = TurnMemory(_CALL_MEMORY)
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            m.AUDIO_DELTA: self._on_audio_delta,
            m.AUDIO_TRANSCRIPT_DELTA: self._on_text_delta,
            m.TEXT_DELTA: self._on_text_delta,
            m.AUDIO_TRANSCRIPT_DONE: self._on_transcript_done,
            m.TEXT_DONE: self._on_text_done,
            m.SPEECH_STARTED: self._on_speech_started,
            m.SPEECH_STOPPED: self._on_speech_stopped,
            m.TRANSCRIPTION_DELTA: self._on_transcription_delta,
            m.TRANSCRIPTION_COMPLETED: self._on_transcription_completed,
            m.TRANSCRIPTION_FAILED: self._on_transcription_failed,
            m.RESPONSE_CREATED: self._on_response_created,
            m.RESPONSE_DONE: self._on_response_done,
            m.OUTPUT_ITEM_ADDED: self._on_output_item_added,
            m.OUTPUT_ITEM_DONE: self._on_output_item_done,
            m.ARGUMENTS_DONE: self._on_arguments_done,
            m.SESSION_CREATED: self._on_session_created,
            m.ERROR: self._on_error,
        }

    def __repr__(self) -> str:
        state = "ended" if self.ended else "open" if self._opened else "handshake"
        return f"<RealtimeCodec {self.config.to_string()!r} {state}>"

    # -- handshake -------------------------------------------------------------

    @property
    def url(self) -> str:
        """The WebSocket URL without its query."""
        return f"{self.config.ws_base}/realtime"

    def handshake_step(self) -> WebSocketRequest | None:
        if self._opened:
            return None
        headers: tuple[tuple[str, str | Secret], ...] = ()
        if self._spec.url_style == "azure":
            query: tuple[tuple[str, str | Secret], ...] = (
                ("api-version", self.options.api_version),
                ("deployment", self.options.deployment or ""),
            )
        else:
            query = (("model", self.options.model),)
        if self._key is not None:
            if self._spec.auth == "api-key":
                headers = (("api-key", self._key),)
            else:
                headers = (("Authorization", Secret("Bearer " + self._key.reveal())),)
        return WebSocketRequest(
            url=self.url,
            query=query,
            headers=headers,
            open_timeout=self.options.timeout,
            first_message_timeout=self.options.timeout,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
        )

    def connection_opened(self) -> None:
        """Send the ``session.update`` of the options (module docstring)."""
        self._opened = True
        self._send_json({"type": m.SESSION_UPDATE, "session": session_config(self.options)})

    @property
    def resumable(self) -> bool:
        """Also true after the session cap (``session_expired``): a new
        connection continues the call, with a fresh conversation."""
        return (self._expired and not self.closing) or super().resumable

    # -- server events -----------------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        message = self._parse_json_object(frame)
        if message is None:
            return
        kind = message.get("type")
        if not isinstance(kind, str):
            self._error("malformed_message", "event has no string 'type'")
            return
        kind = m.BETA_ALIASES.get(kind, kind)
        handler = self._handlers.get(kind)
        if handler is None:
            if kind not in m.IGNORED_SERVER_EVENTS:
                self._unknown(message)
            return
        try:
            handler(message)
        except MalformedField as exc:
            self._malformed(kind, exc)

    def _on_session_created(self, message: dict[str, Any]) -> None:
        if self._started:
            self._error("unexpected_message", "session.created received twice; ignored")
            return
        self._started = True
        session = message.get("session")
        session_id = session.get("id") if isinstance(session, dict) else None
        self._emit(SessionStarted(session_id=session_id if isinstance(session_id, str) else None))

    def _on_error(self, message: dict[str, Any]) -> None:
        error = message.get("error")
        if not isinstance(error, dict):
            raise MalformedField("error", "an object")
        code = error.get("code") if isinstance(error.get("code"), str) else None
        kind = error.get("type") if isinstance(error.get("type"), str) else None
        text = error.get("message") if isinstance(error.get("message"), str) else ""
        code = code or kind or "error"
        if code == "session_expired":
            self._expired = True
            self._error(code, text or "the session reached its maximum duration", fatal=True)
            self._end("timeout", provider_reason=code)
            return
        self._error(code, text or "(no message)")

    def _on_speech_started(self, message: dict[str, Any]) -> None:
        self._barge_in(cancel=False)
        self._emit(UserSpeechStarted())

    def _on_speech_stopped(self, message: dict[str, Any]) -> None:
        self._emit(UserSpeechStopped())

    def _on_transcription_delta(self, message: dict[str, Any]) -> None:
        item_id = _string(message, "item_id")
        delta = message.get("delta") or ""
        if not isinstance(delta, str):
            raise MalformedField("delta", "a string")
        text = self._transcripts.get(item_id, "") + delta
        self._transcripts.set(item_id, text)
        self._emit(UserTranscript(text=text, final=False, turn_id=item_id))

    def _on_transcription_completed(self, message: dict[str, Any]) -> None:
        item_id = _string(message, "item_id")
        transcript = _string(message, "transcript")
        self._transcripts.pop(item_id, "")
        self._emit(UserTranscript(text=transcript, final=True, turn_id=item_id))

    def _on_transcription_failed(self, message: dict[str, Any]) -> None:
        error = message.get("error")
        error = error if isinstance(error, dict) else {}
        code = error.get("code") if isinstance(error.get("code"), str) else None
        text = error.get("message") if isinstance(error.get("message"), str) else ""
        self._error(code or "transcription_failed", text or "input audio transcription failed")

    def _on_response_created(self, message: dict[str, Any]) -> None:
        response = message.get("response")
        response_id = response.get("id") if isinstance(response, dict) else None
        if not isinstance(response_id, str):
            raise MalformedField("response.id", "a string")
        self._response = response_id

    def _on_output_item_added(self, message: dict[str, Any]) -> None:
        response_id = _string(message, "response_id")
        item = message.get("item")
        if not isinstance(item, dict):
            raise MalformedField("item", "an object")
        if item.get("type") == "message" and isinstance(item.get("id"), str):
            self._audio_item(response_id, item["id"], 0)

    def _audio_item(self, response_id: str, item_id: str, content_index: int) -> _AudioItem:
        item = self._items.get(response_id, None)
        if item is None or (item_id and item.item_id != item_id):
            item = _AudioItem(response_id, item_id, content_index)
            self._items.set(response_id, item)
        return item

    def _on_audio_delta(self, message: dict[str, Any]) -> None:
        # The hot path: one event per agent audio chunk.
        response_id = _string(message, "response_id")
        delta = _string(message, "delta")
        if response_id in self._fenced:
            return  # interrupted: its audio must not play
        try:
            data = base64_data(delta)
        except (binascii.Error, ValueError):
            self._error(
                "malformed_audio",
                f"{m.AUDIO_DELTA} of response {response_id!r}: delta is not valid base64 "
                f"({len(delta)} characters); chunk skipped",
            )
            return
        if self._law is not None:
            pcm = g711.expand(data, self._law)
        else:
            pcm = data
            if len(pcm) & 1:
                self._error(
                    "odd_length_audio",
                    f"{m.AUDIO_DELTA} of response {response_id!r} has {len(pcm)} bytes, not "
                    "whole 16-bit samples; the last byte was dropped",
                )
                pcm = pcm[:-1]
        if not pcm:
            return
        item_id = message.get("item_id")
        content_index = message.get("content_index")
        item = self._audio_item(
            response_id,
            item_id if isinstance(item_id, str) else "",
            content_index if isinstance(content_index, int) else 0,
        )
        item.samples += len(pcm) // 2
        self._last_audio = item
        self._emit_audio(pcm, self.wire_output, response_id)

    def _on_text_delta(self, message: dict[str, Any]) -> None:
        response_id = _string(message, "response_id")
        delta = _string(message, "delta")
        text = self._texts.get(response_id, "") + delta
        self._texts.set(response_id, text)
        self._emit(AgentText(text=text, delta=delta, final=False, turn_id=response_id))

    def _on_transcript_done(self, message: dict[str, Any]) -> None:
        self._text_done(message, "transcript")

    def _on_text_done(self, message: dict[str, Any]) -> None:
        self._text_done(message, "text")

    def _text_done(self, message: dict[str, Any], field: str) -> None:
        response_id = _string(message, "response_id")
        text = _string(message, field)
        previous = self._texts.pop(response_id, "")
        delta = text[len(previous) :] if text.startswith(previous) else text
        self._emit(AgentText(text=text, delta=delta, final=True, turn_id=response_id))

    def _on_arguments_done(self, message: dict[str, Any]) -> None:
        self._tool_call(
            _string(message, "call_id"), _string(message, "name"), _string(message, "arguments")
        )

    def _on_output_item_done(self, message: dict[str, Any]) -> None:
        item = message.get("item")
        if not isinstance(item, dict) or item.get("type") != "function_call":
            return
        if item.get("status") not in (None, "completed"):
            return
        self._tool_call(_string(item, "call_id"), _string(item, "name"), _string(item, "arguments"))

    def _tool_call(self, call_id: str, name: str, arguments: str) -> None:
        if call_id in self._calls:
            return  # already delivered (arguments.done, then output_item.done)
        self._calls.set(call_id, None)
        try:
            parsed = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            parsed = None
        if not isinstance(parsed, dict):
            self._error(
                "malformed_tool_arguments",
                f"tool call {call_id!r} ({name}): arguments are not a JSON object; "
                "delivered with no arguments",
            )
            parsed = {}
        self._emit(ToolCall(call_id=call_id, name=name, arguments=parsed))

    def _on_response_done(self, message: dict[str, Any]) -> None:
        response = message.get("response")
        if not isinstance(response, dict) or not isinstance(response.get("id"), str):
            raise MalformedField("response.id", "a string")
        response_id: str = response["id"]
        if self._response == response_id:
            self._response = None
        item = self._items.get(response_id, None)
        if item is not None and item.samples and response_id not in self._fenced:
            self._emit(AgentAudioDone(turn_id=response_id))
        usage = response.get("usage")
        if isinstance(usage, dict):
            self._emit(_usage(response_id, usage))

    # -- barge-in and truncation ---------------------------------------------------

    def _barge_in(self, *, cancel: bool) -> None:
        """The user talks over the agent (``cancel=False``) or the application
        interrupts (``cancel=True``): stop the turn whose audio is arriving or
        still playing, and truncate it to what was played (module docstring)."""
        active = self._response
        if cancel and active is not None:
            self._send_json({"type": m.RESPONSE_CANCEL, "response_id": active})
        item = self._last_audio
        target: _AudioItem | None = None
        if item is not None and item.response_id not in self._fenced:
            played = self._played.get(item.response_id, -1.0)
            heard_all = played >= item.samples / self.wire_output.sample_rate
            if item.response_id == active or (played >= 0 and not heard_all):
                target = item
        if target is not None:
            self._fenced.add(target.response_id)
            self._truncate(target, self._played.get(target.response_id, 0.0))
            self._emit(Interruption(turn_id=target.response_id))
        if cancel and active is not None and active not in self._fenced:
            # A response with no audio yet (or after the one still playing).
            self._fenced.add(active)
            self._emit(Interruption(turn_id=active))

    def _truncate(self, item: _AudioItem, played: float) -> None:
        if item.truncated or played <= 0 or not item.item_id:
            return
        received_ms = item.samples * 1000 // self.wire_output.sample_rate
        audio_end_ms = min(int(played * 1000), received_ms)
        if audio_end_ms <= 0:
            return  # the server rejects 0 (and nothing was heard)
        item.truncated = True
        self._send_json(
            {
                "type": m.ITEM_TRUNCATE,
                "item_id": item.item_id,
                "content_index": item.content_index,
                "audio_end_ms": audio_end_ms,
            }
        )

    def _on_played(self, report: ReportPlayed) -> None:
        turn_id = report.turn_id
        if turn_id is None:
            if self._last_audio is None:
                return
            turn_id = self._last_audio.response_id
        self._played.set(turn_id, report.seconds)
        item = self._last_audio
        if (
            item is not None
            and item.response_id == turn_id
            and turn_id in self._fenced
            and not item.truncated
        ):
            # Reported after the barge-in (a client that learns of it from the
            # interruption, as GA clients do from speech_started): truncate now.
            self._truncate(item, report.seconds)

    # -- commands ---------------------------------------------------------------

    def _on_send_audio(self, pcm: bytes) -> None:
        # The hot path (every 20 ms); SendAudio commands come here too.
        if not pcm:
            return
        self.wire_input.check(pcm, what="send_audio pcm")
        data = g711.compress(pcm, self._law) if self._law is not None else pcm
        # Hot path: base64 needs no JSON escaping.
        audio = base64.b64encode(data).decode("ascii")
        self._send('{"type":"input_audio_buffer.append","audio":"' + audio + '"}')

    def _on_command(self, command: Command) -> None:
        if isinstance(command, SendAudio):
            self._on_send_audio(command.pcm)
        elif isinstance(command, SendText):
            self._send_json(
                {
                    "type": m.ITEM_CREATE,
                    "item": {
                        "type": "message",
                        "role": "user",
                        "content": [{"type": "input_text", "text": command.text}],
                    },
                }
            )
            self._send_json({"type": m.RESPONSE_CREATE})
        elif isinstance(command, SendToolResult):
            self._send_json(
                {
                    "type": m.ITEM_CREATE,
                    "item": {
                        "type": "function_call_output",
                        "call_id": command.call_id,
                        "output": command.output,
                    },
                }
            )
            self._send_json({"type": m.RESPONSE_CREATE})
        elif isinstance(command, Interrupt):
            self._barge_in(cancel=True)
        elif isinstance(command, EndTurn):
            self._send_json({"type": m.AUDIO_COMMIT})
            self._send_json({"type": m.RESPONSE_CREATE})
        else:
            raise UnsupportedCommandError(
                self.provider, COMMAND_CAPABILITY.get(command.type, command.type), command.type
            )


def _string(message: dict[str, Any], key: str) -> str:
    value = message.get(key)
    if not isinstance(value, str):
        raise MalformedField(key, "a string")
    return value


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _usage(response_id: str, usage: dict[str, Any]) -> Usage:
    details = {
        key: usage[key]
        for key in ("input_token_details", "output_token_details")
        if isinstance(usage.get(key), dict)
    }
    return Usage(
        turn_id=response_id,
        input_tokens=_count(usage.get("input_tokens")),
        output_tokens=_count(usage.get("output_tokens")),
        total_tokens=_count(usage.get("total_tokens")),
        details=details,
    )
