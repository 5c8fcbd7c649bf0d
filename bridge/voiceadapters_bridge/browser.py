"""The browser front (``/browser``): the bridge page's own WebSocket protocol.

A small protocol of the bridge's, documented in ``docs/bridge.md#the-page``;
events reuse the normalized event model's JSON (``event_to_log``), so the page
sees what a Python application sees.

Client → bridge:

* binary frames: microphone audio, 16-bit little-endian PCM, mono, 16 kHz
  (:data:`BROWSER_FORMAT`), any length (an even number of bytes);
* text frames, JSON objects: ``{"type": "text", "text": …}``,
  ``{"type": "interrupt"}``, ``{"type": "end_turn"}`` (push-to-talk, providers
  with ``manual_turns``), ``{"type": "played", "turn_id": …, "seconds": …}``
  (how much of a turn's audio the client has played, for providers that
  truncate the agent's memory on barge-in), ``{"type": "tool_result",
  "call_id": …, "output": …}``, ``{"type": "close"}``.

Bridge → client:

* first ``{"type": "bridge.ready", "provider": …, "sample_rate": 16000,
  "capabilities": [...]}``;
* binary frames: agent audio in the same format;
* text frames: every other event as its JSON (``{"type": "user_transcript",
  "text": …, "final": …}``, ``{"type": "interruption", …}``…), where
  ``agent_audio`` is announced once per turn as ``{"type": "agent_audio",
  "turn_id": …}`` before its binary frames, and
  ``{"type": "bridge.error", "message": …}`` for a command the front or the
  provider refused;
* before closing, ``{"type": "bridge.closing", "code": …, "reason": …}``, so
  that a page sees why even where the browser hides close reasons.
"""

from __future__ import annotations

import json
from typing import Any, ClassVar

from voiceadapters import wirejson
from voiceadapters.commands import (
    Close,
    Command,
    EndTurn,
    Interrupt,
    ReportPlayed,
    SendAudio,
    SendText,
    SendToolResult,
)
from voiceadapters.events import AgentAudio, Event, Interruption, SessionEnded, event_to_log
from voiceadapters.format import AudioFormat
from voiceadapters.frames import Frame

from .front import Front, FrontFacts, OpenSession

__all__ = ["BROWSER_FORMAT", "BrowserFront"]

#: The page's audio, both ways.
BROWSER_FORMAT = AudioFormat(16000)


class BrowserFront(Front):
    """Serves the bridge page's WebSocket (see the module docstring)."""

    name: ClassVar[str] = "browser"
    route: ClassVar[str] = "/browser"
    audio_format: AudioFormat = BROWSER_FORMAT

    def __init__(self, facts: FrontFacts) -> None:
        super().__init__(facts)
        self._announced: set[str | None] = set()
        self._interrupted: set[str] = set()
        self.audio_frames_in = 0
        self.played_reports = 0

    def summary(self) -> str:
        return (
            f"audio frames {self.audio_frames_in} in, {self.played_reports} playback report(s), "
            f"{self.malformed} malformed"
        )

    def connection_opened(self) -> None:
        self._send_json(
            {
                "type": "bridge.ready",
                "provider": self.facts.provider,
                "sample_rate": BROWSER_FORMAT.sample_rate,
                "capabilities": list(self.facts.capabilities.enabled()),
            }
        )
        self._act(OpenSession(options=dict(self.facts.query)))

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            if len(frame) % 2:
                self._error("audio frames are 16-bit PCM: an even number of bytes")
                return
            if frame:
                self.audio_frames_in += 1
                self._act(SendAudio(pcm=frame))
            return
        try:
            message, _ = wirejson.decode(frame)
        except wirejson.MalformedJSON as exc:
            self._error(f"not JSON: {exc.message}")
            return
        if not isinstance(message, dict):
            self._error("a text frame is a JSON object")
            return
        command = self._command(message)
        if command is not None:
            self._act(command)

    def _command(self, message: dict[str, Any]) -> Command | None:
        kind = message.get("type")
        if kind == "text" and isinstance(message.get("text"), str):
            return SendText(text=message["text"])
        if kind == "interrupt":
            return Interrupt()
        if kind == "tool_result" and isinstance(message.get("call_id"), str):
            return SendToolResult.from_value(message["call_id"], message.get("output"))
        if kind == "end_turn":
            return EndTurn()
        if kind == "played":
            turn_id, seconds = message.get("turn_id"), message.get("seconds")
            # wirejson.decode already turned NaN and infinities away.
            if (
                (turn_id is None or isinstance(turn_id, str))
                and isinstance(seconds, int | float)
                and not isinstance(seconds, bool)
                and 0 <= seconds <= 86400
            ):
                self.played_reports += 1
                return ReportPlayed(turn_id=turn_id, seconds=float(seconds))
        if kind == "close":
            return Close()
        self._error(f"unknown or malformed command: {wirejson.dumps_excerpt(message, 120)}")
        return None

    def command_refused(self, command: Command, message: str) -> None:
        self._error(f"{command.type}: {message}")

    def _on_event(self, event: Event) -> None:
        if isinstance(event, AgentAudio):
            if event.turn_id in self._interrupted:
                return
            if event.turn_id not in self._announced:
                if len(self._announced) >= 64:
                    self._announced.clear()
                self._announced.add(event.turn_id)
                self._send_json({"type": "agent_audio", "turn_id": event.turn_id})
            self._send(event.pcm)
            return
        if isinstance(event, Interruption) and event.turn_id is not None:
            if len(self._interrupted) >= 64:
                self._interrupted.clear()
            self._interrupted.add(event.turn_id)
        self._send(json.dumps(event_to_log(event), separators=(",", ":"), default=str))
        if isinstance(event, SessionEnded):
            code = 1000 if event.reason in ("completed", "client_closed") else 1011
            self._close(code, f"session ended: {event.reason}")

    def _close(self, code: int, reason: str) -> None:
        if not self.closed:
            self._send_json({"type": "bridge.closing", "code": code, "reason": reason})
        super()._close(code, reason)

    def _error(self, message: str) -> None:
        self.malformed += 1
        self._send_json({"type": "bridge.error", "message": message})

    def _send_json(self, message: dict[str, Any]) -> None:
        self._send(json.dumps(message, separators=(",", ":")))
