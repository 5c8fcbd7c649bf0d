"""Commands: what an application asks of a session, as frozen values.

:class:`voiceadapters.Session` builds these from its methods and hands them to
the plugin's codec (``codec.handle_command(command)``). At the codec, ``SendAudio.pcm``
is already in the plugin's *wire* input format: the session converts the
application's audio before it gets there.

Which commands a provider can carry is declared in its capabilities
(:mod:`voiceadapters.capabilities`); :data:`COMMAND_CAPABILITY` says which
capability each optional command needs.
"""

from __future__ import annotations

import json
import math
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, field_validator

__all__ = [
    "COMMAND_CAPABILITY",
    "Close",
    "Command",
    "CommandAdapter",
    "EndTurn",
    "Interrupt",
    "ReportPlayed",
    "SendAudio",
    "SendText",
    "SendToolResult",
]


class _Command(BaseModel):
    # Built on first use, as events are (voiceadapters.events): not at import.
    model_config = ConfigDict(frozen=True, extra="forbid", defer_build=True)


class SendAudio(_Command):
    """Microphone audio, raw PCM in the wire input format of the plugin."""

    type: Literal["send_audio"] = "send_audio"
    pcm: bytes

    def __repr__(self) -> str:
        return f"SendAudio(pcm=<{len(self.pcm)} bytes>)"

    __str__ = __repr__


class SendToolResult(_Command):
    """The result of a ``tool_call``. ``output`` is sent as a string; use
    :meth:`from_value` to JSON-encode a structured result."""

    type: Literal["send_tool_result"] = "send_tool_result"
    call_id: str
    output: str

    @classmethod
    def from_value(cls, call_id: str, output: Any) -> SendToolResult:
        text = output if isinstance(output, str) else json.dumps(output, separators=(",", ":"))
        return cls(call_id=call_id, output=text)


class SendText(_Command):
    """User text injected into the conversation instead of speech."""

    type: Literal["send_text"] = "send_text"
    text: str


class Interrupt(_Command):
    """Ask the agent to stop speaking now."""

    type: Literal["interrupt"] = "interrupt"


class EndTurn(_Command):
    """The user's turn is over: answer now (push-to-talk, or a provider whose
    turn detection the application turned off). Capability ``manual_turns``."""

    type: Literal["end_turn"] = "end_turn"


class ReportPlayed(_Command):
    """How much agent audio of turn ``turn_id`` the application has actually
    played: ``seconds`` from the start of that turn's audio, cumulative (each
    report replaces the previous one for the turn).

    Advisory: a codec whose protocol can use it (to truncate the agent's
    memory of a reply to what the user heard, when the user barges in) keeps
    it; every other codec ignores it (:meth:`voiceadapters.codec.Codec._on_played`).
    It needs no capability and never fails because a provider cannot use it.
    """

    type: Literal["report_played"] = "report_played"
    turn_id: str | None
    seconds: float = Field(ge=0.0)

    @field_validator("seconds")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError("seconds must be a finite number")
        return value


class Close(_Command):
    """End the session from the client side."""

    type: Literal["close"] = "close"


Command = Annotated[
    SendAudio | SendToolResult | SendText | Interrupt | EndTurn | ReportPlayed | Close,
    Field(discriminator="type"),
]
CommandAdapter: TypeAdapter[Command] = TypeAdapter(Command, config=ConfigDict(defer_build=True))

#: Capability (in :class:`~voiceadapters.capabilities.Capabilities`) that each
#: optional command requires. ``send_audio``, ``report_played`` and ``close``
#: need none.
COMMAND_CAPABILITY: dict[str, str] = {
    "send_tool_result": "tool_calls",
    "send_text": "text_input",
    "interrupt": "client_interrupt",
    "end_turn": "manual_turns",
}
