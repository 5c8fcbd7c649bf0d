"""What a provider's protocol can do, as documented booleans.

Capabilities are data on each plugin. They gate commands at run time (calling
``send_text`` on a provider without ``text_input`` raises
:class:`~voiceadapters.errors.UnsupportedCommandError` naming both) and decide
which conformance cases apply to a plugin.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

__all__ = ["Capabilities"]


class Capabilities(BaseModel):
    """Each field says whether the provider's wire protocol carries the feature."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    user_transcripts: bool = False
    """Emits ``user_transcript`` events (speech-to-text of the user)."""
    agent_text: bool = False
    """Emits ``agent_text`` events (what the agent says, as text)."""
    speech_events: bool = False
    """Emits ``user_speech_started`` / ``user_speech_stopped``."""
    interruption_events: bool = False
    """Tells the client when the user barged in (``interruption``)."""
    agent_audio_done: bool = False
    """Marks the end of each agent turn's audio (``agent_audio_done``)."""
    tool_calls: bool = False
    """Emits ``tool_call`` and accepts ``send_tool_result``."""
    emotion: bool = False
    """Emits ``emotion`` scores."""
    text_input: bool = False
    """Accepts ``send_text``."""
    client_interrupt: bool = False
    """Accepts ``interrupt`` (the client stops the agent)."""
    manual_turns: bool = False
    """Accepts ``end_turn`` (the application, not the provider's voice
    activity detection, says the user's turn is over: push-to-talk)."""
    agent_ready: bool = False
    """Emits ``agent_ready`` as a step after ``session_started``."""
    end_reasons: bool = False
    """The provider says why a session ended (``provider_reason``)."""

    def enabled(self) -> list[str]:
        """Names of the capabilities that are true."""
        return [name for name, value in self.model_dump().items() if value]
