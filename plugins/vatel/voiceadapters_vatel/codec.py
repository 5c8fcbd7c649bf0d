"""The Vatel client codec: session-token handshake and the WebSocket JSON protocol.

Pure, like every codec (:mod:`voiceadapters.codec`): no I/O, no clock, no
asyncio. Sources: the Vatel OpenAPI document (API 0.2.3, ``openapi.json`` in
Devpro-Software/vatel-py-sdk), that SDK's ``src/vatel/connection.py`` and
``models/ws.py``, the JS SDK's ``types.ts`` / ``parse-server-message.ts``, and
https://docs.vatel.ai/api-reference/session/{session-token,connection}; all
summarised in the Vatel wire spec, whose sections are cited below.

Handshake (the Vatel wire spec §1, §2)
--------------------------------------
1. ``POST {http_base}/v1/session-token`` with ``Authorization: Bearer <key>``
   and the JSON body ``{"agent_id": …}`` plus the optional fields that are set
   (or, with ``token_form=query``, the legacy ``?agentId=…`` and no body).
2. A 200 with ``{"token": "<JWT>"}``; then the WebSocket
   ``{ws_base}/v1/connection?token=<JWT>``, protocol pings every 20 s with a
   20 s timeout, as the PY SDK does (§10). No first message: the server
   starts the session with ``session_started``.

The API key is required when the codec is built: a missing key raises
:class:`~voiceadapters.errors.ConfigError` from the constructor, before any
request exists. The key and the token only ever live in
:class:`~voiceadapters.secrets.Secret` values.

Token errors: 401 and 403 raise :class:`~voiceadapters.errors.AuthenticationError`,
any other non-200 :class:`~voiceadapters.errors.TokenRequestError`, both with
the HTTP status and the server's ``{"error": …}`` message (else a short excerpt
of the body, else ``"(empty body)"``). A 200 whose body is not a JSON object
with a non-empty string ``token`` raises ``TokenRequestError`` with
``status=200`` (the status the server really sent, so logs show a broken
success rather than a missing answer) and a message saying what the body was
instead — its size and content type, or only the key names of a JSON object,
never its text, since such a body may hold the token. ``Retry-After`` on an
error is ``TokenRequestError.retry_after``. The ``timeout`` option also bounds
the wait for ``session_started`` after the WebSocket opened
(``first_message_timeout`` overrides it).

Server messages → events (the Vatel wire spec §5)
-------------------------------------------------
===========================  ==============================================
``session_started{id}``      ``session_started(session_id=id)``
``speech_started{emulated}`` ``user_speech_started(emulated)``
``speech_stopped``           ``user_speech_stopped``
``input_audio_transcript``   ``user_transcript(text, final, turn_id)``
``response_text``            ``agent_text(text, delta, final, turn_id)``
``response_audio``           ``agent_audio`` (24 kHz), then
                             ``agent_audio_done`` when ``is_final``
``interruption``             ``interruption(turn_id)``
``tool_call``                ``tool_call(call_id, name, arguments)``
``session_ended``            ``session_ended(reason="completed")``
anything else                ``unknown_message(raw=<the JSON object>)``
===========================  ==============================================

Decisions where the protocol is silent or loose:

* **Agent text replaces.** Vatel's ``response_text`` carries the whole text
  and "may repeat or refine while not final" (``VoiceSessionResponseTextData``).
  The codec keeps the last text per ``turn_id``: when the new text extends
  it, ``delta`` is the added suffix (empty for a repeat); otherwise the text
  was rewritten and ``delta`` is the whole new text. A final text forgets the
  turn, so a later segment of the same turn starts afresh.
* **Interruption fences the turn.** ``interruption`` carries no turn id
  (§9); it applies to the turn whose audio is being received — the last
  ``response_audio`` turn not yet finished by ``is_final`` — or ``None`` when
  no agent audio is in flight. Every later ``response_audio`` of that turn is
  dropped, including an ``is_final`` chunk, so neither its audio nor an
  ``agent_audio_done`` reaches the application (§12.6 lets servers send
  either). Text of that turn is still delivered: it is a record of what the
  agent meant to say, not playback.
* **Bad audio never stops the session.** Invalid base64 in
  ``response_audio`` is a non-fatal ``provider_error`` ``malformed_audio`` and
  the chunk is skipped (its ``is_final`` still ends the turn). An odd byte
  count cannot be 16-bit PCM: the whole-sample prefix is delivered and a
  non-fatal ``provider_error`` ``odd_length_audio`` says one byte was dropped.
* **Fields.** A known type whose payload field is missing or of the wrong
  type (``text``, ``transcript``, ``audio``, ``toolCallId``, …) becomes a
  non-fatal ``provider_error`` ``malformed_message`` naming the type and the
  field, and no event. Flags that the protocol added later default to the
  behaviour before they existed (the Go SDK's structs predate them, §5):
  a missing ``is_final`` means final for text and transcripts and not-final
  for audio; a missing ``emulated`` means false. ``session_started`` without
  a string ``id`` still starts the session (``session_id=None``; a non-string
  id is also reported). A null or missing ``data`` counts as ``{}``, which is
  all the empty-data types need; extra top-level keys (``timestamp``, §12.4)
  and extra ``data`` keys are ignored.
* **Tool arguments.** The ``arguments`` array of descriptors becomes a dict
  ``name → value`` (a descriptor without ``value`` maps to ``None``; a repeated
  name keeps the last; a missing or null ``arguments`` is ``{}``). A
  descriptor that is not an object with a string ``name`` is skipped and
  reported as a non-fatal ``provider_error`` ``malformed_tool_argument``; the
  tool call is still delivered. The JS SDK's snake-case aliases
  ``tool_call_id``/``tool_name`` are accepted (§5).
* **The end.** ``session_ended`` ends the session with reason ``completed``
  (Vatel gives no reason, so :attr:`Capabilities.end_reasons` is false) and
  the codec closes its side with 1000; the server's own close that follows
  changes nothing. Without ``session_ended``, the close code is mapped by
  :func:`voiceadapters.codec.default_close_reason`.
* A second ``session_started`` is a ``provider_error`` ``unexpected_message``;
  a binary frame is ``provider_error`` ``unexpected_binary`` (Vatel sends
  only text frames, §3).

Commands (the Vatel wire spec §4): ``send_audio`` → ``input_audio``,
``send_tool_result`` → ``tool_call_output``, ``close`` → close 1000.
``send_text`` and ``interrupt`` have no Vatel message and are refused by the
base class from the capabilities.

WebRTC (``vatel+webrtc://``, the Vatel wire spec §11)
-----------------------------------------------------
The same codec, with the transport ``webrtc``:

1. The token request carries ``"transport": "webrtc"`` (the JSON body form
   only: the legacy ``?agentId=`` request cannot say it, so
   ``token_form=query`` is a configuration error here).
2. The 200 is a LiveKit room credential: ``webrtc_token`` (the room JWT),
   else — the older shape of the docs crawl and ``@vatel/sdk`` 0.2.4 —
   ``token`` alone, as the JS demo server's ``webrtc_token ?? token``;
   ``url`` (the LiveKit signalling URL), else ``wss://sip.vatel.ai`` as the
   JS SDK's ``WebRTCSession``; ``room`` and ``identity`` are kept for
   :attr:`VatelCodec.room` / :attr:`VatelCodec.identity`. A credential that
   is not shaped like a JWT (three base64url parts) cannot be a LiveKit
   access token: it is refused with ``TokenRequestError(status=200)``, which
   names the token response, rather than sent to the signalling server to
   come back as a 401; a ``url`` that is not ``ws://``/``wss://`` likewise.
3. The second step is a :class:`~voiceadapters.handshake.MediaRequest` that
   :class:`~voiceadapters_vatel.webrtc.LiveKitConnector` joins: microphone
   published at 24 kHz, the agent's track read at 24 kHz, messages as text
   streams on topic ``"messages"``.

Messages are the WebSocket session's, mapped as above, except that
``response_audio`` is dropped if a server sends it (§11): agent audio is the
agent's track. ``send_audio`` becomes :class:`~voiceadapters.frames.TrackAudio`
(the microphone track), ``send_tool_result`` the same ``tool_call_output``
message as a text stream.

Track audio → events. The track plays continuously (silence between
utterances) and carries no turn ids, so the codec delimits speech on the
audio itself: a chunk with a sample above :data:`TRACK_SPEECH_PEAK` starts the
agent's speech, which is emitted as ``agent_audio`` with the turn id of the
latest ``response_text``; :data:`TRACK_HANGOVER` seconds of samples at or
below that level end it with ``agent_audio_done`` (the silence before speech
is not emitted; the hangover's silence is). ``interruption`` names the turn
being spoken (in a pause of it: the last turn heard, unless a newer turn's
text arrived since) and fences it: its remaining audio, and any that resumes
for it, is dropped, and no ``agent_audio_done`` follows it.

The end. ``session_ended`` ends the session as ``completed``. Otherwise the
room's end, reported by the connector as a LiveKit ``DisconnectReason`` name
(:data:`WEBRTC_END_REASONS`): ``AGENT_LEFT`` (the agent's track went away, or
it left the room) → ``completed``; ``ROOM_DELETED``/``ROOM_CLOSED``/
``SERVER_SHUTDOWN``/``PARTICIPANT_REMOVED`` → ``server_shutdown``;
``CLIENT_INITIATED`` → ``client_closed``; ``DUPLICATE_IDENTITY``,
``AGENT_ERROR``, ``JOIN_FAILURE`` → ``error``; anything else (signal or media
lost) → ``connection_lost``, the only one a reconnect may continue.
``provider_reason`` is the name.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from voiceadapters.codec import Codec
from voiceadapters.commands import (
    COMMAND_CAPABILITY,
    Command,
    SendAudio,
    SendToolResult,
)
from voiceadapters.config import ProviderConfig
from voiceadapters.errors import (
    ConfigError,
    TokenRequestError,
    UnsupportedCommandError,
)
from voiceadapters.events import (
    AgentAudioDone,
    AgentText,
    EndReason,
    Interruption,
    SessionStarted,
    ToolCall,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)
from voiceadapters.fields import MalformedField, base64_data, boolean, optional_string, string
from voiceadapters.handshake import (
    CloseFrame,
    Frame,
    HttpRequest,
    HttpResponse,
    MediaRequest,
    TrackAudio,
    WebSocketRequest,
    build_url,
)
from voiceadapters.secrets import Secret
from voiceadapters.turns import TurnFence, TurnMemory

from . import messages as m
from .provider import API_KEY_ENV, WIRE_FORMAT, VatelOptions, VatelProvider

__all__ = [
    "CONNECTION_PATH",
    "DEFAULT_WEBRTC_URL",
    "TOKEN_PATH",
    "TRACK_HANGOVER",
    "TRACK_SPEECH_PEAK",
    "WEBRTC_END_REASONS",
    "VatelCodec",
]

#: The provider's paths, under the names they had before 0.2.
TOKEN_PATH = VatelProvider.token_path
CONNECTION_PATH = VatelProvider.connection_path

#: Keepalive of the PY SDK's ``connect()`` (the Vatel wire spec §10).
PING_INTERVAL = 20.0
PING_TIMEOUT = 20.0


#: LiveKit signalling URL when the credential names none (the JS SDK's
#: ``WebRTCSession``: ``Room.connect(url || "wss://sip.vatel.ai", …)``, §11).
DEFAULT_WEBRTC_URL = "wss://sip.vatel.ai"
#: Opus bitrate of the published microphone (bit/s). libwebrtc's default for
#: a voice track (32 kbit/s) may pick Opus' SILK mode, which keeps speech
#: intelligible but not its waveform; 64 kbit/s keeps the waveform (the
#: echo's cross-correlation, docs *Vatel over WebRTC*).
MIC_BITRATE = 64000
#: Track audio above this peak (of 32767; about -54 dBFS) is agent speech.
TRACK_SPEECH_PEAK = 64
#: Seconds of track audio at or below that peak that end the agent's speech.
TRACK_HANGOVER = 0.3
#: LiveKit ``DisconnectReason`` names (and the connector's ``AGENT_LEFT``) →
#: normalized end reasons; any other name is ``connection_lost``.
WEBRTC_END_REASONS: dict[str, EndReason] = {
    "AGENT_LEFT": "completed",
    "CLIENT_INITIATED": "client_closed",
    "ROOM_DELETED": "server_shutdown",
    "ROOM_CLOSED": "server_shutdown",
    "SERVER_SHUTDOWN": "server_shutdown",
    "PARTICIPANT_REMOVED": "server_shutdown",
    "DUPLICATE_IDENTITY": "error",
    "AGENT_ERROR": "error",
    "JOIN_FAILURE": "error",
}
_JWT = re.compile(r"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")


def _require_str(data: dict[str, Any], key: str) -> str:
    return string(data.get(key), key)


def _optional_str(data: dict[str, Any], key: str) -> str | None:
    return optional_string(data.get(key), key)


def _flag(data: dict[str, Any], key: str, default: bool) -> bool:
    return boolean(data.get(key), key, default)


class VatelCodec(Codec):
    """Client side of a Vatel voice session; see the module docstring.

    Raises :class:`~voiceadapters.errors.ConfigError` at construction when
    ``config`` has no API key.
    """

    def __init__(self, config: ProviderConfig, provider: VatelProvider | None = None) -> None:
        self._spec = provider or VatelProvider()
        super().__init__(self._spec)
        self.config = config
        self.options = config.options_as(VatelOptions)
        self._api_key = config.require_api_key(API_KEY_ENV)
        #: True for ``vatel+webrtc://`` (the module docstring's WebRTC section).
        self.webrtc = config.transport == "webrtc"
        if self.webrtc and self.options.token_form == "query":
            raise ConfigError(
                "vatel+webrtc: token_form=query (the legacy ?agentId= request) cannot ask "
                "for the webrtc transport; use token_form=body"
            )
        #: The LiveKit room and identity the credential named (WebRTC only).
        self.room: str | None = None
        self.identity: str | None = None
        self._room_url = DEFAULT_WEBRTC_URL
        # Track audio state (WebRTC): speaking, quiet samples in a row, the
        # turn being spoken, whether it was interrupted.
        self._track_speaking = False
        self._track_quiet = 0
        self._track_turn: str | None = None
        self._track_fenced = False
        self._last_text_turn: str | None = None
        self._token: Secret | None = None
        self._opened = False
        self._started = False
        # turn_id -> last text of that turn (replace semantics).
        self._texts: TurnMemory[str] = TurnMemory()
        # The turn whose audio is arriving and not yet finished by is_final.
        self._audio_turn: str | None = None
        # Interrupted turns, whose late audio is dropped.
        self._fenced = TurnFence()
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            m.RESPONSE_AUDIO: self._on_response_audio,
            m.RESPONSE_TEXT: self._on_response_text,
            m.INPUT_AUDIO_TRANSCRIPT: self._on_transcript,
            m.SPEECH_STARTED: self._on_speech_started,
            m.SPEECH_STOPPED: self._on_speech_stopped,
            m.INTERRUPTION: self._on_interruption,
            m.TOOL_CALL: self._on_tool_call,
            m.SESSION_STARTED: self._on_session_started,
            m.SESSION_ENDED: self._on_session_ended,
        }

    def __repr__(self) -> str:
        state = "ended" if self.ended else "open" if self._opened else "handshake"
        return f"<VatelCodec {self.config.to_string()!r} {state}>"

    # -- handshake ---------------------------------------------------------

    @property
    def token_url(self) -> str:
        return f"{self.config.http_base}{self._spec.token_path}"

    @property
    def connection_url(self) -> str:
        return f"{self.config.ws_base}{self._spec.connection_path}"

    def handshake_step(self) -> HttpRequest | WebSocketRequest | MediaRequest | None:
        """The token request, then the WebSocket to open, then ``None``."""
        if self._opened:
            return None
        if self._token is None:
            return self._token_request()
        if self.webrtc:
            from .webrtc import LiveKitConnector

            return MediaRequest(
                url=self._room_url,
                token=self._token,
                connector=LiveKitConnector(self.provider),
                input_format=WIRE_FORMAT,
                output_format=WIRE_FORMAT,
                options=(("topic", m.WEBRTC_TOPIC), ("max_bitrate", str(MIC_BITRATE))),
                open_timeout=self.options.timeout,
                first_message_timeout=self.options.timeout,
            )
        return WebSocketRequest(
            url=self.connection_url,
            query=(("token", self._token),),
            open_timeout=self.options.timeout,
            first_message_timeout=self.options.timeout,
            ping_interval=PING_INTERVAL,
            ping_timeout=PING_TIMEOUT,
        )

    def _token_request(self) -> HttpRequest:
        headers = (
            ("Authorization", Secret("Bearer " + self._api_key.reveal())),
            ("Content-Type", "application/json"),
        )
        if self.options.token_form == "query":
            # The legacy form: the agent in the query, no body (docs' Next.js
            # demo, Go SDK SessionToken). Content-Type is sent as they do.
            return HttpRequest(
                "POST",
                self.token_url,
                headers=headers,
                query=(("agentId", self.options.agent_id),),
                timeout=self.options.timeout,
            )
        body: dict[str, str | bool] = self.options.token_request_body()
        if self.webrtc:
            body["transport"] = "webrtc"
        return HttpRequest(
            "POST",
            self.token_url,
            headers=headers,
            json=body,
            timeout=self.options.timeout,
        )

    def receive_http_response(self, response: HttpResponse) -> None:
        """Take the token from a 200, or raise the typed error (module docstring)."""
        if self._token is not None or self._opened:
            raise RuntimeError("VatelCodec: no HTTP request is pending")
        url = build_url(self.token_url, self._token_request().query)
        body = response.grant(self.provider, url=url)
        token = body.get("token") if isinstance(body, dict) else None
        if self.webrtc and isinstance(body, dict):
            # webrtc_token ?? token, as the JS demo server (§11, §12.10).
            room_token = body.get("webrtc_token")
            if isinstance(room_token, str) and room_token:
                token = room_token
        if not isinstance(token, str) or not token:
            what = (
                "a JSON object without a non-empty string 'token'"
                if isinstance(body, dict)
                else "not a JSON object"
            )
            # Never the text: a broken 200 may still hold the token. Its size
            # and content type, or the key names of a JSON object.
            excerpt = response.describe_body()
            if isinstance(body, dict):
                excerpt = f"keys {sorted(body)}"
            raise TokenRequestError(self.provider, 200, f"the body is {what}: {excerpt}", url=url)
        if self.webrtc:
            assert isinstance(body, dict)
            self._take_room(body, token, url)
        self._token = Secret(token)

    def _take_room(self, body: dict[str, Any], token: str, url: str) -> None:
        """The WebRTC credential's other fields (the module docstring)."""
        if not _JWT.match(token):
            raise TokenRequestError(
                self.provider,
                200,
                f"the room credential is not a LiveKit access token (a JWT): "
                f"{len(token)} characters, keys {sorted(body)}",
                url=url,
            )
        room_url = body.get("url")
        if room_url is not None and not (
            isinstance(room_url, str) and room_url.startswith(("ws://", "wss://"))
        ):
            raise TokenRequestError(
                self.provider, 200, "the room 'url' is not a ws:// or wss:// URL", url=url
            )
        self._room_url = room_url or DEFAULT_WEBRTC_URL
        room, identity = body.get("room"), body.get("identity")
        self.room = room if isinstance(room, str) else None
        self.identity = identity if isinstance(identity, str) else None

    def connection_opened(self) -> None:
        """Nothing to send: Vatel has no first client message; the server
        opens the session with ``session_started`` (the Vatel wire spec §7)."""
        if self._token is None:
            raise RuntimeError("VatelCodec: the WebSocket opened before the token step")
        self._opened = True

    # -- frames from the server ----------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            self._error(
                "unexpected_binary",
                f"binary frame of {len(frame)} bytes; Vatel sends only JSON text frames",
            )
            return
        message = self._parse_json_object(frame)
        if message is None:
            return
        kind = message.get("type")
        if self.webrtc and kind == m.RESPONSE_AUDIO:
            return  # agent audio is the track; a response_audio is dropped (§11)
        handler = self._handlers.get(kind) if isinstance(kind, str) else None
        if handler is None:
            if isinstance(kind, str):
                self._unknown(message)
            else:
                self._error("malformed_message", f"message has no string 'type': {frame[:120]!r}")
            return
        data = message.get("data")
        if data is None:
            data = {}
        elif not isinstance(data, dict):
            self._error("malformed_message", f"{kind}: 'data' is not an object")
            return
        try:
            handler(data)
        except MalformedField as exc:
            self._malformed(str(kind), exc)

    def _on_response_audio(self, data: dict[str, Any]) -> None:
        # The hot path: one message per agent audio chunk (tens per second).
        turn_id = _require_str(data, "turn_id")
        audio = _require_str(data, "audio")
        is_final = _flag(data, "is_final", False)
        if turn_id in self._fenced:
            return  # the user interrupted this turn: its audio must not play
        try:
            pcm = base64_data(audio)
        except ValueError:
            pcm = None
            self._error(
                "malformed_audio",
                f"response_audio of turn {turn_id!r}: audio is not valid base64 "
                f"({len(audio)} characters); chunk skipped",
            )
        if pcm:
            if len(pcm) & 1:
                self._error(
                    "odd_length_audio",
                    f"response_audio of turn {turn_id!r} has {len(pcm)} bytes, not whole "
                    "16-bit samples; the last byte was dropped",
                )
                pcm = pcm[:-1]
            if pcm:
                self._emit_audio(pcm, WIRE_FORMAT, turn_id)
        if is_final:
            if self._audio_turn == turn_id:
                self._audio_turn = None
            self._emit(AgentAudioDone(turn_id=turn_id))
        else:
            self._audio_turn = turn_id

    def _on_response_text(self, data: dict[str, Any]) -> None:
        turn_id = _require_str(data, "turn_id")
        text = _require_str(data, "text")
        final = _flag(data, "is_final", True)
        self._last_text_turn = turn_id
        previous = self._texts.pop(turn_id, "")
        delta = text[len(previous) :] if text.startswith(previous) else text
        if not final:
            self._texts.set(turn_id, text)
        self._emit(AgentText(text=text, delta=delta, final=final, turn_id=turn_id))

    def _on_transcript(self, data: dict[str, Any]) -> None:
        text = _require_str(data, "transcript")
        final = _flag(data, "is_final", True)
        turn_id = _optional_str(data, "turn_id")
        self._emit(UserTranscript(text=text, final=final, turn_id=turn_id))

    def _on_speech_started(self, data: dict[str, Any]) -> None:
        self._emit(UserSpeechStarted(emulated=_flag(data, "emulated", False)))

    def _on_speech_stopped(self, data: dict[str, Any]) -> None:
        self._emit(UserSpeechStopped())

    def _on_interruption(self, data: dict[str, Any]) -> None:
        if self.webrtc:
            # The turn being spoken — or, in a pause of it, the last one heard,
            # unless a newer turn's text came since.
            turn_id = self._track_turn
            if not self._track_speaking and turn_id != self._last_text_turn:
                turn_id = None
            if turn_id is not None:
                self._fenced.add(turn_id)
                self._track_fenced = self._track_speaking
            self._emit(Interruption(turn_id=turn_id))
            return
        turn_id = self._audio_turn
        if turn_id is not None:
            self._audio_turn = None
            self._fenced.add(turn_id)
        self._emit(Interruption(turn_id=turn_id))

    def _on_tool_call(self, data: dict[str, Any]) -> None:
        call_id = data.get("toolCallId", data.get("tool_call_id"))
        if not isinstance(call_id, str):
            raise MalformedField("toolCallId", "a string")
        name = data.get("toolName", data.get("tool_name"))
        if not isinstance(name, str):
            raise MalformedField("toolName", "a string")
        items = data.get("arguments")
        if items is None:
            items = []
        elif not isinstance(items, list):
            raise MalformedField("arguments", "an array")
        arguments: dict[str, Any] = {}
        for index, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                arguments[item["name"]] = item.get("value")
            else:
                self._error(
                    "malformed_tool_argument",
                    f"tool_call {call_id!r} ({name}): argument #{index} is not an object "
                    "with a string 'name'; skipped",
                )
        self._emit(ToolCall(call_id=call_id, name=name, arguments=arguments))

    def _on_session_started(self, data: dict[str, Any]) -> None:
        if self._started:
            self._error("unexpected_message", "session_started received twice; ignored")
            return
        self._started = True
        session_id = data.get("id")
        if session_id is not None and not isinstance(session_id, str):
            self._error("malformed_message", "session_started: field 'id' must be a string")
            session_id = None
        self._emit(SessionStarted(session_id=session_id))

    def _on_session_ended(self, data: dict[str, Any]) -> None:
        self._end("completed", close=CloseFrame(1000, "session ended"))

    # -- track audio (WebRTC) --------------------------------------------------------

    def _on_track_audio(self, pcm: bytes) -> None:
        """Delimit the agent's speech on its track (the module docstring)."""
        if len(pcm) & 1:
            pcm = pcm[:-1]
        if not pcm:
            return
        samples = np.frombuffer(pcm, dtype="<i2")
        loud = int(np.abs(samples.astype(np.int32)).max()) > TRACK_SPEECH_PEAK
        if loud:
            self._track_quiet = 0
            if not self._track_speaking or (
                self._track_fenced and self._last_text_turn != self._track_turn
            ):
                # Speech starts (or a new turn follows a fenced one at once).
                self._track_speaking = True
                self._track_turn = self._last_text_turn
                self._track_fenced = (
                    self._track_turn is not None and self._track_turn in self._fenced
                )
        elif not self._track_speaking:
            return  # silence between utterances
        else:
            self._track_quiet += len(samples)
        if not self._track_fenced:
            self._emit_audio(pcm, WIRE_FORMAT, self._track_turn)
        if self._track_quiet >= TRACK_HANGOVER * WIRE_FORMAT.sample_rate:
            self._track_speaking = False
            self._track_quiet = 0
            if not self._track_fenced:
                self._emit(AgentAudioDone(turn_id=self._track_turn))

    def _on_closed(self, code: int | None, reason: str) -> None:
        if not self.webrtc:
            super()._on_closed(code, reason)
            return
        end = WEBRTC_END_REASONS.get(reason, "connection_lost")
        if self._client_closing and end in ("connection_lost", "completed"):
            end = "client_closed"
        self._webrtc_lost = end == "connection_lost"
        self._end(end, provider_reason=reason or None, close_code=code)

    @property
    def resumable(self) -> bool:
        """WebSocket: the base rule. WebRTC: only a lost connection (not a
        room that closed, nor an agent that left) may be continued."""
        if not self.webrtc:
            return super().resumable
        if self._ended_by_close is None or self._client_closing:
            return False
        return self._webrtc_lost

    _webrtc_lost = False

    # -- commands from the application ------------------------------------------

    def _on_send_audio(self, pcm: bytes) -> None:
        # The hot path (every 20 ms); SendAudio commands come here too.
        if not pcm:
            return
        WIRE_FORMAT.check(pcm, what="send_audio pcm")
        if self.webrtc:
            self._send(TrackAudio(pcm))
            return
        # Hot path (every 20 ms): base64 needs no JSON escaping, so the
        # frame is assembled directly instead of through json.dumps.
        audio = base64.b64encode(pcm).decode("ascii")
        self._send('{"type":"input_audio","data":{"audio":"' + audio + '"}}')

    def _on_command(self, command: Command) -> None:
        if isinstance(command, SendAudio):
            self._on_send_audio(command.pcm)
        elif isinstance(command, SendToolResult):
            self._send_json(m.tool_call_output(command.call_id, command.output))
        else:
            # The base class refuses commands whose capability is false, so
            # this is only reached by a command type added to the core later.
            raise UnsupportedCommandError(
                self.provider, COMMAND_CAPABILITY.get(command.type, command.type), command.type
            )
