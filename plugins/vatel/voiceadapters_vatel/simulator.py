"""The Vatel provider side, sans I/O: token endpoint, WebSocket sessions, faults.

:class:`VatelSimulator` answers ``POST /v1/session-token`` and accepts
``GET /v1/connection?token=…`` upgrades like the real API (the Vatel OpenAPI
document, API 0.2.3, in Devpro-Software/vatel-py-sdk; the Vatel wire spec
§1 to §2); each accepted WebSocket is a :class:`VatelConnection` that turns the
provider-neutral :class:`~voiceadapters.simulator.agent.Agent`'s actions into
Vatel messages built with :mod:`voiceadapters_vatel.messages`. It is hosted
over real HTTP/WebSocket by :class:`voiceadapters.simulator.SimulatorServer`
or paired in memory with a codec by :class:`voiceadapters.testing.CodecPair`.

Token endpoint (the Vatel wire spec §1, §12.1, §12.2)
-----------------------------------------------------
========================================================  =====================
request                                                   answer
========================================================  =====================
path other than ``/v1/session-token``                     404 ``not found``
method other than POST                                    405
no ``Authorization: Bearer <api_key>``, or a wrong key    401
scenario ``token_500``                                    500
body that is not JSON / not an object                     400
extra body properties (``variables``, …) with ``strict``  400 (else ignored)
missing agent (no ``agent_id``, no ``?agentId=``)         400
``agent_id``/``version_id`` not a UUID                    400
``transport`` not ``websocket``/``webrtc``                400
``agent_id`` not the simulator's agent                    404 ``agent not found``
``transport: "webrtc"``, no room server running          503 (not configured)
``transport: "webrtc"``                                   200 room credential
otherwise                                                 200 ``{"token": …}``
========================================================  =====================

Both request forms are accepted: the JSON body, where explicit ``null``\\ s
for optional fields count as absent (the PY SDK 0.4.0 sends them), and the
legacy ``?agentId=…`` with an empty body. Every error body is
``{"error": "<message>"}``. Tokens are random opaque strings valid for
``token_ttl`` seconds and reusable until then. ``first_message``, ``prompt``,
``chat_id`` and ``chat`` are accepted and recorded in :attr:`VatelSimulator.grants`
but do not change the scripted agent.

WebRTC (the Vatel wire spec §11)
--------------------------------
A simulator built with ``transport="webrtc"`` runs a LiveKit room simulator
beside its host (:meth:`VatelSimulator.services`,
:mod:`voiceadapters_vatel.webrtc_sim`); while it runs, ``transport:
"webrtc"`` is granted a room credential: ``{"token", "webrtc_token", "room",
"identity", "url"}`` (``webrtc_credentials="current"``), or the older shape
with the room JWT in ``token`` and no ``webrtc_token``
(``webrtc_credentials="legacy"``). Room tokens are valid for
``room_token_ttl`` seconds (``<= 0``: already expired, for tests). Each join
gets its own room and its own :class:`VatelConnection`, which behaves as on
a WebSocket (same agent, same scenarios). Without a running room server the
request is refused with 503, as a Vatel deployment without WebRTC.

WebSocket (the Vatel wire spec §2, §12.3)
-----------------------------------------
No ``token`` query parameter → 400; a token this simulator did not issue or
that expired → 401. ``agentId``/``versionId`` query parameters (an older
API) are ignored. On open the server sends ``session_started`` with a fresh
UUID; the agent's actions then map to ``speech_started``, ``speech_stopped``,
``input_audio_transcript``, ``response_text``, ``response_audio``,
``interruption`` (and no ``is_final`` chunk for the interrupted turn,
§12.6), ``tool_call`` (arguments as ``resolved`` descriptors) and
``session_ended`` followed by a close 1000 (§12.9).

Client messages that are not valid are recorded in
:attr:`VatelConnection.invalid` and, by default, ignored (a dangling odd byte
of ``input_audio`` is dropped, §12.11). With ``strict=True`` the connection
closes instead, with the RFC 6455 code that fits: 1003 for a binary frame
(data the endpoint cannot accept), 1008 for an unknown ``type`` (policy),
1007 for anything else — non-JSON, a missing or mistyped field, invalid
base64, an odd number of audio bytes (payload inconsistent with the message
type).

Scenarios
---------
``echo``, ``tool_call``, ``barge_in``, ``server_shutdown``
    The provider-neutral agent's (:mod:`voiceadapters.simulator.agent`).
    Vatel's ``session_ended`` has no reason, so ``server_shutdown`` reaches a
    client as a normal end.
``token_500``
    The token endpoint answers 500 ``{"error": …}`` to an authorised request.
``drop``
    Echo, but the connection is cut with no close frame right after the
    first ``response_audio`` chunk.
``malformed``
    Echo, plus a burst of :func:`malformed_frames` after ``session_started``
    and before each reply: a non-JSON text frame, a ``response_audio`` with
    invalid base64, one with an odd number of bytes, and a message of unknown
    ``type``. **Test-only**: a real Vatel server never sends these, and the
    PY SDK dies on an unknown type; every other scenario sends only messages
    valid under ``VoiceSessionServerMessage`` with empty-data events exactly
    ``{}`` (§12.5).
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
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

from . import messages as m
from .provider import WIRE_FORMAT, VatelProvider

__all__ = [
    "DEFAULT_AGENT_ID",
    "TokenGrant",
    "VatelConnection",
    "VatelSimulator",
    "malformed_frames",
]

#: The agent the simulator runs unless told otherwise (a fixed UUID, so the
#: config string printed by ``voiceadapters simulate vatel`` is stable).
DEFAULT_AGENT_ID = "7a7e1000-5e55-4000-8000-00000000a9e7"

_OPTIONAL_STR = ("version_id", "chat_id", "transport", "first_message", "prompt")
_KNOWN_FIELDS = frozenset({"agent_id", "chat", *_OPTIONAL_STR})


def malformed_frames(index: int) -> list[str]:
    """The ``malformed`` scenario's burst number ``index``: frames no real
    Vatel server sends, each one a different fault a client must survive.

    The bad audio uses its own turn id (``fault-<index>``) so that it never
    mixes with a real reply; the odd-length chunk decodes to one silent
    sample plus a dangling byte.
    """
    turn_id = f"fault-{index}"
    return [
        "this frame is not JSON {",
        m.encode(
            {
                "type": m.RESPONSE_AUDIO,
                "data": {"turn_id": turn_id, "audio": "!!not*base64!!", "is_final": False},
            }
        ),
        m.encode(m.response_audio(turn_id, b"\x00\x00\x00", is_final=False)),
        m.encode({"type": "simulator_fault", "data": {"index": index}}),
    ]


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True


@dataclass(frozen=True)
class TokenGrant:
    """What one issued session token stands for (what a real JWT would encode)."""

    agent_id: str
    expires: float
    version_id: str | None = None
    first_message: str | None = None
    prompt: str | None = None
    chat_id: str | None = None
    chat: bool = False
    legacy_form: bool = False
    transport: str = "websocket"

    def __repr__(self) -> str:
        return f"TokenGrant(agent_id={self.agent_id!r}, expires={self.expires})"


class _Rejected(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(status, error)
        self.status = status
        self.error = error


class VatelSimulator(Simulator):
    """A simulated Vatel API accepting ``api_key``; see the module docstring.

    ``scenario`` is one of :data:`voiceadapters_vatel.provider.SCENARIOS`;
    ``pace`` scales the agent's real-time pacing (0: as fast as possible);
    ``agent_id`` is the only agent that exists; ``strict`` rejects what the
    real API's schema forbids but real deployments may tolerate (extra token
    body properties, malformed client messages); ``token_ttl`` is how long an
    issued token opens connections.
    """

    def __init__(
        self,
        api_key: str,
        *,
        scenario: str | None = None,
        pace: float = 1.0,
        agent_id: str = DEFAULT_AGENT_ID,
        strict: bool = False,
        token_ttl: float = 300.0,
        provider: VatelProvider | None = None,
        transport: str = "websocket",
        webrtc_credentials: str = "current",
        room_token_ttl: float = 600.0,
    ) -> None:
        self.spec = provider or VatelProvider()
        # The base class checks the key and the scenario against the provider's list.
        super().__init__(self.spec, api_key=api_key, scenario=scenario, pace=pace)
        self.agent_id = agent_id
        self.strict = strict
        self.token_ttl = token_ttl
        #: Issued tokens → what they grant (tests may inspect or expire them).
        self.grants: dict[str, TokenGrant] = {}
        if transport not in self.spec.transports:
            raise ValueError(
                f"unknown vatel transport {transport!r}; choose from "
                f"{', '.join(self.spec.transports)}"
            )
        if webrtc_credentials not in ("current", "legacy"):
            raise ValueError("webrtc_credentials must be 'current' or 'legacy'")
        #: The transport the simulator serves (``webrtc`` adds the room server).
        self.transport = transport
        self.webrtc_credentials = webrtc_credentials
        self.room_token_ttl = room_token_ttl
        #: The running LiveKit room simulator (set by :meth:`services`' service).
        self.room_server: Any = None
        # Room name → the grant it was issued for.
        self._rooms: dict[str, TokenGrant] = {}

    def __repr__(self) -> str:
        return f"<VatelSimulator scenario={self.scenario!r} agent_id={self.agent_id!r}>"

    def websocket_paths(self) -> tuple[str, ...]:
        return (self.spec.connection_path,)

    def services(self) -> list[Any]:
        """With ``transport="webrtc"``: the LiveKit room simulator
        (:class:`~voiceadapters_vatel.webrtc_sim.RoomService`), which needs
        the ``webrtc-sim`` extra (aiortc, livekit-protocol); without it,
        :class:`~voiceadapters.errors.ConfigError` names the extra."""
        if self.transport != "webrtc":
            return []
        try:
            from .webrtc_sim import RoomService
        except ImportError as exc:
            from voiceadapters.errors import ConfigError

            raise ConfigError(
                "the vatel+webrtc simulator needs aiortc, livekit-protocol and livekit: "
                f"pip install 'voiceadapters-vatel[webrtc-sim]' ({exc})"
            ) from None
        return [RoomService(self)]

    def room_agent(self, claims: dict[str, Any]) -> Any:
        """The agent behind a room joined with a token of this simulator
        (called by the room server): a :class:`VatelConnection` like a
        WebSocket's, in a :class:`~voiceadapters_vatel.webrtc_sim.VatelRoomAgent`."""
        from .webrtc_sim import VatelRoomAgent

        video = claims.get("video")
        room = video.get("room") if isinstance(video, dict) else None
        grant = self._rooms.get(room) if isinstance(room, str) else None
        if grant is None:
            grant = TokenGrant(agent_id=self.agent_id, expires=0.0, transport="webrtc")
        scenario = self.scenario if self.scenario in AGENT_SCENARIOS else "echo"
        connection = VatelConnection(
            Agent(WIRE_FORMAT, scenario=scenario, pace=self.pace),
            grant=grant,
            faults=self.scenario,
            strict=self.strict,
        )
        self.connections.append(connection)
        return VatelRoomAgent(connection)

    # -- token endpoint ------------------------------------------------------

    def handle_http(self, request: SimRequest, now: float) -> HttpResponse:
        if request.path != self.spec.token_path:
            return json_response(404, {"error": "not found"})
        if request.method != "POST":
            return json_response(405, {"error": "method not allowed"}, {"Allow": "POST"})
        if not self.bearer_accepted(request):
            return json_response(401, {"error": "invalid API key"})
        if self.scenario == "token_500":
            return json_response(500, {"error": "internal server error (simulated)"})
        try:
            grant = self._grant(request, now)
        except _Rejected as exc:
            return json_response(exc.status, {"error": exc.error})
        token = "vsim." + secrets.token_urlsafe(32)
        self.grants[token] = grant
        if grant.transport == "webrtc":
            return json_response(200, self._room_credential(token, grant))
        return json_response(200, {"token": token})

    def _room_credential(self, token: str, grant: TokenGrant) -> dict[str, str]:
        """A LiveKit room for one session, and the credential to join it."""
        server = self.room_server
        room = "room-" + secrets.token_hex(4)
        identity = "user-" + secrets.token_hex(4)
        self._rooms[room] = grant
        attributes = {"agent_id": grant.agent_id}
        for name in ("version_id", "prompt", "first_message"):
            value = getattr(grant, name)
            if value is not None:
                attributes[name] = value
        room_token = server.token(identity, room, ttl=self.room_token_ttl, attributes=attributes)
        body = {"room": room, "identity": identity, "url": server.url}
        if self.webrtc_credentials == "legacy":
            return {"token": room_token, **body}
        return {"token": token, "webrtc_token": room_token, **body}

    def _grant(self, request: SimRequest, now: float) -> TokenGrant:
        params = self._token_params(request)
        agent_id = params.get("agent_id")
        if agent_id is None:
            raise _Rejected(400, "agent_id is required")
        if not isinstance(agent_id, str) or (agent_id != self.agent_id and not _is_uuid(agent_id)):
            raise _Rejected(400, "agent_id must be a UUID")
        for name in _OPTIONAL_STR:
            if name in params and not isinstance(params[name], str):
                raise _Rejected(400, f"{name} must be a string")
        version_id = params.get("version_id")
        if version_id is not None and not _is_uuid(version_id):
            raise _Rejected(400, "version_id must be a UUID")
        transport = params.get("transport", "websocket")
        if transport not in ("websocket", "webrtc"):
            raise _Rejected(400, "transport must be 'websocket' or 'webrtc'")
        chat = params.get("chat", False)
        if not isinstance(chat, bool):
            raise _Rejected(400, "chat must be a boolean")
        if agent_id != self.agent_id:
            raise _Rejected(404, "agent not found")
        if transport == "webrtc" and self.room_server is None:
            raise _Rejected(503, "WebRTC transport is not configured on this server")
        return TokenGrant(
            agent_id=agent_id,
            expires=now + self.token_ttl,
            version_id=version_id,
            first_message=params.get("first_message"),
            prompt=params.get("prompt"),
            chat_id=params.get("chat_id"),
            chat=chat,
            legacy_form=not request.body.strip(),
            transport=transport,
        )

    def _token_params(self, request: SimRequest) -> dict[str, Any]:
        """The token request's fields, from the JSON body or the legacy query."""
        if not request.body.strip():
            # Legacy form: POST /v1/session-token?agentId=… with no body.
            legacy = request.query.get("agentId")
            return {} if not legacy else {"agent_id": legacy}
        try:
            body = decode_json(request.body)
        except ValueError:
            raise _Rejected(400, "invalid JSON body") from None
        if not isinstance(body, dict):
            raise _Rejected(400, "request body must be a JSON object")
        extra = sorted(set(body) - _KNOWN_FIELDS)
        if extra and self.strict:
            raise _Rejected(400, f"unknown field(s): {', '.join(extra)}")
        # Explicit nulls mean "not given" (the PY SDK serialises every field).
        return {k: v for k, v in body.items() if k in _KNOWN_FIELDS and v is not None}

    # -- WebSocket endpoint ---------------------------------------------------

    def open_websocket(self, request: SimRequest, now: float) -> VatelConnection | HttpResponse:
        if request.path != self.spec.connection_path:
            return json_response(404, {"error": "not found"})
        token = request.query.get("token")
        if not token:
            return json_response(400, {"error": "missing token query parameter"})
        grant = self.grants.get(token)
        if grant is None or grant.expires <= now:
            return json_response(401, {"error": "invalid or expired session token"})
        scenario = self.scenario if self.scenario in AGENT_SCENARIOS else "echo"
        connection = VatelConnection(
            Agent(WIRE_FORMAT, scenario=scenario, pace=self.pace, **self.agent_options()),
            grant=grant,
            faults=self.scenario,
            strict=self.strict,
        )
        self.connections.append(connection)
        return connection


class VatelConnection(AgentConnection):
    """One simulated Vatel WebSocket session driven by ``agent``.

    ``faults`` is the simulator scenario (``malformed`` and ``drop`` change
    what this connection sends); ``strict`` closes on invalid client input
    instead of recording and ignoring it.
    """

    def __init__(
        self, agent: Agent, *, grant: TokenGrant, faults: str = "echo", strict: bool = False
    ) -> None:
        super().__init__(agent)
        self.grant = grant
        self.faults = faults
        self.strict = strict
        self.session_id = str(uuid.uuid4())
        #: Descriptions of the invalid client messages received, in order
        #: (the most recent ``MESSAGE_LIMIT``, as every record here).
        self.invalid: RecentList[str] = RecentList(MESSAGE_LIMIT)
        #: ``tool_call_output`` messages received, as ``(toolCallId, output)``.
        self.tool_outputs: RecentList[tuple[str, str]] = RecentList(MESSAGE_LIMIT)
        self._fault_bursts = 0
        self._replied: RecentList[str] = RecentList(16)  # recent turns only: bounded
        self._audio_sent = False

    def _send_message(self, message: dict[str, Any]) -> None:
        self.send(m.encode(message))

    def _inject_faults(self) -> None:
        if self.faults == "malformed":
            for frame in malformed_frames(self._fault_bursts):
                self.send(frame)
            self._fault_bursts += 1

    # -- inputs ---------------------------------------------------------------

    def opened(self, now: float) -> None:
        self._send_message(m.session_started(self.session_id))
        self._inject_faults()

    def receive_frame(self, frame: Frame, now: float) -> None:
        if self.closed:
            return
        if isinstance(frame, bytes):
            self.binary_frame_sizes.append(len(frame))
            self._invalid(f"binary frame of {len(frame)} bytes", 1003)
            return
        try:
            message = decode_json(frame)
        except ValueError:
            self.received_messages.append(frame)
            self._invalid("text frame is not JSON", 1007)
            return
        data = message.get("data") if isinstance(message, dict) else None
        kind = message.get("type") if isinstance(message, dict) else None
        if kind != m.INPUT_AUDIO:
            # Audio is recorded as samples in received_audio; keeping every
            # audio message too would grow by megabytes a minute.
            self.received_messages.append(message)
        if not isinstance(data, dict):
            self._invalid("message is not an object with an object 'data'", 1007)
        elif kind == m.INPUT_AUDIO:
            self._on_input_audio(data, now)
        elif kind == m.TOOL_CALL_OUTPUT:
            call_id, output = data.get("toolCallId"), data.get("output")
            if isinstance(call_id, str) and isinstance(output, str):
                self.tool_outputs.append((call_id, output))
                self.agent.tool_result(call_id, output, now)
            else:
                self._invalid("tool_call_output needs string toolCallId and output", 1007)
        else:
            self._invalid(f"unknown message type {kind!r}", 1008)
        self.flush_agent(now)

    def _on_input_audio(self, data: dict[str, Any], now: float) -> None:
        audio = data.get("audio")
        if not isinstance(audio, str):
            self._invalid("input_audio without a string 'audio'", 1007)
            return
        try:
            pcm = base64_data(audio)
        except ValueError:
            self._invalid("input_audio is not valid base64", 1007)
            return
        if len(pcm) & 1:
            self._invalid(f"input_audio has an odd number of bytes ({len(pcm)})", 1007)
            if self.closed:
                return
            pcm = pcm[:-1]  # lenient: drop the dangling byte, keep the stream aligned
        self.received_audio += pcm
        self.agent.user_audio(pcm, now)

    def _invalid(self, what: str, close_code: int) -> None:
        self.invalid.append(what)
        if self.strict:
            self.send(CloseFrame(close_code, what[:120]))

    # -- agent actions → Vatel messages -----------------------------------------

    def send_action(self, action: Action, now: float) -> None:
        if isinstance(action, AgentSpeech):
            self._before_reply(action.turn_id)
            self._send_message(m.response_audio(action.turn_id, action.pcm, is_final=action.last))
            if self.faults == "drop" and not self._audio_sent:
                self.send(DropConnection())
            self._audio_sent = True
        elif isinstance(action, AgentTextOut):
            self._before_reply(action.turn_id)
            self._send_message(m.response_text(action.turn_id, action.text, is_final=action.final))
        elif isinstance(action, TranscriptOut):
            self._send_message(
                m.input_audio_transcript(action.text, is_final=action.final, turn_id=action.turn_id)
            )
        elif isinstance(action, SpeechStarted):
            self._send_message(m.speech_started(emulated=action.emulated))
        elif isinstance(action, SpeechStopped):
            self._send_message(m.speech_stopped())
        elif isinstance(action, Interrupted):
            self._send_message(m.interruption())
        elif isinstance(action, ToolCallOut):
            self._send_message(m.tool_call(action.call_id, action.name, action.arguments))
        elif isinstance(action, EndSession):
            self._send_message(m.session_ended())
            self.send(CloseFrame(1000, "session ended"))

    def _before_reply(self, turn_id: str) -> None:
        if turn_id not in self._replied:
            self._replied.append(turn_id)
            self._inject_faults()
