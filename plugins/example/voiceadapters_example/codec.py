"""The client codec: the Parrot protocol, with no I/O.

A codec is a pure state machine (:mod:`voiceadapters.codec`). Its inputs —
``handshake_step``/``connection_opened``, ``receive_frame``, ``receive_closed``,
``send`` — only change its state; after every one of them the driver drains
``frames_to_send()`` and ``events_received()``. This class therefore only
implements the hooks the base class leaves open (``_on_frame``,
``_on_command``) and reports through its helpers (``_emit``, ``_send``,
``_end``); the base class already refuses commands the capabilities exclude,
turns the application's close into a WebSocket close 1000, maps close codes
to end reasons and keeps ``session_ended`` exactly-once and last.

Server messages → events::

    {"event": "ready", "session": id}  → session_started(session_id=id)
    {"event": "heard", "text": …,      → user_transcript(text, final, turn_id)
     "final": …, "turn": …}
    {"event": "speaking", "turn": t}   → (nothing: later binary frames are turn t)
    binary frame                       → agent_audio (16 kHz PCM, turn t)
    {"event": "done", "turn": t}       → agent_audio_done(turn_id=t)
    {"event": "error", "code": …,      → provider_error (not fatal)
     "message": …}
    {"event": "bye", "reason": r}      → session_ended(reason, provider_reason=r), reason
                                         server_shutdown if r is "shutdown", else completed
    a known event with fields missing  → provider_error("malformed_message")
     or mistyped
    a text frame that is not a JSON    → provider_error("malformed_json" or
     object                              "malformed_message"), from the base class
    any other JSON object              → unknown_message(raw=<the object>)

Commands: ``send_audio`` → one binary frame of raw PCM; ``close`` → close 1000.
"""

from __future__ import annotations

from typing import Any

from voiceadapters.codec import Codec
from voiceadapters.commands import Command, SendAudio
from voiceadapters.config import ProviderConfig
from voiceadapters.events import (
    AgentAudioDone,
    EndReason,
    ProviderError,
    SessionStarted,
    UnknownMessage,
    UserTranscript,
)
from voiceadapters.handshake import Frame, WebSocketRequest
from voiceadapters.secrets import Secret

from .provider import API_KEY_ENV, TALK_PATH, WIRE_FORMAT, ExampleOptions, ExampleProvider

__all__ = ["BYE_REASONS", "ExampleCodec"]

#: ``bye`` reasons → normalized end reasons (any other reason: ``completed``).
BYE_REASONS: dict[str, EndReason] = {"goodbye": "completed", "shutdown": "server_shutdown"}

_KNOWN = ("ready", "heard", "speaking", "done", "error", "bye")


class ExampleCodec(Codec):
    """Client side of one Parrot session. Raises ``ConfigError`` without an API key."""

    def __init__(self, config: ProviderConfig, provider: ExampleProvider | None = None) -> None:
        # The provider declares the name, capabilities and wire formats.
        super().__init__(provider or ExampleProvider())
        self.config = config
        self.options = config.options_as(ExampleOptions)
        self._api_key = config.require_api_key(API_KEY_ENV)
        self._opened = False
        #: The turn that binary frames belong to (announced by ``speaking``).
        self._turn: str | None = None

    def __repr__(self) -> str:
        return f"<ExampleCodec {self.config}>"  # the config masks the key

    # -- handshake: one WebSocket, described as data ---------------------------

    def handshake_step(self) -> WebSocketRequest | None:
        if self._opened:
            return None
        return WebSocketRequest(
            url=self.config.ws_base + TALK_PATH,
            query=(("voice", self.options.voice),),
            # A Secret: masked in every repr, revealed only on the wire.
            headers=(("Authorization", Secret("Bearer " + self._api_key.reveal())),),
        )

    def connection_opened(self) -> None:
        self._opened = True  # no first message: the server speaks first ("ready")

    # -- frames from the server --------------------------------------------------

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            self._on_audio(frame)
            return
        # The base class decodes any frame safely: not JSON, too deep, not an
        # object → a provider_error and None (voiceadapters.wirejson).
        message = self._parse_json_object(frame)
        if message is not None:
            self._on_message(message)

    def _on_message(self, message: Any) -> None:
        match message:
            case {"event": "ready", "session": str(session_id)}:
                self._emit(SessionStarted(session_id=session_id))
            case {"event": "heard", "text": str(text), "final": bool(final), "turn": str(turn)}:
                self._emit(UserTranscript(text=text, final=final, turn_id=turn))
            case {"event": "speaking", "turn": str(turn)}:
                self._turn = turn
            case {"event": "done", "turn": str(turn)}:
                self._turn = None
                self._emit(AgentAudioDone(turn_id=turn))
            case {"event": "error", "code": str(code), "message": str(text)}:
                self._emit(ProviderError(code=code, message=text))
            case {"event": "bye", "reason": str(reason)}:
                self._end(BYE_REASONS.get(reason, "completed"), provider_reason=reason)
            case {"event": str(event)} if event in _KNOWN:
                self._emit(
                    ProviderError(
                        code="malformed_message",
                        message=f"{event!r} with missing or mistyped fields: {message!r:.120}",
                    )
                )
            case _:
                self._emit(UnknownMessage(raw=message))

    def _on_audio(self, pcm: bytes) -> None:
        if len(pcm) % WIRE_FORMAT.frame_width:  # not whole 16-bit samples
            self._emit(
                ProviderError(
                    code="odd_length_audio",
                    message=f"binary frame of {len(pcm)} bytes; the last byte was dropped",
                )
            )
            pcm = pcm[:-1]
        if pcm:
            self._emit_audio(pcm, WIRE_FORMAT, self._turn)

    # -- commands from the application -------------------------------------------

    def _on_command(self, command: Command) -> None:
        # The base class already refused what the capabilities exclude
        # (send_text, interrupt, send_tool_result) and handles close, so only
        # audio gets here. It is already in WIRE_FORMAT: the session converts it.
        if isinstance(command, SendAudio):
            self._on_send_audio(command.pcm)

    def _on_send_audio(self, pcm: bytes) -> None:
        # Microphone audio from Codec.handle_audio (the session's path for
        # every 20 ms, without building a SendAudio) and from _on_command.
        if pcm:
            self._send(pcm)
