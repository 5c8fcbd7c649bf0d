"""The OpenAI Realtime (GA) server side, sans I/O, for tests, conformance and the demo.

:class:`RealtimeSimulator` accepts WebSocket upgrades like the real API and
turns the provider-neutral :class:`~voiceadapters.simulator.agent.Agent`'s
actions into GA server events. Every event it sends (except in the
``malformed`` scenario) parses with the ``openai`` SDK's GA models
(``RealtimeServerEvent``) with no field the models do not declare — the
plugin's tests check it, and aim the SDK's own realtime client at it.

Endpoints
---------
=========================================================  =====================================
``GET /v1/realtime?model=…``                               OpenAI and compatible servers;
                                                           ``Authorization: Bearer <key>``
``GET /openai/realtime?api-version=…&deployment=…``        Azure; ``api-key: <key>``
=========================================================  =====================================

A wrong or missing key is refused with 401 and the REST error body
(``{"error": {"message", "type": "invalid_request_error", "code":
"invalid_api_key", "param"}}``); a missing ``model`` / ``deployment`` /
``api-version`` with 400; another path with 404.

The conversation
----------------
On open: ``session.created`` (the session object, ``type: "realtime"``);
each ``session.update`` is answered by ``session.updated`` with the merged
session (its audio format, turn detection and transcription then shape the
conversation). With VAD (``server_vad``/``semantic_vad``, the default) the
agent's speech detection yields ``input_audio_buffer.speech_started`` /
``speech_stopped`` / ``committed``, ``conversation.item.added``, and — with
transcription on — ``conversation.item.input_audio_transcription.delta`` and
``.completed``. A reply is the whole response lifecycle:
``response.created`` → ``response.output_item.added`` →
``conversation.item.added`` → ``response.content_part.added`` →
``response.output_audio_transcript.delta`` / ``response.output_audio.delta``
… → ``response.output_audio.done`` → ``response.output_audio_transcript.done``
→ ``response.content_part.done`` → ``response.output_item.done`` →
``conversation.item.done`` → ``response.done`` (with ``usage``); the
response object carries the ``metadata`` of the ``response.create`` that
asked for it (clients such as LiveKit Agents' plugin match their request by
it). With
``output_modalities: ["text"]``, ``response.output_text.*`` and no audio. A
tool call is a response whose item is a ``function_call`` with its arguments
streamed (``response.function_call_arguments.delta`` … ``.done``); the
``function_call_output`` item and ``response.create`` the client sends
continue the turn. With ``turn_detection: null`` the server sends no speech
events and answers only after ``input_audio_buffer.commit`` and
``response.create`` (a commit of less than 100 ms is the GA error
``input_audio_buffer_commit_empty``).

Barge-in: when the user speaks over a response, ``speech_started`` is sent
at once, the agent's few in-flight chunks still follow as
``response.output_audio.delta`` (a client must drop them), then the
response ends ``cancelled`` (``reason: "turn_detected"``). ``response.cancel``
ends it ``cancelled`` (``client_cancelled``). ``conversation.item.truncate``
is answered by ``conversation.item.truncated``, or by an error when the item
is unknown, or ``audio_end_ms`` is past the audio sent for it
(:attr:`RealtimeConnection.truncations` records what was accepted).

Errors have the GA shape ``{"type": "error", "event_id", "error": {"type",
"code", "message", "param", "event_id"}}``: for a client event of an unknown
type, invalid JSON or base64, a bad truncate, an empty commit.

Scenarios
---------
``echo``, ``tool_call``, ``barge_in``, ``server_shutdown``
    The agent's (:mod:`voiceadapters.simulator.agent`); at the end of
    ``server_shutdown`` the server closes with 1000 (the protocol has no
    goodbye message).
``errors``
    Echo, plus a non-fatal GA ``error`` before each reply.
``malformed``
    Echo, plus a burst of frames no real server sends: not JSON, no
    ``type``, an audio delta with invalid base64, an event of unknown type.
``session_cap``
    Echo, but the session hits its cap after :data:`CAP_SCENARIO_SECONDS`
    (the real 60 minutes, scaled): the GA ``error`` ``session_expired``, then
    a close 1000.
``drop``
    Echo, but the connection is cut with no close frame after the first
    audio delta.
``slow`` / ``bursty``
    Echo with agent audio at half real-time speed / held and released ten
    chunks at a time.
"""

from __future__ import annotations

import base64
import binascii
import json
import secrets
from dataclasses import dataclass, field
from typing import Any

from voiceadapters.fields import base64_data
from voiceadapters.handshake import CloseFrame, Frame, HttpResponse
from voiceadapters.simulator.agent import (
    AGENT_SCENARIOS,
    Action,
    Agent,
    AgentSpeech,
    AgentTextOut,
    EndSession,
    Interrupted,
    SpeechStarted,
    SpeechStopped,
    ToolCallOut,
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

from . import g711
from . import messages as m
from .provider import AUDIO_FORMATS, G711_FORMAT, WIRE_FORMAT, RealtimeProvider

__all__ = [
    "CAP_SCENARIO_SECONDS",
    "SIM_DEPLOYMENT",
    "SIM_MODEL",
    "RealtimeConnection",
    "RealtimeSimulator",
    "malformed_frames",
]

#: The model and the Azure deployment the simulator's config strings name.
SIM_MODEL = "gpt-realtime"
SIM_DEPLOYMENT = "sim-realtime"
#: The ``session_cap`` scenario's cap (seconds of the simulator's clock).
CAP_SCENARIO_SECONDS = 4.0
#: The real cap (the OpenAI realtime guide: 60 minutes).
REAL_CAP_SECONDS = 3600.0
#: Agent audio chunks released together in the ``bursty`` scenario.
BURST = 10

OPENAI_PATH = "/v1/realtime"
AZURE_PATH = "/openai/realtime"


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(8)}"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def error_event(
    code: str, message: str, *, kind: str = "invalid_request_error", about: str | None = None
) -> dict[str, Any]:
    """A GA ``error`` server event (``RealtimeErrorEvent``)."""
    return {
        "type": m.ERROR,
        "event_id": _id("event"),
        "error": {
            "type": kind,
            "code": code,
            "message": message,
            "param": None,
            "event_id": about,
        },
    }


def malformed_frames(index: int) -> list[str]:
    """Burst ``index`` of the ``malformed`` scenario (test-only frames)."""
    return [
        "this frame is not JSON {",
        m.encode({"event_id": _id("event"), "delta": "no type"}),
        m.encode(
            {
                "type": m.AUDIO_DELTA,
                "event_id": _id("event"),
                "response_id": f"resp_fault{index}",
                "item_id": f"item_fault{index}",
                "output_index": 0,
                "content_index": 0,
                "delta": "!!not*base64!!",
            }
        ),
        m.encode({"type": "simulator.fault", "event_id": _id("event"), "index": index}),
    ]


def _usage(input_tokens: int, output_tokens: int) -> dict[str, Any]:
    """A ``RealtimeResponseUsage`` (made-up but consistent counts)."""
    return {
        "total_tokens": input_tokens + output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_token_details": {
            "cached_tokens": 0,
            "text_tokens": 10,
            "audio_tokens": max(0, input_tokens - 10),
            "image_tokens": 0,
            "cached_tokens_details": {"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0},
        },
        "output_token_details": {
            "text_tokens": min(output_tokens, 20),
            "audio_tokens": max(0, output_tokens - 20),
        },
    }


@dataclass
class _Response:
    """One response in progress."""

    id: str
    turn: str
    item_id: str
    kind: str  # "audio" | "text" | "function_call"
    started: bool = False
    transcript: str = ""
    audio_bytes: int = 0
    cancelling: int | None = None  # in-flight chunks still to send, when cancelling
    call: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, str] | None = None  # the response.create's, echoed back


class RealtimeSimulator(Simulator):
    """A simulated OpenAI Realtime server accepting ``api_key``; see the module docstring."""

    def __init__(
        self,
        api_key: str,
        *,
        scenario: str | None = None,
        pace: float = 1.0,
        provider: RealtimeProvider | None = None,
        session_cap: float | None = None,
    ) -> None:
        from .provider import OpenAIProvider

        self.spec = provider or OpenAIProvider()
        super().__init__(self.spec, api_key=api_key, scenario=scenario, pace=pace)
        if session_cap is None:
            session_cap = CAP_SCENARIO_SECONDS if self.scenario == "session_cap" else None
        #: Seconds after which a connection's session expires (``None``: never).
        self.session_cap = session_cap

    def __repr__(self) -> str:
        return f"<RealtimeSimulator scenario={self.scenario!r}>"

    def websocket_paths(self) -> tuple[str, ...]:
        return (OPENAI_PATH, AZURE_PATH)

    def handle_http(self, request: SimRequest, now: float) -> HttpResponse:
        return _rest_error(404, "not_found", f"Invalid URL (GET {request.path})")

    def open_websocket(self, request: SimRequest, now: float) -> RealtimeConnection | HttpResponse:
        if request.path == OPENAI_PATH:
            if not self.bearer_accepted(request):
                return _rest_error(
                    401, "invalid_api_key", "Incorrect API key provided.", "invalid_request_error"
                )
            model = request.query.get("model")
            if not model:
                return _rest_error(400, "missing_model", "Missing required parameter: 'model'.")
        elif request.path == AZURE_PATH:
            if not self.key_accepted(request.headers.get("api-key")):
                return _rest_error(
                    401, "invalid_api_key", "Access denied due to invalid subscription key."
                )
            model = request.query.get("deployment")
            if not model or not request.query.get("api-version"):
                return _rest_error(
                    400, "missing_parameter", "Missing required query: api-version, deployment."
                )
        else:
            return _rest_error(404, "not_found", f"Invalid URL (GET {request.path})")
        scenario = self.scenario if self.scenario in AGENT_SCENARIOS else "echo"
        pace = self.pace * 2 if self.scenario == "slow" else self.pace
        options = self.agent_options()  # provider-neutral settings (response_delay)
        connection = RealtimeConnection(
            Agent(WIRE_FORMAT, scenario=scenario, pace=pace, **options),
            agent_options=options,
            model=model,
            faults=self.scenario,
            expires=None if self.session_cap is None else now + self.session_cap,
            pace=pace,
        )
        self.connections.append(connection)
        return connection


def _rest_error(
    status: int, code: str, message: str, kind: str = "invalid_request_error"
) -> HttpResponse:
    return json_response(
        status, {"error": {"message": message, "type": kind, "code": code, "param": None}}
    )


class RealtimeConnection(AgentConnection):
    """One simulated Realtime WebSocket session driven by ``agent``.

    ``faults`` is the simulator's scenario; ``expires`` the simulator-clock
    time of the session cap. Records, besides the base class's:
    :attr:`client_events` (every client event's type, in order),
    :attr:`session` (the session as configured), :attr:`truncations`,
    :attr:`tool_outputs`, :attr:`invalid` (client events answered by an error).
    """

    def __init__(
        self,
        agent: Agent,
        *,
        model: str,
        faults: str = "echo",
        expires: float | None = None,
        pace: float = 1.0,
        agent_options: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(agent)
        #: The simulator's :meth:`~voiceadapters.simulator.base.Simulator.agent_options`,
        #: for the agent rebuilt when ``session.update`` changes the audio format.
        self.agent_options = dict(agent_options or {})
        self.model = model
        self.faults = faults
        self.expires = expires
        self.pace = pace
        self.session_id = _id("sess")
        self.conversation_id = _id("conv")
        #: The session as the client configured it (``session.updated``).
        self.session: dict[str, Any] = {
            "type": "realtime",
            "object": "realtime.session",
            "id": self.session_id,
            "model": model,
            "output_modalities": ["audio"],
            "instructions": "You are a simulated voice agent.",
            "tools": [],
            "tool_choice": "auto",
            "max_output_tokens": "inf",
            "tracing": None,
            "prompt": None,
            "expires_at": 0,
            "include": None,
            "audio": {
                "input": {
                    "format": dict(AUDIO_FORMATS["pcm"]),
                    "transcription": None,
                    "noise_reduction": None,
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 200,
                        "idle_timeout_ms": None,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                },
                "output": {"format": dict(AUDIO_FORMATS["pcm"]), "voice": "marin", "speed": 1.0},
            },
        }
        self.client_events: RecentList[str] = RecentList(MESSAGE_LIMIT)
        self.truncations: RecentList[dict[str, Any]] = RecentList(MESSAGE_LIMIT)
        self.tool_outputs: RecentList[tuple[str, str]] = RecentList(MESSAGE_LIMIT)
        self.invalid: RecentList[str] = RecentList(MESSAGE_LIMIT)
        self._law: g711.Law | None = None
        self._response: _Response | None = None
        self._by_turn: dict[str, _Response] = {}
        self._items: dict[str, int] = {}  # assistant item id → audio bytes sent (wire)
        self._user_item: str | None = None
        self._last_item: str | None = None
        self._buffered = 0  # input audio bytes since the last commit
        self._pending_transcript: tuple[str, str] | None = None
        self._text_reply = False
        self._pending_tool: tuple[str, str] | None = None
        self._pending_text: str | None = None
        # GA: the response object carries the ``metadata`` of the response.create
        # that asked for it (clients match their request by it).
        self._pending_metadata: dict[str, str] | None = None
        self._done_turns: RecentList[str] = RecentList(64)
        # turn_detection null: the agent's output waits for commit + response.create.
        self._held: list[Action] = []
        self._gate = 0
        self._burst: list[str] = []
        self._fault_bursts = 0
        self._replied: RecentList[str] = RecentList(16)
        self._audio_sent = False

    # -- helpers -----------------------------------------------------------------

    def _event(self, kind: str, **fields: Any) -> None:
        self.send(m.encode({"type": kind, "event_id": _id("event"), **fields}))

    def _error(self, code: str, message: str, about: str | None = None) -> None:
        self.invalid.append(f"{code}: {message}")
        self.send(m.encode(error_event(code, message, about=about)))

    @property
    def _vad(self) -> bool:
        return self.session["audio"]["input"]["turn_detection"] is not None

    @property
    def _transcribing(self) -> bool:
        return self.session["audio"]["input"]["transcription"] is not None

    @property
    def _text_only(self) -> bool:
        return "audio" not in self.session["output_modalities"]

    @property
    def _audio_rate(self) -> int:
        return G711_FORMAT.sample_rate if self._law else WIRE_FORMAT.sample_rate

    def _ms(self, nbytes: int) -> int:
        """Milliseconds of ``nbytes`` of wire audio (G.711: 1 byte a sample)."""
        width = 1 if self._law else 2
        return nbytes * 1000 // (self._audio_rate * width)

    # -- inputs ---------------------------------------------------------------------

    def opened(self, now: float) -> None:
        self._event(m.SESSION_CREATED, session=self._session_object())
        self._inject_faults()

    def _session_object(self) -> dict[str, Any]:
        session: dict[str, Any] = json.loads(json.dumps(self.session))
        session["expires_at"] = 0
        return session

    def get_timer(self) -> float | None:
        timer = super().get_timer()
        if self.expires is not None and not self.closed:
            timer = self.expires if timer is None else min(timer, self.expires)
        return timer

    def handle_timer(self, now: float) -> None:
        if self.expires is not None and now >= self.expires and not self.closed:
            self.expires = None
            self.send(
                m.encode(
                    error_event(
                        "session_expired",
                        "Your session hit the maximum duration of 60 minutes.",
                    )
                )
            )
            self.send(CloseFrame(1000, "session expired"))
            return
        super().handle_timer(now)

    def receive_frame(self, frame: Frame, now: float) -> None:
        try:
            message = decode_json(frame)
        except ValueError:
            self.received_messages.append(frame)
            self._error("invalid_json", "The message is not valid JSON.")
            return
        if not isinstance(message, dict) or not isinstance(message.get("type"), str):
            self.received_messages.append(message)
            self._error("invalid_value", "The message must be an object with a string 'type'.")
            return
        kind: str = message["type"]
        self.client_events.append(kind)
        about = message.get("event_id") if isinstance(message.get("event_id"), str) else None
        if kind == m.AUDIO_APPEND:
            self._on_append(message, now, about)
            return
        self.received_messages.append(message)
        if kind not in m.CLIENT_EVENTS:
            self._error("invalid_value", f"Invalid value: '{kind}'.", about)
            return
        handler = {
            m.SESSION_UPDATE: self._on_session_update,
            m.AUDIO_COMMIT: self._on_commit,
            m.AUDIO_CLEAR: self._on_clear,
            m.ITEM_CREATE: self._on_item_create,
            m.ITEM_TRUNCATE: self._on_truncate,
            m.RESPONSE_CREATE: self._on_response_create,
            m.RESPONSE_CANCEL: self._on_response_cancel,
        }.get(kind)
        if handler is not None:
            handler(message, now, about)
        self.flush_agent(now)

    def _on_append(self, message: dict[str, Any], now: float, about: str | None) -> None:
        audio = message.get("audio")
        try:
            if not isinstance(audio, str):
                raise ValueError
            data = base64_data(audio)
        except (binascii.Error, ValueError):
            self._error("invalid_value", "Invalid 'audio': not valid base64.", about)
            return
        if self._law is not None:
            data = g711.expand(data, self._law)
        elif len(data) & 1:
            data = data[:-1]
        if not data:
            return
        self._buffered += len(data)
        self.received_audio += data
        self.agent.user_audio(data, now)
        self.flush_agent(now)

    def _on_session_update(self, message: dict[str, Any], now: float, about: str | None) -> None:
        session = message.get("session")
        if not isinstance(session, dict) or session.get("type") not in ("realtime", None):
            self._error("invalid_value", "session.type must be 'realtime'.", about)
            return
        problem = _session_problem(session)
        if problem is not None:
            self._error("invalid_value", problem, about)
            return
        audio: dict[str, Any] = session.get("audio") or {}
        for direction in ("input", "output"):
            given = audio.get(direction) or {}
            self.session["audio"][direction].update(
                {k: v for k, v in given.items() if k in self.session["audio"][direction]}
            )
        for key in ("instructions", "tools", "tool_choice", "output_modalities"):
            if session.get(key) is not None:
                self.session[key] = session[key]
        fmt = self.session["audio"]["input"].get("format") or {}
        kind = fmt.get("type")
        law: g711.Law | None = (
            "pcmu" if kind == "audio/pcmu" else "pcma" if kind == "audio/pcma" else None
        )
        if law != self._law and self.received_audio.total == 0:
            self._law = law
            self.agent = Agent(
                G711_FORMAT if law else WIRE_FORMAT,
                scenario=self.agent.scenario,
                pace=self.pace,
                **self.agent_options,
            )
        self._event("session.updated", session=self._session_object())

    def _on_commit(self, message: dict[str, Any], now: float, about: str | None) -> None:
        width = 2
        if self._buffered < self._audio_rate * width // 10:
            self._error(
                "input_audio_buffer_commit_empty",
                "Error committing input audio buffer: buffer too small. Expected at least "
                f"100ms of audio, but buffer only has {self._buffered * 1000 // (self._audio_rate * width)}ms of audio.",
                about,
            )
            return
        self._buffered = 0
        item = self._user_item or _id("item")
        self._user_item = None
        self._committed(item)

    def _committed(self, item: str) -> None:
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
        if self._pending_transcript is not None:
            self._send_transcript(item, self._pending_transcript[1])
            self._pending_transcript = None
        else:
            self._pending_transcript = (item, "")

    def _send_transcript(self, item: str, text: str) -> None:
        if not self._transcribing:
            return
        self._event(m.TRANSCRIPTION_DELTA, item_id=item, content_index=0, delta=text, logprobs=None)
        self._event(
            m.TRANSCRIPTION_COMPLETED,
            item_id=item,
            content_index=0,
            transcript=text,
            logprobs=None,
            usage={"type": "duration", "seconds": 1.0},
        )

    def _on_clear(self, message: dict[str, Any], now: float, about: str | None) -> None:
        self._buffered = 0
        self._event("input_audio_buffer.cleared")

    def _on_item_create(self, message: dict[str, Any], now: float, about: str | None) -> None:
        item = message.get("item")
        if not isinstance(item, dict):
            self._error("invalid_value", "Missing required parameter: 'item'.", about)
            return
        kind = item.get("type")
        item_id = item.get("id") if isinstance(item.get("id"), str) else _id("item")
        if kind == "function_call_output":
            call_id, output = item.get("call_id"), item.get("output")
            if not isinstance(call_id, str) or not isinstance(output, str):
                self._error("invalid_value", "function_call_output needs call_id and output.")
                return
            self.tool_outputs.append((call_id, output))
            stored: dict[str, Any] = {
                "id": item_id,
                "object": "realtime.item",
                "type": "function_call_output",
                "status": "completed",
                "call_id": call_id,
                "output": output,
            }
            self._pending_tool = (call_id, output)
        elif kind == "message" and item.get("role") == "user":
            given = item.get("content")
            content: list[Any] = given if isinstance(given, list) else []
            texts = [c.get("text") for c in content if isinstance(c, dict)]
            text = " ".join(t for t in texts if isinstance(t, str))
            stored = {
                "id": item_id,
                "object": "realtime.item",
                "type": "message",
                "status": "completed",
                "role": "user",
                "content": [{"type": "input_text", "text": text}],
            }
            self._pending_text = text
        else:
            self._error("invalid_value", f"Unsupported item type: {kind!r}.", about)
            return
        self._event("conversation.item.added", previous_item_id=self._last_item, item=stored)
        self._event("conversation.item.done", previous_item_id=self._last_item, item=stored)
        self._last_item = item_id

    def _on_truncate(self, message: dict[str, Any], now: float, about: str | None) -> None:
        item_id, end = message.get("item_id"), message.get("audio_end_ms")
        index = message.get("content_index", 0)
        if not isinstance(item_id, str) or item_id not in self._items:
            self._error("item_truncate_invalid_item_id", f"Item with id {item_id!r} not found.")
            return
        if not isinstance(end, int) or isinstance(end, bool) or end < 0:
            self._error("invalid_value", "audio_end_ms must be a non-negative integer.", about)
            return
        sent_ms = self._ms(self._items[item_id])
        if end > sent_ms:
            self._error(
                "invalid_value",
                f"Audio content of {sent_ms}ms is already shorter than {end}ms",
                about,
            )
            return
        self.truncations.append({"item_id": item_id, "content_index": index, "audio_end_ms": end})
        self._event(
            m.ITEM_TRUNCATED,
            item_id=item_id,
            content_index=index if isinstance(index, int) else 0,
            audio_end_ms=end,
        )

    def _on_response_create(self, message: dict[str, Any], now: float, about: str | None) -> None:
        tool, text = self._pending_tool, self._pending_text
        self._pending_tool = None
        self._pending_text = None
        params = message.get("response")
        metadata = params.get("metadata") if isinstance(params, dict) else None
        if isinstance(metadata, dict) and all(
            isinstance(k, str) and isinstance(v, str) for k, v in metadata.items()
        ):
            self._pending_metadata = metadata
        if not self._vad:
            self._gate += 1
            held, self._held = self._held, []
            for action in held:
                self.send_action(action, now)
        if tool is not None:
            self.agent.tool_result(tool[0], tool[1], now)
        elif text is not None:
            self._text_reply = True
            self.agent.user_text(text, now)

    def _on_response_cancel(self, message: dict[str, Any], now: float, about: str | None) -> None:
        response = self._response
        if response is None:
            self._error("response_cancel_not_active", "Cancellation failed: no active response.")
            return
        self.agent.interrupt(now)
        self._finish(response, "cancelled", "client_cancelled")

    # -- agent actions → GA events ---------------------------------------------------

    def send_action(self, action: Action, now: float) -> None:
        if not self._vad and self._gate <= 0 and _held_without_vad(action):
            self._held.append(action)
            return
        if isinstance(action, AgentSpeech):
            self._on_speech(action)
        elif isinstance(action, AgentTextOut):
            self._on_text(action)
        elif isinstance(action, TranscriptOut):
            if action.final and not self._text_reply:
                if self._pending_transcript is not None and not self._pending_transcript[1]:
                    item = self._pending_transcript[0]
                    self._pending_transcript = None
                    self._send_transcript(item, action.text)
                else:
                    self._pending_transcript = ("", action.text)
        elif isinstance(action, SpeechStarted):
            if self._vad and self._user_item is None:
                self._speech_started()
        elif isinstance(action, SpeechStopped):
            self._end_cancelling()
            if self._vad:
                item = self._user_item or _id("item")
                self._user_item = None
                ms = self._ms(self.received_audio.total)
                self._event("input_audio_buffer.speech_stopped", audio_end_ms=ms, item_id=item)
                self._buffered = 0
                self._committed(item)
        elif isinstance(action, Interrupted):
            response = self._by_turn.get(action.turn_id)
            if self._vad and response is not None:
                self._speech_started()
                response.cancelling = self.agent.inflight_chunks
                if response.cancelling == 0:
                    self._finish(response, "cancelled", "turn_detected")
        elif isinstance(action, ToolCallOut):
            self._tool_call(action)
        elif isinstance(action, EndSession):
            self._end_cancelling()
            self.send(CloseFrame(1000, "session ended"))

    def _speech_started(self) -> None:
        self._user_item = _id("item")
        ms = self._ms(self.received_audio.total)
        self._event("input_audio_buffer.speech_started", audio_start_ms=ms, item_id=self._user_item)

    def _end_cancelling(self) -> None:
        for response in list(self._by_turn.values()):
            if response.cancelling is not None:
                self._finish(response, "cancelled", "turn_detected")

    def _begin(self, turn: str, kind: str) -> _Response | None:
        """The response of agent turn ``turn``, started if it is new
        (``None`` when that turn's response is already over)."""
        response = self._by_turn.get(turn)
        if response is not None:
            return response
        if turn in self._done_turns:
            return None
        self._end_cancelling()
        if turn not in self._replied:
            self._replied.append(turn)
            self._inject_faults()
        response = _Response(
            id=_id("resp"),
            turn=turn,
            item_id=_id("item"),
            kind=kind,
            metadata=self._pending_metadata,
        )
        self._pending_metadata = None
        self._by_turn[turn] = response
        self._response = response
        self._event("response.created", response=self._response_object(response, "in_progress"))
        item = self._item_object(response, "in_progress")
        self._event(
            "response.output_item.added", response_id=response.id, output_index=0, item=item
        )
        self._event("conversation.item.added", previous_item_id=self._last_item, item=item)
        self._last_item = response.item_id
        if kind != "function_call":
            part = (
                {"type": "text", "text": ""}
                if kind == "text"
                else {"type": "audio", "transcript": ""}
            )
            self._event(
                "response.content_part.added",
                response_id=response.id,
                item_id=response.item_id,
                output_index=0,
                content_index=0,
                part=part,
            )
        return response

    def _refs(self, response: _Response) -> dict[str, Any]:
        return {
            "response_id": response.id,
            "item_id": response.item_id,
            "output_index": 0,
            "content_index": 0,
        }

    def _on_speech(self, action: AgentSpeech) -> None:
        if self._text_only or self._text_reply:
            return  # no audio in a text response
        response = self._begin(action.turn_id, "audio")
        if response is None:
            return  # late audio of a finished (cancelled) response: never sent
        if response.cancelling is not None:
            if response.cancelling > 0:
                response.cancelling -= 1
                self._audio_delta(response, action.pcm)
            if response.cancelling == 0:
                self._finish(response, "cancelled", "turn_detected")
            return
        if response.kind != "audio" or response.id != getattr(self._response, "id", None):
            return
        self._audio_delta(response, action.pcm)
        if self.faults == "drop" and not self._audio_sent:
            self.send(DropConnection())
        self._audio_sent = True
        if action.last:
            self._flush_burst()
            self._finish(response, "completed", None)

    def _audio_delta(self, response: _Response, pcm: bytes) -> None:
        data = g711.compress(pcm, self._law) if self._law else pcm
        response.audio_bytes += len(data)
        self._items[response.item_id] = response.audio_bytes
        frame = m.encode(
            {
                "type": m.AUDIO_DELTA,
                "event_id": _id("event"),
                **self._refs(response),
                "delta": _b64(data),
            }
        )
        if self.faults == "bursty" and response.cancelling is None:
            self._burst.append(frame)
            if len(self._burst) >= BURST:
                self._flush_burst()
        else:
            self.send(frame)

    def _flush_burst(self) -> None:
        burst, self._burst = self._burst, []
        for frame in burst:
            self.send(frame)

    def _on_text(self, action: AgentTextOut) -> None:
        kind = "text" if (self._text_only or self._text_reply) else "audio"
        response = self._begin(action.turn_id, kind)
        if response is None or response.cancelling is not None or response.kind == "function_call":
            return
        if action.delta:
            response.transcript += action.delta
            delta_type = m.TEXT_DELTA if kind == "text" else m.AUDIO_TRANSCRIPT_DELTA
            self._event(delta_type, **self._refs(response), delta=action.delta)
        if action.final:
            response.transcript = action.text
            if kind == "text":
                self._finish(response, "completed", None)

    def _tool_call(self, action: ToolCallOut) -> None:
        response = self._begin(action.call_id, "function_call")
        if response is None:
            return
        arguments = json.dumps(action.arguments, separators=(",", ":"))
        response.call = {"call_id": action.call_id, "name": action.name, "arguments": arguments}
        half = len(arguments) // 2
        for piece in (arguments[:half], arguments[half:]):
            self._event(
                m.ARGUMENTS_DELTA,
                response_id=response.id,
                item_id=response.item_id,
                output_index=0,
                call_id=action.call_id,
                delta=piece,
            )
        self._event(
            m.ARGUMENTS_DONE,
            response_id=response.id,
            item_id=response.item_id,
            output_index=0,
            call_id=action.call_id,
            name=action.name,
            arguments=arguments,
        )
        self._finish(response, "completed", None)

    def _item_object(self, response: _Response, status: str) -> dict[str, Any]:
        if response.kind == "function_call":
            return {
                "id": response.item_id,
                "object": "realtime.item",
                "type": "function_call",
                "status": status,
                "call_id": response.call.get("call_id", response.turn),
                "name": response.call.get("name", ""),
                "arguments": response.call.get("arguments", ""),
            }
        content: list[dict[str, Any]] = []
        if status != "in_progress":
            if response.kind == "text":
                content = [{"type": "output_text", "text": response.transcript}]
            else:
                content = [{"type": "output_audio", "transcript": response.transcript}]
        return {
            "id": response.item_id,
            "object": "realtime.item",
            "type": "message",
            "status": status,
            "role": "assistant",
            "content": content,
        }

    def _response_object(
        self,
        response: _Response,
        status: str,
        reason: str | None = None,
        item: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        done = status != "in_progress"
        details: dict[str, Any] | None = None
        if status == "cancelled":
            details = {"type": "cancelled", "reason": reason}
        elif done:
            details = {"type": "completed"}
        return {
            "object": "realtime.response",
            "id": response.id,
            "status": status,
            "status_details": details,
            "output": [item] if item is not None else [],
            "conversation_id": self.conversation_id,
            "output_modalities": ["text"] if response.kind == "text" else ["audio"],
            "max_output_tokens": "inf",
            "audio": {
                "output": {
                    "format": dict(self.session["audio"]["output"]["format"]),
                    "voice": self.session["audio"]["output"].get("voice", "marin"),
                }
            },
            "usage": _usage(120, 40 + response.audio_bytes // 960) if done else None,
            "metadata": dict(response.metadata) if response.metadata is not None else None,
        }

    def _finish(self, response: _Response, status: str, reason: str | None) -> None:
        """The done events of ``response``, in the GA order, then ``response.done``."""
        if self._by_turn.get(response.turn) is not response:
            return
        del self._by_turn[response.turn]
        self._done_turns.append(response.turn)
        if self._response is response:
            self._response = None
        self._text_reply = self._text_reply and response.kind != "text"
        self._flush_burst()
        refs = self._refs(response)
        item_status = "completed" if status == "completed" else "incomplete"
        if response.kind == "audio":
            self._event(m.AUDIO_DONE, **refs)
            self._event(m.AUDIO_TRANSCRIPT_DONE, **refs, transcript=response.transcript)
            part = {"type": "audio", "transcript": response.transcript}
            self._event("response.content_part.done", **refs, part=part)
        elif response.kind == "text":
            self._event(m.TEXT_DONE, **refs, text=response.transcript)
            part = {"type": "text", "text": response.transcript}
            self._event("response.content_part.done", **refs, part=part)
        item = self._item_object(response, item_status)
        self._event("response.output_item.done", response_id=response.id, output_index=0, item=item)
        self._event("conversation.item.done", previous_item_id=None, item=item)
        self._event("response.done", response=self._response_object(response, status, reason, item))
        if not self._vad:
            self._gate = max(0, self._gate - 1)

    def _inject_faults(self) -> None:
        if self.faults == "malformed":
            for frame in malformed_frames(self._fault_bursts):
                self.send(frame)
            self._fault_bursts += 1
        elif self.faults == "errors":
            self.send(
                m.encode(
                    error_event(
                        "simulated_error",
                        f"Simulated server error #{self._fault_bursts} (the session goes on).",
                        kind="server_error",
                    )
                )
            )
            self._fault_bursts += 1


def _held_without_vad(action: Action) -> bool:
    """With turn detection off, what waits for commit + response.create."""
    return isinstance(action, AgentSpeech | AgentTextOut | ToolCallOut)


_FORMATS = ("audio/pcm", "audio/pcmu", "audio/pcma")


def _session_problem(session: dict[str, Any]) -> str | None:
    """Why a ``session.update``'s session is invalid (the GA request schema,
    ``RealtimeSessionCreateRequest``, for the fields the simulator uses), or ``None``."""
    audio = session.get("audio")
    if audio is not None and not isinstance(audio, dict):
        return "Invalid type for 'session.audio': expected an object."
    for direction in ("input", "output"):
        part = (audio or {}).get(direction)
        if part is None:
            continue
        if not isinstance(part, dict):
            return f"Invalid type for 'session.audio.{direction}': expected an object."
        fmt = part.get("format")
        if fmt is not None and (not isinstance(fmt, dict) or fmt.get("type") not in _FORMATS):
            return f"Invalid 'session.audio.{direction}.format': expected one of {_FORMATS}."
        for key in ("turn_detection", "transcription", "noise_reduction"):
            if part.get(key) is not None and not isinstance(part.get(key), dict):
                return f"Invalid type for 'session.audio.{direction}.{key}': expected an object."
    modalities = session.get("output_modalities")
    if modalities is not None and (
        not isinstance(modalities, list) or not all(m in ("audio", "text") for m in modalities)
    ):
        return "Invalid 'session.output_modalities': expected ['audio'] or ['text']."
    if "tools" in session and not isinstance(session["tools"], list):
        return "Invalid type for 'session.tools': expected an array."
    if "instructions" in session and not isinstance(session["instructions"], str):
        return "Invalid type for 'session.instructions': expected a string."
    return None
