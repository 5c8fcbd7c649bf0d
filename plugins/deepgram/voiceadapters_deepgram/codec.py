"""The Deepgram Voice Agent client codec: handshake, Settings, both directions.

Pure, like every codec (:mod:`voiceadapters.codec`): no I/O, no clock, no
randomness. Sources are cited as [SDK] (``deepgram-sdk`` 7.17.0,
``deepgram/agent/v1/…``) and [docs] (developers.deepgram.com), as listed in
:mod:`voiceadapters_deepgram.provider`.

Handshake
---------
``auth=key`` (default): one WebSocket, ``{ws_base}/v1/agent/converse`` with
``Authorization: Token <key>`` ([SDK] ``raw_client.py`` sets the header; the
token-auth guide gives the two schemes). ``auth=grant``: first ``POST
https://api.deepgram.com/v1/auth/grant`` (``grant_host``; for any other
config host than Deepgram's, that host: a simulator serves both) with ``Authorization: Token <key>`` and the JSON
body ``{}`` ([SDK] ``auth/v1/tokens/raw_client.py``), whose 200 answer is
``{"access_token": <JWT>, "expires_in": s}`` ([SDK] ``GrantV1Response``); then
the WebSocket with ``Authorization: Bearer <JWT>``. Both credentials are
:class:`~voiceadapters.secrets.Secret` values: masked in every repr and log.
A wrong key is an HTTP 401 at the upgrade (the SDK turns it into
``ApiError(401)``; here :class:`~voiceadapters.errors.WebSocketRejected`) or
at the grant (:class:`~voiceadapters.errors.AuthenticationError`).

On open the codec sends ``Settings`` ([SDK] ``AgentV1Settings``): linear16
16 kHz in, linear16 24 kHz out with ``container: "none"``, the listen /
think / speak providers and functions of the options. The docs ask for
Settings "before sending any audio": microphone audio and every other
command are held (in order, audio bounded by ``preconnect_buffer_seconds``)
until ``SettingsApplied``, then sent.

Server messages → events
------------------------
=============================  =================================================
``Welcome``                    ``session_started(session_id=request_id)``
``SettingsApplied``            ``agent_ready``; held commands are sent
``UserStartedSpeaking``        ``user_speech_started``; while an agent turn is
                               speaking, first ``interruption(turn_id)`` and the
                               turn is fenced (below) — the docs: "discard any
                               queued agent speech"
``ConversationText`` user      ``user_transcript(final=True)`` (Deepgram sends
                               only final user text); then
                               ``user_speech_stopped`` if speech had started
                               (there is no stop message: the final transcript
                               is the end of the user's turn)
``ConversationText`` assistant ``agent_text``: ``text`` the turn's statements so
                               far, joined by a space, ``delta`` what this one
                               added, ``final=False``
``AgentStartedSpeaking``       starts an agent turn (``turn-<n>``); passed on as
                               ``unknown_message`` too (it carries the
                               latencies, which have no normalized event)
binary frame                   ``agent_audio`` (PCM16 24 kHz) of the current turn
``AgentAudioDone``             the turn's final ``agent_text`` (when it had
                               text), then ``agent_audio_done(turn_id)``
``FunctionCallRequest``        ``tool_call(call_id=id, name, arguments)`` for
                               each function with ``client_side: true``
                               (``arguments`` is a JSON string); server-side
                               calls are passed on as ``unknown_message``
``Error``                      ``provider_error(code, description)``; fatal (and
                               the session ends with ``error``) when it comes
                               before ``SettingsApplied``: settings refused
``Warning``                    ``provider_error(code, description, fatal=False)``
``AgentThinking``, any other   ``unknown_message(raw=<the JSON object>)``
=============================  =================================================

Agent turns: Deepgram's messages carry no turn id, so the codec counts
``turn-<n>``. A turn starts at ``AgentStartedSpeaking``, or at an assistant
``ConversationText`` or audio when no turn is open, and ends at
``AgentAudioDone`` or an interruption. After an interruption every binary
frame is the interrupted turn's late audio and is dropped
(:attr:`DeepgramCodec.fenced_frames` counts them), as is its
``AgentAudioDone``, until the next ``AgentStartedSpeaking``, assistant or
user ``ConversationText``.

Commands: ``send_audio`` → binary frames (held until ``SettingsApplied``);
``send_text`` → ``InjectUserMessage``; ``send_tool_result`` →
``FunctionCallResponse{id, name, content}`` (the name remembered from the
request; ``""`` for a call id the codec never saw); ``close`` → close 1000
(while commands are held, right after ``SettingsApplied`` releases them).
``KeepAlive`` when nothing was sent since the previous timer tick
(ticks every ``keep_alive_interval``, so at most two intervals of silence).

Closes: the core's mapping (:func:`~voiceadapters.codec.default_close_reason`;
1008 → ``auth_failed``); ``provider_reason`` is the close reason, else the
code of the last ``Error``.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from voiceadapters import wirejson
from voiceadapters.codec import Codec, default_close_reason
from voiceadapters.commands import (
    COMMAND_CAPABILITY,
    Command,
    SendAudio,
    SendText,
    SendToolResult,
)
from voiceadapters.config import ProviderConfig
from voiceadapters.errors import (
    BufferOverflowError,
    TokenRequestError,
    UnsupportedCommandError,
)
from voiceadapters.events import (
    AgentAudioDone,
    AgentReady,
    AgentText,
    Interruption,
    SessionStarted,
    ToolCall,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
)
from voiceadapters.fields import MalformedField, boolean, string
from voiceadapters.handshake import (
    CloseFrame,
    Frame,
    HttpRequest,
    HttpResponse,
    OutFrame,
    WebSocketRequest,
)
from voiceadapters.secrets import Secret
from voiceadapters.turns import TurnMemory

from . import messages as m
from .provider import (
    API_KEY_ENV,
    DEFAULT_HOST,
    GRANT_HOST,
    INPUT_FORMAT,
    OUTPUT_FORMAT,
    DeepgramOptions,
    DeepgramProvider,
)

__all__ = ["DeepgramCodec", "join_statement"]


def join_statement(text: str, statement: str) -> str:
    """``statement`` appended to ``text``, with one space between them when
    neither side has whitespace at the seam (Deepgram sends an agent reply as
    separate statements)."""
    if not text or not statement or text[-1].isspace() or statement[0].isspace():
        return text + statement
    return f"{text} {statement}"


class DeepgramCodec(Codec):
    """Client side of one Deepgram Voice Agent session (module docstring).

    Raises :class:`~voiceadapters.errors.ConfigError` without an API key.
    """

    def __init__(self, config: ProviderConfig, provider: DeepgramProvider | None = None) -> None:
        self._spec = provider or DeepgramProvider()
        super().__init__(self._spec)
        self.config = config
        self.options: DeepgramOptions = config.options_as(DeepgramOptions)
        self._api_key = config.require_api_key(API_KEY_ENV)
        self._jwt: Secret | None = None
        self._opened = False
        self._started = False
        self._applied = False
        # commands held until SettingsApplied (audio bounded)
        self._held: deque[OutFrame] = deque()
        self._held_audio = 0
        self._close_pending = False
        self._limit = INPUT_FORMAT.bytes_for(self.options.preconnect_buffer_seconds)
        # keep-alive ticks
        self._interval = self.options.keep_alive_interval
        self._next_tick: float | None = None
        self._sent_since_tick = False
        # turns
        self._turn_count = 0
        self._turn: str | None = None
        self._turn_text = ""
        self._fenced = False
        self._fenced_frames = 0
        self._user_speaking = False
        self._tool_names: TurnMemory[str] = TurnMemory()
        self._last_error: str | None = None
        self._handlers: dict[str, Callable[[dict[str, Any]], None]] = {
            m.WELCOME: self._on_welcome,
            m.SETTINGS_APPLIED: self._on_settings_applied,
            m.CONVERSATION_TEXT: self._on_conversation_text,
            m.USER_STARTED_SPEAKING: self._on_user_started_speaking,
            m.AGENT_STARTED_SPEAKING: self._on_agent_started_speaking,
            m.AGENT_AUDIO_DONE: self._on_agent_audio_done,
            m.FUNCTION_CALL_REQUEST: self._on_function_call_request,
            m.ERROR: self._on_error,
            m.WARNING: self._on_warning,
        }

    def __repr__(self) -> str:
        state = "ended" if self.ended else "open" if self._opened else "handshake"
        return f"<DeepgramCodec {self.config.to_string()!r} {state}>"

    # -- public state ------------------------------------------------------------

    @property
    def settings_applied(self) -> bool:
        """True once ``SettingsApplied`` arrived (commands flow from then on)."""
        return self._applied

    @property
    def fenced_frames(self) -> int:
        """Binary frames dropped because their turn was interrupted."""
        return self._fenced_frames

    def audio_buffer(self) -> tuple[int, int] | None:
        """``(held, limit)`` of microphone audio until ``SettingsApplied``."""
        return None if self._applied else (self._held_audio, self._limit)

    # -- handshake ---------------------------------------------------------------

    @property
    def grant_url(self) -> str:
        """Where the JWT comes from with ``auth=grant``."""
        base = self.config.http_base
        host = self.options.grant_host
        if host is None and self.config.host == DEFAULT_HOST:
            host = GRANT_HOST  # Deepgram's REST API is on another host than the agent
        if host:
            base = f"{urlsplit(base).scheme}://{host}"
        return base + self._spec.grant_path

    def handshake_step(self) -> HttpRequest | WebSocketRequest | None:
        if self._opened:
            return None
        if self.options.auth == "grant" and self._jwt is None:
            return HttpRequest(
                "POST",
                self.grant_url,
                headers=(
                    ("Authorization", Secret("Token " + self._api_key.reveal())),
                    ("Content-Type", "application/json"),
                ),
                json={},
                timeout=self.options.connect_timeout,
            )
        if self._jwt is not None:
            authorization = Secret("Bearer " + self._jwt.reveal())
            redact: tuple[Secret, ...] = (self._jwt,)
        else:
            authorization = Secret("Token " + self._api_key.reveal())
            redact = ()
        return WebSocketRequest(
            url=self.config.ws_base + self._spec.converse_path,
            headers=(("Authorization", authorization),),
            open_timeout=self.options.connect_timeout,
            first_message_timeout=self.options.connect_timeout,
            redact=redact,
        )

    def receive_http_response(self, response: HttpResponse) -> None:
        """Take the JWT from the grant's 200, or raise the typed error."""
        if self.options.auth != "grant" or self._jwt is not None or self._opened:
            raise RuntimeError("DeepgramCodec: no HTTP request is pending")
        url = self.grant_url
        body = response.grant(self.provider, url=url)
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            # Key names only: the body may hold a credential under another name.
            keys = sorted(body) if isinstance(body, dict) else type(body).__name__
            raise TokenRequestError(
                self.provider,
                200,
                f"the grant answer has no non-empty string 'access_token': {keys}",
                url=url,
            )
        self._jwt = Secret(token)

    def connection_opened(self) -> None:
        """Queue ``Settings`` (module docstring)."""
        if self._opened:
            raise RuntimeError("DeepgramCodec: connection_opened called twice")
        self._opened = True
        o = self.options
        self._send_json(
            m.settings(
                input_sample_rate=INPUT_FORMAT.sample_rate,
                output_sample_rate=OUTPUT_FORMAT.sample_rate,
                listen_model=o.listen_model,
                language=o.language,
                think_provider=o.think_provider,
                think_model=o.think_model,
                speak_model=o.speak_model,
                prompt=o.prompt,
                greeting=o.greeting,
                functions=[f.model_dump() for f in o.functions] or None,
            )
        )

    # -- keep-alive ---------------------------------------------------------------

    def _send(self, frame: OutFrame) -> None:
        self._sent_since_tick = True
        super()._send(frame)

    def get_timer(self) -> float | None:
        if not self._interval or self.ended or self.closing:
            return None
        return self._next_tick

    def handle_timer(self, now: float) -> None:
        if not self._opened or not self._interval or self.ended or self.closing:
            return
        if self._next_tick is not None and now < self._next_tick:
            return
        if self._next_tick is not None and not self._sent_since_tick:
            self._send_json(m.keep_alive())
        self._sent_since_tick = False
        self._next_tick = now + self._interval

    # -- frames from the server ---------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            self._on_audio(frame)
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

    def _on_welcome(self, message: dict[str, Any]) -> None:
        request_id = string(message.get("request_id"), "request_id")
        if self._started:
            self._error("unexpected_message", "Welcome received twice; ignored")
            return
        self._started = True
        self._emit(SessionStarted(session_id=request_id))

    def _on_settings_applied(self, message: dict[str, Any]) -> None:
        if self._applied:
            self._error("unexpected_message", "SettingsApplied received twice; ignored")
            return
        if not self._started:
            self._started = True
            self._emit(SessionStarted())
        self._applied = True
        self._emit(AgentReady())
        held, self._held = self._held, deque()
        self._held_audio = 0
        for frame in held:
            self._send(frame)
        if self._close_pending:
            self._send(CloseFrame(1000, "client closed"))

    def _on_user_started_speaking(self, message: dict[str, Any]) -> None:
        if self._turn is not None:
            turn = self._turn
            self._close_turn()
            self._fenced = True
            self._emit(Interruption(turn_id=turn))
        self._user_speaking = True
        self._emit(UserSpeechStarted())

    def _on_conversation_text(self, message: dict[str, Any]) -> None:
        role = string(message.get("role"), "role")
        content = string(message.get("content"), "content")
        if role == "user":
            self._fenced = False  # a new user turn: what follows answers it
            if content:
                self._emit(UserTranscript(text=content, final=True))
            if self._user_speaking:
                self._user_speaking = False
                self._emit(UserSpeechStopped())
            return
        if role != "assistant":
            self._unknown(message)
            return
        self._fenced = False
        turn = self._turn or self._open_turn()
        previous = self._turn_text
        self._turn_text = join_statement(previous, content)
        if self._turn_text != previous:
            self._emit(
                AgentText(
                    text=self._turn_text,
                    delta=self._turn_text[len(previous) :],
                    final=False,
                    turn_id=turn,
                )
            )

    def _on_agent_started_speaking(self, message: dict[str, Any]) -> None:
        self._fenced = False
        if self._turn is None:
            self._open_turn()
        self._unknown(message)  # the latencies: no normalized event (module docstring)

    def _on_agent_audio_done(self, message: dict[str, Any]) -> None:
        if self._turn is None:
            if not self._fenced:
                self._emit(AgentAudioDone(turn_id=None))
            return  # the interrupted turn's end: fenced
        turn, text = self._turn, self._turn_text
        self._close_turn()
        if text:
            self._emit(AgentText(text=text, delta="", final=True, turn_id=turn))
        self._emit(AgentAudioDone(turn_id=turn))

    def _open_turn(self) -> str:
        self._turn_count += 1
        self._turn = f"turn-{self._turn_count}"
        self._turn_text = ""
        return self._turn

    def _close_turn(self) -> None:
        self._turn = None
        self._turn_text = ""

    def _on_audio(self, pcm: bytes) -> None:
        if self._fenced:
            self._fenced_frames += 1
            return
        width = OUTPUT_FORMAT.frame_width
        if len(pcm) % width:
            self._error(
                "odd_length_audio",
                f"binary frame of {len(pcm)} bytes is not whole 16-bit samples; "
                "the last byte was dropped",
            )
            pcm = pcm[: len(pcm) - len(pcm) % width]
        if not pcm:
            return
        turn = self._turn or self._open_turn()
        self._emit_audio(pcm, OUTPUT_FORMAT, turn)

    def _on_function_call_request(self, message: dict[str, Any]) -> None:
        functions = message.get("functions")
        if not isinstance(functions, list):
            raise MalformedField("functions", "a list")
        server_side = False
        for index, item in enumerate(functions):
            if not isinstance(item, dict):
                raise MalformedField(f"functions[{index}]", "an object")
            call_id = string(item.get("id"), f"functions[{index}].id")
            name = string(item.get("name"), f"functions[{index}].name")
            if not boolean(item.get("client_side"), f"functions[{index}].client_side", True):
                server_side = True
                continue
            arguments = self._arguments(call_id, name, item.get("arguments"))
            self._tool_names.set(call_id, name)
            self._emit(ToolCall(call_id=call_id, name=name, arguments=arguments))
        if server_side:
            self._unknown(message)  # the server runs these itself: for information only

    def _arguments(self, call_id: str, name: str, raw: Any) -> dict[str, Any]:
        if raw is None or raw == "":
            return {}
        if isinstance(raw, dict):
            return raw
        if isinstance(raw, str):
            try:
                value, _ = wirejson.decode(raw)  # depth-bounded: never a RecursionError
            except wirejson.MalformedJSON:
                value = None
            if isinstance(value, dict):
                return value
        self._error(
            "malformed_tool_arguments",
            f"FunctionCallRequest {call_id!r} ({name}): arguments are not a JSON object; "
            "the call is delivered with no arguments",
        )
        return {}

    def _on_error(self, message: dict[str, Any]) -> None:
        code = message.get("code")
        code = code if isinstance(code, str) and code else "deepgram_error"
        text = message.get("description")
        text = text if isinstance(text, str) and text else "(no description)"
        self._last_error = code
        if not self._applied:
            # Settings refused (INVALID_SETTINGS, [SDK] docstrings): the
            # server closes; the session cannot go on.
            self._error(code, text, fatal=True)
            self._end(
                "error", provider_reason=code, close=CloseFrame(1000, "settings were refused")
            )
            return
        self._error(code, text)

    def _on_warning(self, message: dict[str, Any]) -> None:
        code = message.get("code")
        code = code if isinstance(code, str) and code else "deepgram_warning"
        text = message.get("description")
        self._error(code, text if isinstance(text, str) and text else "(no description)")

    def _on_close_requested(self) -> None:
        """Close 1000; while commands are held for ``SettingsApplied``, after
        they are sent (what the application sent before closing is not lost)."""
        if self._opened and not self._applied and self._held:
            self._close_pending = True
        else:
            self._send(CloseFrame(1000, "client closed"))

    def _on_closed(self, code: int | None, reason: str) -> None:
        self._end(
            default_close_reason(code, client_closing=self.closing),
            provider_reason=reason or self._last_error,
            close_code=code,
        )

    # -- commands from the application ------------------------------------------------

    def _on_send_audio(self, pcm: bytes) -> None:
        # The hot path (every 20 ms); SendAudio commands come here too.
        if not pcm:
            return
        INPUT_FORMAT.check(pcm, what="send_audio pcm")
        if self._applied:
            self._send(pcm)
            return
        if self._held_audio + len(pcm) > self._limit:
            raise BufferOverflowError(self.provider, self._limit, self._held_audio, len(pcm))
        self._held.append(pcm)
        self._held_audio += len(pcm)

    def _on_command(self, command: Command) -> None:
        if isinstance(command, SendAudio):
            self._on_send_audio(command.pcm)
        elif isinstance(command, SendText):
            self._command_json(m.inject_user_message(command.text))
        elif isinstance(command, SendToolResult):
            name = self._tool_names.pop(command.call_id, "")
            self._command_json(m.function_call_response(command.call_id, name, command.output))
        else:
            raise UnsupportedCommandError(
                self.provider, COMMAND_CAPABILITY.get(command.type, command.type), command.type
            )

    def _command_json(self, message: dict[str, Any]) -> None:
        frame = m.encode(message)
        if self._applied:
            self._send(frame)
        else:
            self._held.append(frame)
