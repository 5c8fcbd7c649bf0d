"""The provider side of Parrot, sans I/O: the codec's mirror.

:class:`ExampleSimulator` accepts ``GET /v1/talk`` WebSocket upgrades that
carry ``Authorization: Bearer <api_key>`` (401 otherwise, 404 for any other
path); each accepted connection is an :class:`ExampleConnection` that feeds
the user's audio to the provider-neutral scripted
:class:`~voiceadapters.simulator.agent.Agent` and turns the agent's actions
into Parrot messages. The same simulator runs in memory next to the codec
(:class:`voiceadapters.testing.CodecPair`, the conformance suite's codec
level) and over real HTTP on 127.0.0.1
(:class:`voiceadapters.simulator.SimulatorServer`, ``voiceadapters simulate
example``, the network level).

Agent actions → Parrot messages: a transcript → ``heard``; the first audio
chunk of a turn → ``speaking``, then every chunk → a binary frame, and the
last → ``done``; the user talking over the parrot (it stops) → ``done``; the
end of the session (scenario ``server_shutdown``) → ``bye`` with reason
``shutdown`` and a close 1000. Parrot has no messages for speech start/stop,
agent text or tool calls, so those actions are not sent.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from voiceadapters.handshake import CloseFrame, Frame, HttpResponse
from voiceadapters.simulator.agent import (
    Action,
    Agent,
    AgentSpeech,
    EndSession,
    Interrupted,
    TranscriptOut,
)
from voiceadapters.simulator.base import (
    AgentConnection,
    SimRequest,
    Simulator,
    decode_json,
    json_response,
)

from .provider import TALK_PATH, WIRE_FORMAT, ExampleProvider

__all__ = ["ExampleConnection", "ExampleSimulator"]


class ExampleSimulator(Simulator):
    """A Parrot server accepting ``api_key``, running ``scenario`` (see :data:`SCENARIOS`)."""

    def __init__(
        self,
        api_key: str,
        *,
        scenario: str | None = None,
        pace: float = 1.0,
        provider: ExampleProvider | None = None,
    ) -> None:
        # The base class checks the key and the scenario against the provider's list.
        super().__init__(
            provider or ExampleProvider(), api_key=api_key, scenario=scenario, pace=pace
        )

    def __repr__(self) -> str:
        return f"<ExampleSimulator scenario={self.scenario!r}>"

    def websocket_paths(self) -> tuple[str, ...]:
        return (TALK_PATH,)

    def handle_http(self, request: SimRequest, now: float) -> HttpResponse:
        return json_response(404, {"error": "not found"})  # Parrot has no HTTP endpoints

    def open_websocket(self, request: SimRequest, now: float) -> ExampleConnection | HttpResponse:
        if request.path != TALK_PATH:
            return json_response(404, {"error": "not found"})
        if not self.bearer_accepted(request):
            return json_response(401, {"error": "invalid API key"})
        agent = Agent(WIRE_FORMAT, scenario=self.scenario, pace=self.pace, **self.agent_options())
        connection = ExampleConnection(agent, voice=request.query.get("voice", "polly"))
        self.connections.append(connection)
        return connection


class ExampleConnection(AgentConnection):
    """One Parrot WebSocket session, driven by the scripted ``agent``.

    :class:`~voiceadapters.simulator.base.AgentConnection` forwards the
    timers to the agent and calls :meth:`send_action` for each of its
    actions; this class only says what each action looks like on the wire.
    """

    def __init__(self, agent: Agent, *, voice: str) -> None:
        super().__init__(agent)
        self.voice = voice
        self.session_id = uuid.uuid4().hex
        self._speaking: str | None = None  # the turn announced with "speaking"

    def _send_json(self, message: dict[str, Any]) -> None:
        self.send(json.dumps(message))

    # -- inputs ------------------------------------------------------------------

    def opened(self, now: float) -> None:
        self._send_json({"event": "ready", "session": self.session_id})

    def receive_frame(self, frame: Frame, now: float) -> None:
        if isinstance(frame, str):  # Parrot clients send none: recorded for tests, ignored
            try:
                self.received_messages.append(decode_json(frame))
            except ValueError:
                self.received_messages.append(frame)
            return
        self.binary_frame_sizes.append(len(frame))
        pcm = frame[: len(frame) - len(frame) % 2]  # whole samples only
        self.received_audio += pcm
        self.agent.user_audio(pcm, now)
        self.flush_agent(now)

    # -- agent actions → Parrot messages -----------------------------------------------

    def send_action(self, action: Action, now: float) -> None:
        match action:
            case TranscriptOut(text=text, final=final, turn_id=turn):
                self._send_json({"event": "heard", "text": text, "final": final, "turn": turn})
            case AgentSpeech(pcm=pcm, turn_id=turn, last=last):
                if self._speaking != turn:
                    self._speaking = turn
                    self._send_json({"event": "speaking", "turn": turn})
                self.send(pcm)
                if last:
                    self._done()
            case Interrupted():
                self._done()  # the user talked over the parrot: it stops
            case EndSession():
                self._send_json({"event": "bye", "reason": "shutdown"})
                self.send(CloseFrame(1000, "bye"))

    def _done(self) -> None:
        if self._speaking is not None:
            self._send_json({"event": "done", "turn": self._speaking})
            self._speaking = None
