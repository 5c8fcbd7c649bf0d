"""The NextEVI provider side, sans I/O: the WebSocket endpoint and its sessions.

:class:`NextEVISimulator` accepts ``GET /ws/voice/{connection_id}?api_key=…
&config_id=…[&project_id=…]`` upgrades like the real service (the NextEVI wire
spec §1); each accepted socket is a :class:`NextEVIConnection` that turns
the provider-neutral :class:`~voiceadapters.simulator.agent.Agent`'s actions
into NextEVI messages built with :mod:`voiceadapters_nextevi.messages`. It
is hosted over real WebSocket by :class:`voiceadapters.simulator.SimulatorServer`
(which allows 64 MiB messages: seed 004's examples send whole files, §9.2)
or paired in memory with a codec by :class:`voiceadapters.testing.CodecPair`.

Upgrade and refusals (§9.7, §9.11, §9.13)
-----------------------------------------
A path other than ``/ws/voice/<one non-empty segment>`` is answered with an
HTTP 404. Everything else is *accepted*, and a refusal is then sent the way
the vendor clients understand it — one ``error`` message in every shape
(``error_code``/``error_message``, ``error``, ``data{code, message}``)
followed by a close with a 4xxx code (the React SDK stops retrying on
≥ 4000):

=====================================================  =========================  =====
condition                                              ``error_code``             close
=====================================================  =========================  =====
``api_key`` missing or not the simulator's key         ``AUTHENTICATION_FAILED``  4001
``config_id`` missing                                  ``CONFIG_NOT_FOUND``       4004
``config_id`` not in ``config_ids`` (when given)       ``CONFIG_NOT_FOUND``       4004
another open socket uses the same ``connection_id``    ``CONNECTION_ID_IN_USE``   4009
=====================================================  =========================  =====

By default any non-empty ``config_id`` is accepted (a server on which every
configuration exists); :attr:`NextEVISimulator.config_id` is the one its
config strings use. ``project_id`` is optional and recorded (§9.11).

The session
-----------
The server speaks the **superset** dialect (§9.1): every field top level and
mirrored in ``data``, plus ``timestamp`` (``epoch`` + the ``now`` it is
given, so runs are reproducible) and ``message_id`` (``srv-<n>``). It sends
``connection_metadata`` first, then maps the agent's actions:

=======================  ===================================================
agent action             messages
=======================  ===================================================
speech started           ``transcription`` with an empty transcript and
                         ``metadata.event_type: speech_started``
transcript               ``transcription`` (``is_final``, ``confidence``;
                         the final one of an utterance has
                         ``event_type: utterance_end`` and ``emotions``),
                         then, after a final one, ``emotion_update`` with
                         ``top_emotions`` items carrying ``name``,
                         ``emotion``, ``score``, ``confidence`` and
                         ``percentage`` (§9.5) and ``turn_complete``
agent text               ``llm_response_chunk``: deltas with
                         ``is_final: false``, then a final chunk carrying
                         the full text (``final_text="full"``, default) or
                         the last delta (``"delta"``), §9.4; with
                         ``generation_id`` ``gen-<n>`` and ``chunk_index``
agent speech             ``tts_chunk``: base64 raw PCM 24 kHz, or a whole
                         WAV file per chunk in WAV mode; ``is_last`` on
                         the last chunk of a reply
interruption             ``tts_interruption``
end of session           ``websocket.disconnect{code: 1001}``, close 1001
=======================  ===================================================

Client messages: binary frames and ``audio_input`` (``data.audio`` or flat
``audio``, base64) are both user audio, recorded in
:attr:`~voiceadapters.simulator.base.SimulatorConnection.received_audio` in
arrival order; ``session_settings`` in either dialect is recorded in
:attr:`NextEVIConnection.settings` (a rate other than 24 kHz mono is noted in
:attr:`NextEVIConnection.invalid` and 24 kHz assumed — the lenient choice of
§9.8; ``emotion_detection.enabled: false`` turns emotions off);
``keep_alive`` is counted and not answered (§9.9); ``text_input`` (flat or
``data.text``) goes to the agent; ``interrupt`` stops the agent and, if it
was speaking, is answered with ``tts_interruption``. Anything else is noted
in :attr:`NextEVIConnection.invalid` and ignored.

Scenarios
---------
``echo``, ``barge_in``, ``server_shutdown``
    The provider-neutral agent's (:mod:`voiceadapters.simulator.agent`).
``wav_chunks``
    Echo, each ``tts_chunk`` a complete WAV file (seed 004's browser example
    plays each chunk as ``audio/wav``, §8a). ``wav_rate`` picks its sample
    rate (default 24 kHz).
``idle_warning``
    Echo; once a reply has been spoken, ``idle_warning`` (``warning``), then
    ``idle_warning`` (``final_warning``), then ``system_message`` with
    ``message_type: hangup``, then close 1000 ``idle timeout``, one
    ``idle_delay * pace`` seconds apart (§5). User speech cancels the countdown.
``error``
    Echo, plus a non-fatal ``error`` (``TURN_DETECTION_FAILED``) after each
    final transcription; the session goes on.
``bad_wav``
    Echo, plus two broken ``tts_chunk``\\ s at the start of each reply: a WAV
    header cut short, and a WAV declaring 32-bit float samples.
``drop``
    Echo, but the connection is cut with no close frame right after the
    first ``tts_chunk``.
"""

from __future__ import annotations

import binascii
import struct
from collections import deque
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

from voiceadapters import wirejson
from voiceadapters.audio import wav_bytes
from voiceadapters.fields import base64_data
from voiceadapters.format import AudioFormat
from voiceadapters.handshake import CloseFrame, Frame, HttpResponse
from voiceadapters.simulator.agent import (
    Action,
    Agent,
    AgentSpeech,
    AgentTextOut,
    EndSession,
    Interrupted,
    SpeechStarted,
    TranscriptOut,
)
from voiceadapters.simulator.base import (
    MESSAGE_LIMIT,
    AgentConnection,
    DropConnection,
    SimRequest,
    Simulator,
    decode_json,
    json_response,
)
from voiceadapters.simulator.records import RecentList

from . import messages as m
from .provider import WIRE_FORMAT, NextEVIProvider

__all__ = [
    "DEFAULT_CONFIG_ID",
    "EMOTION_SCORES",
    "NextEVIConnection",
    "NextEVISimulator",
    "Rejection",
    "broken_wavs",
]

#: The configuration the simulator's config strings name (any is accepted by
#: default). Eight characters or more: the LiveKit plugin refuses shorter ids.
DEFAULT_CONFIG_ID = "cfg-simulator"

#: Emotion scores the simulated voice analysis reports for every utterance.
EMOTION_SCORES: dict[str, float] = {"calm": 0.62, "interest": 0.23, "joy": 0.15}

_AGENT_SCENARIOS = {"echo": "echo", "barge_in": "barge_in", "server_shutdown": "server_shutdown"}


def broken_wavs(fmt: AudioFormat = WIRE_FORMAT) -> list[bytes]:
    """The ``bad_wav`` scenario's chunks: a WAV whose header is cut short
    (the ``fmt `` chunk declares 16 bytes, 6 follow) and a complete WAV that
    declares 32-bit IEEE float samples (format tag 3)."""
    good = wav_bytes(bytes(fmt.bytes_for(0.02)), fmt)
    truncated = good[:26]
    wrong = bytearray(good)
    struct.pack_into("<H", wrong, 20, 3)  # format tag: IEEE float
    struct.pack_into("<H", wrong, 34, 32)  # bits per sample
    return [truncated, bytes(wrong)]


@dataclass(frozen=True)
class Rejection:
    """Why a socket is refused after it was accepted: the ``error`` sent and the close."""

    code: str
    message: str
    close_code: int
    close_reason: str


class NextEVISimulator(Simulator):
    """A simulated NextEVI service accepting ``api_key``; see the module docstring.

    ``scenario`` is one of :data:`voiceadapters_nextevi.provider.SCENARIOS`;
    ``pace`` scales real-time pacing (0: as fast as possible);
    ``config_ids`` limits the configurations that exist (``None``: any);
    ``wav_chunks`` sends each ``tts_chunk`` as a WAV file (on by default in
    the ``wav_chunks`` scenario) at ``wav_rate`` Hz; ``emotions`` turns
    emotion scores on; ``final_text`` chooses what the final
    ``llm_response_chunk`` carries (``full`` text or the last ``delta``);
    ``generation_ids`` adds ``generation_id`` to text chunks; ``epoch`` is
    added to ``now`` for ``timestamp``; ``idle_delay`` spaces the
    ``idle_warning`` scenario's messages.
    """

    def __init__(
        self,
        api_key: str,
        *,
        scenario: str | None = None,
        pace: float = 1.0,
        config_ids: Collection[str] | None = None,
        wav_chunks: bool | None = None,
        wav_rate: int = WIRE_FORMAT.sample_rate,
        emotions: bool = True,
        final_text: Literal["full", "delta"] = "full",
        generation_ids: bool = True,
        epoch: float = 1_700_000_000.0,
        idle_delay: float = 1.0,
        provider: NextEVIProvider | None = None,
    ) -> None:
        self.spec = provider or NextEVIProvider()
        # The base class checks the key and the scenario against the provider's list.
        super().__init__(self.spec, api_key=api_key, scenario=scenario, pace=pace)
        if final_text not in ("full", "delta"):
            raise ValueError(f"final_text must be 'full' or 'delta', not {final_text!r}")
        self.config_ids = frozenset(config_ids) if config_ids is not None else None
        self.wav_chunks = self.scenario == "wav_chunks" if wav_chunks is None else wav_chunks
        self.wav_format = AudioFormat(wav_rate)
        self.emotions = emotions
        self.final_text: Literal["full", "delta"] = final_text
        self.generation_ids = generation_ids
        self.epoch = epoch
        self.idle_delay = idle_delay

    def __repr__(self) -> str:
        return f"<NextEVISimulator scenario={self.scenario!r} config_id={self.config_id!r}>"

    @property
    def config_id(self) -> str:
        """The configuration id to connect with."""
        if self.config_ids:
            return sorted(self.config_ids)[0]
        return DEFAULT_CONFIG_ID

    def websocket_paths(self) -> tuple[str, ...]:
        return (self.spec.connection_path,)

    def handle_http(self, request: SimRequest, now: float) -> HttpResponse:
        """NextEVI has no REST step: every plain HTTP request is a 404."""
        return json_response(404, {"error": "not found"})

    def open_websocket(self, request: SimRequest, now: float) -> NextEVIConnection | HttpResponse:
        prefix = self.spec.connection_path
        connection_id = request.path[len(prefix) :]
        if not request.path.startswith(prefix) or not connection_id or "/" in connection_id:
            return json_response(404, {"error": "not found"})
        # These three are echoed in connection_metadata: text the client sent
        # that no UTF-8 frame can carry (a lone surrogate) is replaced first.
        connection_id = wirejson.scrub(connection_id)
        config_id = wirejson.scrub(request.query.get("config_id", ""))
        project_id = wirejson.scrub(request.query.get("project_id", "")) or None
        connection = NextEVIConnection(
            self._agent(),
            connection_id=connection_id,
            config_id=config_id,
            project_id=project_id,
            simulator=self,
            rejection=self._rejection(request, connection_id, config_id),
        )
        self.connections.append(connection)
        return connection

    def _agent(self) -> Agent:
        audio_out = self.wav_format if self.wav_chunks else WIRE_FORMAT
        scenario = _AGENT_SCENARIOS.get(self.scenario, "echo")
        return Agent(
            WIRE_FORMAT, audio_out, scenario=scenario, pace=self.pace, **self.agent_options()
        )

    def _rejection(
        self, request: SimRequest, connection_id: str, config_id: str
    ) -> Rejection | None:
        if not self.key_accepted(request.query.get("api_key")):
            return Rejection(
                "AUTHENTICATION_FAILED", "Invalid API key", 4001, "authentication failed"
            )
        if not config_id:
            return Rejection("CONFIG_NOT_FOUND", "config_id is required", 4004, "config not found")
        if self.config_ids is not None and config_id not in self.config_ids:
            return Rejection(
                "CONFIG_NOT_FOUND", f"Unknown config {config_id!r}", 4004, "config not found"
            )
        for other in self.connections:
            if (
                isinstance(other, NextEVIConnection)
                and other.connection_id == connection_id
                and not other.closed
            ):
                return Rejection(
                    "CONNECTION_ID_IN_USE",
                    f"connection {connection_id} is already open",
                    4009,
                    "connection id in use",
                )
        return None


class NextEVIConnection(AgentConnection):
    """One simulated NextEVI WebSocket session driven by ``agent``."""

    def __init__(
        self,
        agent: Agent,
        *,
        connection_id: str,
        config_id: str,
        project_id: str | None,
        simulator: NextEVISimulator,
        rejection: Rejection | None = None,
    ) -> None:
        super().__init__(agent)
        self.connection_id = connection_id
        self.config_id = config_id
        self.project_id = project_id
        self.rejection = rejection
        self.scenario = simulator.scenario
        #: ``session_settings`` messages received, as sent (the most recent
        #: ``MESSAGE_LIMIT``, as every record here).
        self.settings: RecentList[dict[str, Any]] = RecentList(MESSAGE_LIMIT)
        #: ``keep_alive`` messages received.
        self.keep_alives = 0
        #: ``text_input`` texts received.
        self.texts: RecentList[str] = RecentList(MESSAGE_LIMIT)
        #: ``interrupt`` messages received.
        self.interrupts = 0
        #: ``chunk_id``\\ s of the ``audio_input`` messages received.
        self.chunk_ids: RecentList[str | None] = RecentList(MESSAGE_LIMIT)
        #: Client input that was not understood, described, in order.
        self.invalid: RecentList[str] = RecentList(MESSAGE_LIMIT)
        #: Whether emotion scores are sent (the simulator's ``emotions``,
        #: switched off by ``emotion_detection.enabled: false``).
        self.emotion_detection = simulator.emotions
        self._wav = simulator.wav_format if simulator.wav_chunks else None
        self._final_text = simulator.final_text
        self._generation_ids = simulator.generation_ids
        self._epoch = simulator.epoch
        self._idle_step = simulator.idle_delay * simulator.pace
        self._message_count = 0
        self._carry = b""
        self._in_speech = False
        self._chunk_index: dict[str, int] = {}  # recent turns only: see _next_index
        self._replied: RecentList[str] = RecentList(16)
        self._audio_sent = False
        self._now = 0.0
        self._scheduled: deque[tuple[float, dict[str, Any] | CloseFrame]] = deque()

    def __repr__(self) -> str:
        return f"<NextEVIConnection {self.connection_id} scenario={self.scenario!r}>"

    # -- sending ---------------------------------------------------------------

    def _meta(self) -> dict[str, Any]:
        self._message_count += 1
        return {
            "timestamp": round(self._epoch + self._now, 3),
            "message_id": f"srv-{self._message_count}",
        }

    def _send_message(self, message: dict[str, Any]) -> None:
        self.send(m.encode(message))

    # -- inputs ------------------------------------------------------------------

    def opened(self, now: float) -> None:
        self._now = now
        if self.rejection is not None:
            r = self.rejection
            self._send_message(m.error(r.code, r.message, **self._meta()))
            self.send(CloseFrame(r.close_code, r.close_reason))
            return
        self._send_message(
            m.connection_metadata(
                self.connection_id,
                config_id=self.config_id,
                project_id=self.project_id,
                **self._meta(),
            )
        )

    def receive_frame(self, frame: Frame, now: float) -> None:
        if self.closed:
            return
        self._now = now
        if isinstance(frame, bytes):
            self.binary_frame_sizes.append(len(frame))
            self._user_audio(frame, now)
        else:
            self._on_text(frame, now)
        self.flush_agent(now)

    def _user_audio(self, pcm: bytes, now: float) -> None:
        self.received_audio += pcm
        data = self._carry + pcm if self._carry else pcm
        whole = len(data) & ~1
        self._carry = data[whole:]
        if whole:
            self.agent.user_audio(data[:whole], now)

    def _on_text(self, frame: str, now: float) -> None:
        try:
            message = decode_json(frame)
        except ValueError:
            self.received_messages.append(frame)
            self.invalid.append("text frame is not JSON")
            return
        if not (isinstance(message, dict) and message.get("type") == m.AUDIO_INPUT):
            # Audio is recorded as samples in received_audio; keeping every
            # audio message too would grow by megabytes a minute.
            self.received_messages.append(message)
        if not isinstance(message, dict):
            self.invalid.append("message is not a JSON object")
            return
        kind = message.get("type")
        if kind == m.SESSION_SETTINGS:
            self._on_settings(message)
        elif kind == m.AUDIO_INPUT:
            self._on_audio_input(message, now)
        elif kind == m.KEEP_ALIVE:
            self.keep_alives += 1
        elif kind == m.TEXT_INPUT:
            text = m.get_field(message, "text")
            if isinstance(text, str):
                self.texts.append(text)
                self.agent.user_text(text, now)
            else:
                self.invalid.append("text_input without a string 'text'")
        elif kind == m.INTERRUPT:
            self.interrupts += 1
            speaking = self.agent.speaking
            self.agent.interrupt(now)
            if speaking:
                self._send_message(m.tts_interruption(**self._meta()))
        else:
            self.invalid.append(f"unknown message type {kind!r}")

    def _on_settings(self, message: dict[str, Any]) -> None:
        self.settings.append(message)
        audio = m.get_field(message, "audio")
        source = audio if isinstance(audio, dict) else message
        rate = source.get("sample_rate", WIRE_FORMAT.sample_rate)
        channels = source.get("channels", 1)
        if (rate, channels) != (WIRE_FORMAT.sample_rate, 1):
            self.invalid.append(
                f"session_settings asks for {rate} Hz, {channels} channel(s); "
                "only 24000 Hz mono is supported, assumed"
            )
        emotion = m.get_field(message, "emotion_detection")
        if isinstance(emotion, dict):
            emotion = emotion.get("enabled")
        if emotion is False:
            self.emotion_detection = False

    def _on_audio_input(self, message: dict[str, Any], now: float) -> None:
        audio = m.get_field(message, "audio")
        if not isinstance(audio, str):
            self.invalid.append("audio_input without a string 'audio'")
            return
        try:
            pcm = base64_data(audio)
        except (binascii.Error, ValueError):
            self.invalid.append("audio_input is not valid base64")
            return
        chunk_id = m.get_field(message, "chunk_id")
        self.chunk_ids.append(chunk_id if isinstance(chunk_id, str) else None)
        self._user_audio(pcm, now)

    def get_timer(self) -> float | None:
        if self.closed:
            return None
        timers = [t for t in (self.agent.get_timer(),) if t is not None]
        if self._scheduled:
            timers.append(self._scheduled[0][0])
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> None:
        if self.closed:
            return
        self._now = now
        self.agent.handle_timer(now)
        self.flush_agent(now)
        while self._scheduled and self._scheduled[0][0] <= now and not self.closed:
            _, item = self._scheduled.popleft()
            if isinstance(item, CloseFrame):
                self.send(item)
            else:
                self._send_message({**item, **self._meta()})

    # -- agent actions → NextEVI messages -------------------------------------------

    def send_action(self, action: Action, now: float) -> None:
        if isinstance(action, AgentSpeech):
            self._on_speech(action)
        elif isinstance(action, AgentTextOut):
            self._on_text_out(action)
        elif isinstance(action, TranscriptOut):
            self._on_transcript(action)
        elif isinstance(action, SpeechStarted):
            self._in_speech = True
            self._scheduled.clear()  # the user is not idle: no hang-up
            self._send_message(
                m.transcription("", is_final=False, event_type="speech_started", **self._meta())
            )
        elif isinstance(action, Interrupted):
            self._send_message(m.tts_interruption(**self._meta()))
        elif isinstance(action, EndSession):
            self._send_message(m.websocket_disconnect(1001, "server shutdown", **self._meta()))
            self.send(CloseFrame(1001, "server shutdown"))
        # SpeechStopped: carried by the final transcription's utterance_end;
        # ToolCallOut: never produced (no tool_call scenario, §6).

    def _on_transcript(self, action: TranscriptOut) -> None:
        event_type = "normal"
        if action.final and self._in_speech:
            event_type = "utterance_end"
            self._in_speech = False
        scores = EMOTION_SCORES if self.emotion_detection and action.final else None
        self._send_message(
            m.transcription(
                action.text,
                is_final=action.final,
                confidence=action.confidence,
                event_type=event_type,
                emotions=scores,
                **self._meta(),
            )
        )
        if not action.final:
            return
        if scores:
            self._send_message(m.emotion_update(scores, **self._meta()))
        self._send_message(m.turn_complete(action.text, **self._meta()))
        if self.scenario == "error":
            self._send_message(
                m.error(
                    "TURN_DETECTION_FAILED",
                    "turn detection failed for this utterance (simulated); continuing",
                    **self._meta(),
                )
            )

    def _next_index(self, key: str) -> int:
        """The next ``chunk_index`` of a turn's text or speech; the counters of
        all but the 16 most recent keys are forgotten (a session may be long)."""
        index = self._chunk_index.get(key, 0)
        self._chunk_index[key] = index + 1
        if len(self._chunk_index) > 16:
            del self._chunk_index[next(iter(self._chunk_index))]
        return index

    def _generation(self, turn_id: str) -> str:
        return turn_id.replace("turn-", "gen-", 1)

    def _on_text_out(self, action: AgentTextOut) -> None:
        content = action.text if action.final and self._final_text == "full" else action.delta
        index = self._next_index(action.turn_id)
        self._send_message(
            m.llm_response_chunk(
                content,
                is_final=action.final,
                generation_id=self._generation(action.turn_id) if self._generation_ids else None,
                chunk_index=index,
                **self._meta(),
            )
        )

    def _on_speech(self, action: AgentSpeech) -> None:
        gen = self._generation(action.turn_id)
        if action.turn_id not in self._replied:
            self._replied.append(action.turn_id)
            if self.scenario == "bad_wav":
                for i, broken in enumerate(broken_wavs()):
                    self._send_message(
                        m.tts_chunk(broken, chunk_id=f"{gen}-bad{i}", **self._meta())
                    )
        index = self._next_index(gen)
        payload = action.pcm if self._wav is None else wav_bytes(action.pcm, self._wav)
        self._send_message(
            m.tts_chunk(payload, is_last=action.last, chunk_id=f"{gen}-{index}", **self._meta())
        )
        if self.scenario == "drop" and not self._audio_sent:
            self.send(DropConnection())
        self._audio_sent = True
        if action.last and self.scenario == "idle_warning":
            self._schedule_idle_hangup()

    def _schedule_idle_hangup(self) -> None:
        step = self._idle_step
        start = self._now
        self._scheduled = deque(
            [
                (start + step, m.idle_warning(2 * max(step, 1.0), warning_type="warning")),
                (start + 2 * step, m.idle_warning(max(step, 1.0), warning_type="final_warning")),
                (
                    start + 3 * step,
                    m.system_message(
                        "No activity detected; ending the session.", message_type="hangup"
                    ),
                ),
                (start + 3 * step, CloseFrame(1000, "idle timeout")),
            ]
        )
