"""The Deepgram Voice Agent server side, sans I/O: grant endpoint, agent sessions, faults.

:class:`DeepgramSimulator` answers ``POST /v1/auth/grant`` and accepts
``GET /v1/agent/converse`` WebSocket upgrades the way the real API does
(sources [SDK]/[docs] as in :mod:`voiceadapters_deepgram.provider`); each
accepted WebSocket is a :class:`DeepgramConnection` that turns the
provider-neutral :class:`~voiceadapters.simulator.agent.Agent`'s actions into
Deepgram messages built with :mod:`voiceadapters_deepgram.messages`. Every
message it sends (outside the test-only ``malformed`` scenario) validates
against the SDK's own server-message models; the plugin's tests check that.

Authentication
--------------
=============================================  =================================
request                                        answer
=============================================  =================================
``POST /v1/auth/grant``, ``Authorization:      200 ``{"access_token": <JWT>,
Token <key>`` (any JSON body or none)          "expires_in": 30}``
the same with no or a wrong key                401 ``{"err_code": "INVALID_AUTH",
                                               "err_msg": …}``
``/v1/auth/grant`` with another method         405
upgrade of ``/v1/agent/converse`` with         accepted
``Authorization: Token <key>`` or ``Bearer
<a JWT this simulator granted, unexpired>``
(the scheme's case is not significant)
the upgrade with anything else                 401 (the SDK raises ``ApiError(401)``)
any other path                                 404
=============================================  =================================

Session
-------
On open the server sends ``Welcome{request_id}``. The first client text
message must be ``Settings``: linear16 input at 8–48 kHz, linear16 output
(any rate in that range) with ``container`` ``none`` or absent. A valid one
builds the scripted agent in those formats and is answered
``SettingsApplied``; an invalid one ``Error{code: "INVALID_SETTINGS"}`` and
a close 1000 (as the SDK's docstrings describe for ``INVALID_SETTINGS``).
Before ``Settings`` only ``KeepAlive`` is accepted; audio or any other message
is answered ``Error`` (``SETTINGS_REQUIRED``, the simulator's own code) and
ignored. Afterwards: binary frames are user audio (a dangling odd byte is
dropped); ``KeepAlive`` is recorded; ``InjectUserMessage`` is a user text
turn; ``FunctionCallResponse`` answers a tool call (an unknown id is
ignored); ``UpdatePrompt`` is answered ``PromptUpdated``; a second
``Settings``, a message that is not JSON or has an unknown ``type`` gets
``Error`` (``SETTINGS_ALREADY_APPLIED``, ``UNPARSABLE_CLIENT_MESSAGE``: the
simulator's codes) and the session goes on. Every such client mistake is
recorded in :attr:`DeepgramConnection.invalid`.

Agent actions → messages: user speech start → ``UserStartedSpeaking`` (it is
also Deepgram's barge-in signal); a final transcript →
``ConversationText{role: "user"}`` (interim ones are not sent: Deepgram has
none); the start of a reply → ``AgentStartedSpeaking`` with latencies;
agent text → ``ConversationText{role: "assistant"}`` per statement; audio →
binary frames, the last followed by ``AgentAudioDone`` (also after a text-only
reply); a tool call → ``FunctionCallRequest`` (``client_side: true``); the end
of the session → a close 1000 ``"session ended"``. There is no stop message
for user speech.

Scenarios
---------
``echo``, ``tool_call``, ``barge_in``, ``server_shutdown``
    The provider-neutral agent's (:mod:`voiceadapters.simulator.agent`).
``errors``
    Echo, plus a ``Warning`` and a non-fatal ``Error`` before each reply.
``malformed``
    Echo, plus a burst of :func:`malformed_frames` after ``SettingsApplied``
    and before each reply. **Test-only**: a real server never sends these.
``drop``
    Echo, but the connection is cut with no close frame right after the
    first agent audio frame.

``pace`` scales the agent's real-time pacing of agent audio (1: one 20 ms
frame every 20 ms; 0: as fast as possible).
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any

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

from . import messages as m
from .provider import CONVERSE_PATH, GRANT_PATH, INPUT_FORMAT, OUTPUT_FORMAT, DeepgramProvider

__all__ = ["GRANT_TTL", "DeepgramConnection", "DeepgramSimulator", "malformed_frames"]

#: Seconds a granted JWT opens connections (Deepgram's default is 30 s).
GRANT_TTL = 30.0

_AGENT_SCENARIO = {
    "tool_call": "tool_call",
    "barge_in": "barge_in",
    "server_shutdown": "server_shutdown",
}
_RATES = range(8000, 48001)


def malformed_frames(index: int) -> list[str | bytes]:
    """The ``malformed`` scenario's burst number ``index``: frames no real
    server sends, each a different fault a client must survive."""
    return [
        "this frame is not JSON {",
        "[1, 2, 3]",
        m.encode({"type": m.CONVERSATION_TEXT, "role": "assistant"}),  # no content
        m.encode({"type": m.FUNCTION_CALL_REQUEST, "functions": "not a list"}),
        m.encode({"type": "SimulatorFault", "index": index}),
        b"\x00",  # half a sample
    ]


def _authorization(request: SimRequest) -> tuple[str, str] | None:
    scheme, _, credential = request.headers.get("authorization", "").partition(" ")
    credential = credential.strip()
    return (scheme.lower(), credential) if scheme and credential else None


class DeepgramSimulator(Simulator):
    """A simulated Deepgram Voice Agent API accepting ``api_key`` (module docstring)."""

    def __init__(
        self,
        api_key: str,
        *,
        scenario: str | None = None,
        pace: float = 1.0,
        provider: DeepgramProvider | None = None,
    ) -> None:
        super().__init__(
            provider or DeepgramProvider(), api_key=api_key, scenario=scenario, pace=pace
        )
        #: JWTs granted → when they expire (the most recent ones).
        self._granted: dict[str, float] = {}
        #: Grant requests answered 200.
        self.grants = 0

    def __repr__(self) -> str:
        return f"<DeepgramSimulator scenario={self.scenario!r}>"

    def websocket_paths(self) -> tuple[str, ...]:
        return (CONVERSE_PATH,)

    def _key_header_accepted(self, request: SimRequest) -> bool:
        auth = _authorization(request)
        return auth is not None and auth[0] == "token" and self.key_accepted(auth[1])

    def handle_http(self, request: SimRequest, now: float) -> HttpResponse:
        if request.path != GRANT_PATH:
            return json_response(404, {"err_code": "NOT_FOUND", "err_msg": "not found"})
        if request.method != "POST":
            return json_response(405, {"err_code": "METHOD_NOT_ALLOWED", "err_msg": "use POST"})
        if not self._key_header_accepted(request):
            return json_response(
                401, {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."}
            )
        token = "eyJ" + secrets.token_urlsafe(32)
        self._granted = {t: e for t, e in self._granted.items() if e > now}
        if len(self._granted) >= MESSAGE_LIMIT:
            self._granted.pop(next(iter(self._granted)))
        self._granted[token] = now + GRANT_TTL
        self.grants += 1
        return json_response(200, {"access_token": token, "expires_in": GRANT_TTL})

    def _upgrade_accepted(self, request: SimRequest, now: float) -> bool:
        auth = _authorization(request)
        if auth is None:
            return False
        scheme, credential = auth
        if scheme == "token":
            return self.key_accepted(credential)
        if scheme == "bearer":
            expires = self._granted.get(credential)
            return expires is not None and expires > now
        return False

    def open_websocket(self, request: SimRequest, now: float) -> DeepgramConnection | HttpResponse:
        if request.path != CONVERSE_PATH:
            return json_response(404, {"err_code": "NOT_FOUND", "err_msg": "not found"})
        if not self._upgrade_accepted(request, now):
            return json_response(
                401, {"err_code": "INVALID_AUTH", "err_msg": "Invalid credentials."}
            )
        connection = DeepgramConnection(
            self.scenario, pace=self.pace, agent_options=self.agent_options()
        )
        self.connections.append(connection)
        return connection


class DeepgramConnection(AgentConnection):
    """One Voice Agent WebSocket session (module docstring)."""

    def __init__(
        self, scenario: str, *, pace: float = 1.0, agent_options: dict[str, Any] | None = None
    ) -> None:
        #: The simulator's provider-neutral agent settings (``response_delay``).
        self.agent_options = dict(agent_options or {})
        # A placeholder agent until Settings names the formats.
        super().__init__(
            self._make_agent(scenario, pace, INPUT_FORMAT, OUTPUT_FORMAT, self.agent_options)
        )
        self.scenario = scenario
        self.pace = pace
        self.request_id = str(uuid.uuid4())
        #: The ``Settings`` message accepted, if any.
        self.settings: dict[str, Any] | None = None
        #: Client mistakes, as ``(code, excerpt)`` (the most recent).
        self.invalid: RecentList[tuple[str, str]] = RecentList(MESSAGE_LIMIT)
        #: ``KeepAlive`` messages received.
        self.keep_alives = 0
        #: ``FunctionCallResponse`` messages received, as ``(id, name, content)``.
        self.function_responses: RecentList[tuple[str, str, str]] = RecentList(MESSAGE_LIMIT)
        self._turn: str | None = None  # the reply announced with AgentStartedSpeaking
        self._finished: list[str] = []  # the last replies done or interrupted
        self._bursts = 0
        self._dropped = False

    @staticmethod
    def _make_agent(
        scenario: str,
        pace: float,
        audio_in: AudioFormat,
        audio_out: AudioFormat,
        options: dict[str, Any],
    ) -> Agent:
        return Agent(
            audio_in,
            audio_out,
            scenario=_AGENT_SCENARIO.get(scenario, "echo"),
            pace=pace,
            **options,
        )

    def _send_json(self, message: dict[str, Any]) -> None:
        self.send(m.encode(message))

    def _client_error(self, code: str, excerpt: str, description: str) -> None:
        self.invalid.append((code, excerpt[:200]))
        self._send_json(m.error(code, description))

    # -- inputs --------------------------------------------------------------------

    def opened(self, now: float) -> None:
        self._send_json(m.welcome(self.request_id))

    def receive_frame(self, frame: Frame, now: float) -> None:
        if isinstance(frame, bytes):
            self._audio(frame, now)
            return
        try:
            message = decode_json(frame)
        except ValueError:
            self.received_messages.append(frame)
            self._client_error("UNPARSABLE_CLIENT_MESSAGE", frame, "the message is not valid JSON")
            return
        self.received_messages.append(message)
        kind = message.get("type") if isinstance(message, dict) else None
        if kind == m.KEEP_ALIVE:
            self.keep_alives += 1
            return
        if self.settings is None and kind != m.SETTINGS:
            self._client_error("SETTINGS_REQUIRED", frame, "send Settings before any other message")
            return
        if kind == m.SETTINGS:
            self._on_settings(message, frame, now)
        elif kind == m.INJECT_USER_MESSAGE and isinstance(message.get("content"), str):
            self.agent.user_text(message["content"], now)
            self.flush_agent(now)
            self._done()  # the scripted agent answers text with text only
        elif (
            kind == m.FUNCTION_CALL_RESPONSE
            and isinstance(message.get("id"), str)
            and isinstance(message.get("name"), str)
            and isinstance(message.get("content"), str)
        ):
            self.function_responses.append((message["id"], message["name"], message["content"]))
            self.agent.tool_result(message["id"], message["content"], now)
            self.flush_agent(now)
        elif kind == m.UPDATE_PROMPT and isinstance(message.get("prompt"), str):
            self._send_json({"type": "PromptUpdated"})
        elif kind == m.INJECT_AGENT_MESSAGE and isinstance(message.get("message"), str):
            pass  # accepted; the scripted agent does not speak injected lines
        else:
            self._client_error(
                "UNPARSABLE_CLIENT_MESSAGE", frame, f"unknown or malformed client message: {kind!r}"
            )

    def _on_settings(self, message: dict[str, Any], frame: str, now: float) -> None:
        if self.settings is not None:
            self._client_error(
                "SETTINGS_ALREADY_APPLIED", frame, "Settings may be sent once per session"
            )
            return
        formats = _formats(message)
        if isinstance(formats, str):
            self._client_error("INVALID_SETTINGS", frame, formats)
            self.send(CloseFrame(1000, "INVALID_SETTINGS"))
            return
        self.settings = message
        self.agent = self._make_agent(self.scenario, self.pace, *formats, self.agent_options)
        self._send_json(m.settings_applied())
        if self.scenario == "malformed":
            self._burst()

    def _audio(self, frame: bytes, now: float) -> None:
        self.binary_frame_sizes.append(len(frame))
        if self.settings is None:
            self._client_error(
                "SETTINGS_REQUIRED", f"<{len(frame)} bytes>", "audio before Settings is ignored"
            )
            return
        pcm = frame[: len(frame) - len(frame) % 2]
        self.received_audio += pcm
        self.agent.user_audio(pcm, now)
        self.flush_agent(now)

    # -- agent actions → messages ------------------------------------------------------

    def send_action(self, action: Action, now: float) -> None:
        match action:
            case SpeechStarted():
                self._send_json(m.user_started_speaking())
            case TranscriptOut(text=text, final=True):
                self._send_json(m.conversation_text("user", text))
                if self.scenario == "errors":
                    self._send_json(m.warning("SIMULATED_WARNING", "a warning for the test"))
                    self._send_json(m.error("SIMULATED_ERROR", "a non-fatal error for the test"))
                elif self.scenario == "malformed":
                    self._burst()
            case AgentTextOut(delta=delta, turn_id=turn):
                self._announce(turn)
                statement = delta.strip()
                if statement:
                    self._send_json(m.conversation_text("assistant", statement))
            case AgentSpeech(pcm=pcm, turn_id=turn, last=last):
                if self._turn is None and turn not in self._finished:
                    self._announce(turn)
                self.send(pcm)
                if self.scenario == "drop" and not self._dropped:
                    self._dropped = True
                    self.send(DropConnection())
                    return
                if last:
                    self._done()
            case Interrupted(turn_id=turn):
                # Its late frames are sent unannounced; UserStartedSpeaking
                # follows (SpeechStarted) and is the client's barge-in signal.
                self._finish(turn)
                self._turn = None
            case ToolCallOut(call_id=call_id, name=name, arguments=arguments):
                self._send_json(m.function_call_request(call_id, name, arguments))
            case EndSession():
                self.send(CloseFrame(1000, "session ended"))

    def _announce(self, turn: str) -> None:
        if self._turn != turn:
            self._turn = turn
            self._send_json(m.agent_started_speaking(0.05, 0.02, 0.03))

    def _done(self) -> None:
        if self._turn is not None:
            self._finish(self._turn)
            self._turn = None
            self._send_json(m.agent_audio_done())

    def _finish(self, turn: str) -> None:
        self._finished.append(turn)
        del self._finished[:-4]

    def _burst(self) -> None:
        self._bursts += 1
        for frame in malformed_frames(self._bursts):
            self.send(frame)


def _formats(message: dict[str, Any]) -> tuple[AudioFormat, AudioFormat] | str:
    """The input and output formats of a ``Settings`` message, or what is wrong with it."""
    audio = message.get("audio")
    if not isinstance(audio, dict):
        return "Settings.audio is required"
    agent = message.get("agent")
    if not isinstance(agent, dict | str):
        return "Settings.agent is required"
    source = audio.get("input", {"encoding": "linear16", "sample_rate": 24000})
    sink = audio.get("output", {"encoding": "linear16", "sample_rate": 24000})
    if not isinstance(source, dict) or not isinstance(sink, dict):
        return "Settings.audio.input and .output must be objects"
    if source.get("encoding") != "linear16":
        return f"the simulator accepts only linear16 input, not {source.get('encoding')!r}"
    if sink.get("encoding", "linear16") != "linear16":
        return f"the simulator sends only linear16 output, not {sink.get('encoding')!r}"
    if sink.get("container", "none") != "none":
        return f"the simulator sends raw audio (container none), not {sink.get('container')!r}"
    rate_in, rate_out = source.get("sample_rate"), sink.get("sample_rate", 24000)
    for name, rate in (("input", rate_in), ("output", rate_out)):
        if not isinstance(rate, int) or isinstance(rate, bool) or rate not in _RATES:
            return f"Settings.audio.{name}.sample_rate must be an integer 8000..48000, not {rate!r}"
    assert isinstance(rate_in, int) and isinstance(rate_out, int)
    return AudioFormat(rate_in), AudioFormat(rate_out)
