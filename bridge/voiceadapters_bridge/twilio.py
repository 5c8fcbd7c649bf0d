"""The Twilio Media Streams front (``/twilio``), a sans-I/O server-side codec.

Twilio's bidirectional stream (TwiML ``<Connect><Stream url="wss://…/twilio">``)
sends JSON text frames; every numeric field arrives as a string (Twilio docs,
*Media Streams — WebSocket messages*):

* ``connected`` — ``{"event":"connected","protocol":"Call","version":"1.0.0"}``;
* ``start`` — ``start.streamSid``, ``start.callSid``,
  ``start.customParameters`` (the ``<Parameter>``\\ s of the TwiML) and
  ``start.mediaFormat`` (``audio/x-mulaw``, 8000 Hz, 1 channel). The provider
  session opens here: custom parameters become agent options (the bridge
  applies only those it allows) and a ``token`` parameter is the client's
  credential, since Twilio's stream URL cannot carry a query string;
* ``media`` — ``media.payload``: base64 μ-law 8 kHz mono, normally 20 ms;
  ``media.track`` ``inbound`` is the caller;
* ``dtmf`` — ``dtmf.digit``; sent to the agent as user text
  (``dtmf_as_text``) when the provider takes text, else counted and dropped;
* ``mark`` — the echo of a mark this front sent, once the audio queued before
  it has played (or a ``clear`` dropped it). The front marks every
  :data:`PLAY_MARK_EVERY` seconds of a turn's audio, and an echo becomes
  ``ReportPlayed(turn_id, seconds)`` for the session: the caller's playback
  position, which providers that keep the agent's reply in memory use to
  truncate it on barge-in ("playback position is known from mark echoes, not
  from bytes sent"). Echoes of marks a ``clear`` dropped report nothing;
* ``stop`` — the stream is over: the provider session is closed.

Towards Twilio: ``media`` (``{"event":"media","streamSid":…,"media":{"payload":…}}``),
``mark`` during and after each agent turn's audio, and ``clear`` on barge-in (the
provider's ``interruption``), which flushes the audio Twilio has buffered so
the caller hears nothing stale; audio of the interrupted turn that still
arrives afterwards is dropped here.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, ClassVar

from voiceadapters import wirejson
from voiceadapters.commands import Close, ReportPlayed, SendAudio, SendText
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    Event,
    Interruption,
    SessionEnded,
)
from voiceadapters.fields import base64_data
from voiceadapters.format import AudioFormat
from voiceadapters.frames import Frame

from .front import Front, FrontFacts, OpenSession
from .g711 import pcm16_to_ulaw, ulaw_to_pcm16

__all__ = ["TwilioFront"]

#: The one media format of a Twilio stream (``start.mediaFormat``).
MULAW_8K = AudioFormat(8000)
#: Seconds of a turn's audio between two playback marks.
PLAY_MARK_EVERY = 0.5
#: Marks held awaiting their echo (Twilio echoes every one; a bound all the same).
MAX_PENDING_MARKS = 200


class TwilioFront(Front):
    """Serves one Twilio Media Stream (see the module docstring)."""

    name: ClassVar[str] = "twilio"
    route: ClassVar[str] = "/twilio"
    audio_format: AudioFormat = MULAW_8K
    credential_in_protocol: ClassVar[bool] = True

    def __init__(self, facts: FrontFacts, *, dtmf_as_text: bool | None = None) -> None:
        super().__init__(facts)
        if dtmf_as_text is None:
            dtmf_as_text = bool(facts.settings.get("dtmf_as_text", False))
        self.dtmf_as_text = dtmf_as_text
        self.stream_sid: str | None = None
        self.call_sid: str | None = None
        self.protocol_version: str | None = None
        self.started = False
        self.stopped = False
        #: Marks sent and not yet echoed, oldest first.
        self.pending_marks: list[str] = []
        #: What each pending mark stands for: (turn_id, seconds of the turn
        #: played once it is echoed), or None once a clear dropped its audio.
        self._mark_positions: dict[str, tuple[str | None, float] | None] = {}
        #: Marks Twilio echoed (played, or dropped by a clear), in order; the last 100.
        self.echoed_marks: list[str] = []
        self.dtmf_digits: list[str] = []
        self.clears_sent = 0
        self.media_in = 0
        self.media_out = 0
        self._interrupted: set[str] = set()
        self._turn_has_audio = False
        self._audio_turn: str | None = None
        self._turn_seconds = 0.0
        self._next_play_mark = PLAY_MARK_EVERY
        self._marks = 0

    def summary(self) -> str:
        return (
            f"media {self.media_in} in / {self.media_out} out, marks "
            f"{len(self.echoed_marks)} echoed / {len(self.pending_marks)} pending, "
            f"{self.clears_sent} clear(s), {len(self.dtmf_digits)} dtmf, "
            f"{self.malformed} malformed"
        )

    # -- client → bridge -----------------------------------------------------

    def connection_opened(self) -> None:
        """Nothing to say: Twilio speaks first (``connected``, then ``start``)."""

    def _on_frame(self, frame: Frame) -> None:
        try:
            message, _ = wirejson.decode(frame)
        except wirejson.MalformedJSON:
            self.malformed += 1
            return
        if not isinstance(message, dict):
            self.malformed += 1
            return
        event = message.get("event")
        if event == "media":
            self._on_media(message)
        elif event == "connected":
            version = message.get("version")
            self.protocol_version = version if isinstance(version, str) else None
        elif event == "start":
            self._on_start(message)
        elif event == "mark":
            self._on_mark(message)
        elif event == "dtmf":
            self._on_dtmf(message)
        elif event == "stop":
            self._on_stop()
        else:
            self.malformed += 1

    def _on_start(self, message: dict[str, Any]) -> None:
        start = message.get("start")
        if self.started or not isinstance(start, dict):
            self.malformed += 1
            return
        media_format = start.get("mediaFormat")
        if isinstance(media_format, dict):
            encoding = media_format.get("encoding")
            rate = str(media_format.get("sampleRate", "8000"))
            channels = str(media_format.get("channels", "1"))
            if encoding not in (None, "audio/x-mulaw") or rate != "8000" or channels != "1":
                # 1003: unsupported data (RFC 6455 §7.4.1).
                self._close(1003, f"unsupported media format {encoding} {rate} Hz {channels} ch")
                return
        sid = start.get("streamSid", message.get("streamSid"))
        self.stream_sid = sid if isinstance(sid, str) else None
        call = start.get("callSid")
        self.call_sid = call if isinstance(call, str) else None
        params = start.get("customParameters")
        options: dict[str, str] = {}
        credential = None
        if isinstance(params, dict):
            for key, value in params.items():
                if not isinstance(value, str):
                    continue
                if key == "token":
                    credential = value
                else:
                    options[str(key)] = value
        self.started = True
        self._act(OpenSession(options=options, credential=credential))

    def _on_media(self, message: dict[str, Any]) -> None:
        media = message.get("media")
        if not self.started or self.stopped or not isinstance(media, dict):
            self.malformed += 1
            return
        if media.get("track", "inbound") not in ("inbound", "inbound_track"):
            return
        payload = media.get("payload")
        if not isinstance(payload, str):
            self.malformed += 1
            return
        try:
            ulaw = base64_data(payload)
        except (binascii.Error, ValueError):
            self.malformed += 1
            return
        if ulaw:
            self.media_in += 1
            self._act(SendAudio(pcm=ulaw_to_pcm16(ulaw)))

    def _on_mark(self, message: dict[str, Any]) -> None:
        mark = message.get("mark")
        name = mark.get("name") if isinstance(mark, dict) else None
        if not isinstance(name, str) or name not in self.pending_marks:
            self.malformed += 1
            return
        self.pending_marks.remove(name)
        self.echoed_marks = [*self.echoed_marks[-99:], name]
        position = self._mark_positions.pop(name, None)
        if position is not None and self.started and not self.stopped:
            turn_id, seconds = position
            self._act(ReportPlayed(turn_id=turn_id, seconds=seconds))

    def _on_dtmf(self, message: dict[str, Any]) -> None:
        dtmf = message.get("dtmf")
        digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
        if not isinstance(digit, str) or len(digit) != 1:
            self.malformed += 1
            return
        self.dtmf_digits = [*self.dtmf_digits[-99:], digit]
        if self.dtmf_as_text and self.facts.capabilities.text_input and self.started:
            self._act(SendText(text=f"DTMF {digit}"))

    def _on_stop(self) -> None:
        if self.stopped:
            return
        self.stopped = True
        if self.started:
            self._act(Close())

    # -- provider → Twilio -------------------------------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, AgentAudio):
            if event.turn_id in self._interrupted or self.stream_sid is None or self.stopped:
                return
            if not self._turn_has_audio or event.turn_id != self._audio_turn:
                # A new turn (providers without agent_audio_done start one
                # by changing the turn id).
                self._turn_has_audio = True
                self._audio_turn = event.turn_id
                self._turn_seconds = 0.0
                self._next_play_mark = PLAY_MARK_EVERY
            self.media_out += 1
            payload = base64.b64encode(pcm16_to_ulaw(event.pcm)).decode("ascii")
            self._send_json(
                {"event": "media", "streamSid": self.stream_sid, "media": {"payload": payload}}
            )
            self._turn_seconds += event.duration
            if self._turn_seconds >= self._next_play_mark:
                self._next_play_mark += PLAY_MARK_EVERY
                self._mark("play", event.turn_id)
        elif isinstance(event, AgentAudioDone):
            if self._turn_has_audio and event.turn_id not in self._interrupted:
                self._mark(f"turn-{event.turn_id}" if event.turn_id else "turn", event.turn_id)
            self._turn_has_audio = False
        elif isinstance(event, Interruption):
            # Without a turn id the session's own fence is all there is
            # (it discards queued audio of the interrupted turn).
            if event.turn_id is not None:
                if len(self._interrupted) >= 64:
                    self._interrupted.clear()
                self._interrupted.add(event.turn_id)
            if self.stream_sid is not None:
                self.clears_sent += 1
                self._send_json({"event": "clear", "streamSid": self.stream_sid})
                # Twilio echoes the marks whose audio the clear dropped: those
                # echoes say nothing about what the caller heard.
                for name in self.pending_marks:
                    self._mark_positions[name] = None
            self._turn_has_audio = False
        elif isinstance(event, SessionEnded):
            code = 1000 if event.reason in ("completed", "client_closed") else 1011
            self._close(code, f"session ended: {event.reason}")

    def _mark(self, base: str, turn_id: str | None) -> None:
        self._marks += 1
        name = f"{base}#{self._marks}"
        self.pending_marks.append(name)
        self._mark_positions[name] = (turn_id, round(self._turn_seconds, 3))
        if len(self.pending_marks) > MAX_PENDING_MARKS:
            self._mark_positions.pop(self.pending_marks.pop(0), None)
        self._send_json({"event": "mark", "streamSid": self.stream_sid, "mark": {"name": name}})

    def _send_json(self, message: dict[str, Any]) -> None:
        self._send(json.dumps(message, separators=(",", ":")))
