"""The binary-PCM provider side, sans I/O: token endpoint, WebSocket sessions, faults.

:class:`BinaryPcmSimulator` answers the WorkBuddy voice SDK API's HTTP
endpoints and accepts WebSocket connections like the real service (the
binary-PCM wire spec §1, §5, §7a); each accepted WebSocket is a
:class:`BinaryPcmConnection` that turns the provider-neutral
:class:`~voiceadapters.simulator.agent.Agent`'s actions into binary-PCM
messages built with :mod:`voiceadapters_binary_pcm.messages`. It is hosted over
real HTTP/WebSocket by :class:`voiceadapters.simulator.server.SimulatorServer`
or paired in memory with a codec by :class:`voiceadapters.testing.CodecPair`.

HTTP (§1, §7a)
--------------
==================================================  ===================================
request                                             answer
==================================================  ===================================
``OPTIONS`` on any path (CORS preflight)            204 with ``Access-Control-Allow-Origin:
                                                    *``, ``-Allow-Methods: POST``,
                                                    ``-Allow-Headers: Authorization,
                                                    Content-Type``, ``-Max-Age: 600``
path other than token / heartbeat                   404
method other than ``POST``                          405
no ``Authorization: Bearer <api_key>`` or a wrong   401 ``{"error": "invalid or missing API
key                                                 key"}``
scenario ``disabled``                               403 ``{"error": "kiosk is inactive or
                                                    disabled"}``
scenario ``token_500`` (token only)                 500 ``{"error": …}``
``POST /api/v1/sdk/heartbeat``                      200 ``{"status": "ok"}``
``POST /api/v1/sdk/token``                          200 ``{"token", "ws_url"}``
==================================================  ===================================

Every answer carries ``Access-Control-Allow-Origin: *`` so that seed 003's
browser page, which fetches the token cross-origin, can read it (§7a). The
request body and ``Content-Type`` are ignored (§8.2). Error bodies are
``{"error": "<message>"}`` (a choice, §8.3).

``ws_url`` is ``ws://<Host header>/api/v1/sdk/ws``: the simulator learns its
own ``host:port`` from the request's ``Host`` header, as a server behind any
address must. A request without one (an in-memory
:class:`~voiceadapters.testing.CodecPair` builds none) gets ``public_host``
(constructor argument, default ``127.0.0.1``); a malformed one is a 400.

Tokens are random opaque strings (the real ones are JWTs), valid for
``token_ttl`` seconds (default 300, the documented 5 minutes) and, with
``single_use`` (default on, §8.8), accepted by one WebSocket only. Expiry and
use are checked when the token is presented; an authenticated session is not
cut when its token expires later.

WebSocket ``/api/v1/sdk/ws`` (§1.4, §4, §5)
--------------------------------------------
The upgrade itself needs nothing (the token comes in the first message); other
paths get 404. Then:

* no first message within ``token_deadline`` (default 10 s) → ``error
  AUTH_TIMEOUT`` + close 4001 (timer-driven; a first message that arrives at
  or after the deadline is treated the same);
* a binary first frame, a text frame that is not JSON, not an object, or has
  no non-empty string ``token`` → ``error INVALID_AUTH`` + close 4002 (§8.7: a
  binary first frame is audio before authentication, answered the same way);
* a token this simulator never issued, expired, or already used →
  ``error AUTH_FAILED`` + close 4003;
* scenario ``setup_failed`` → ``error SESSION_SETUP_FAILED`` + close 4500;
* otherwise ``{"type": "connected"}`` after ``connected_delay`` (default 0 s),
  then ``{"type": "agent_ready"}`` ``ready_delay`` later (default 0.25 s when
  pacing, 0 with ``pace=0``; §4 expects mic audio to flow in between).

After ``connected``, binary frames are microphone audio: recorded in
:attr:`~voiceadapters.simulator.base.SimulatorConnection.received_audio` and
:attr:`~voiceadapters.simulator.base.SimulatorConnection.binary_frame_sizes`
and fed to the agent, from ``connected`` on, not only after ``agent_ready``
(§8.6). Frames of any even size are accepted (§8.4); with ``strict=True`` a
frame that is not exactly 640 bytes closes the connection with 1003 (data the
endpoint cannot accept; the docs define no code). Protocol violations are
recorded in :attr:`BinaryPcmConnection.invalid` and ignored: binary frames
received after authentication but before ``connected`` was sent (dropped),
an odd trailing byte (dropped), text messages after authentication (§8.10;
``strict`` closes with 1003 instead).

Agent speech goes out as binary frames of exactly 640 bytes (the last frame of
an utterance zero-padded; never an odd length, §7a), one per 20 ms scaled by
``pace`` (0: all at once). The agent's transcripts, text, speech and
interruption actions have no wire message and are dropped; ``session_ended``
is followed by a close 1000 (§8.9).

Scenarios
---------
``echo``
    The utterance spoken back after each end of speech.
``tool_call``
    Tools run server-side (§6): the agent's tool call is answered inside the
    simulator and the reply follows; the client sees only the audio.
``barge_in``
    The reply is the utterance three times over; speaking over it makes the
    agent stop sending (there is no interruption message, §6).
``server_shutdown``, ``end_agent_disconnected``, ``end_session_closed``, ``end_room_closed``
    Echo, then ``session_ended`` with reason ``server_shutdown``,
    ``agent_disconnected``, ``session_closed`` or ``room_closed`` after the
    first reply, and a close 1000. (The ``end_reason`` argument overrides the
    reason string, for any scenario that ends.)
``burst``
    Echo with the agent's audio sent all at once, whatever ``pace`` says (to
    test client buffering, §8.5).
``drop``
    Echo, but the connection is cut with no close frame right after the first
    agent audio frame.
``malformed``
    Echo, plus :func:`malformed_frames` right after ``connected``: a non-JSON
    text frame, a 3-byte (odd) binary frame and a message of unknown
    ``type``. **Test-only**: a real server never sends these, and seed 003's
    page throws on an odd-length frame.
``setup_failed``, ``disabled``, ``token_500``
    The failures above.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from typing import Any

from voiceadapters.handshake import CloseFrame, Frame, HttpResponse
from voiceadapters.simulator.agent import (
    Action,
    Agent,
    AgentSpeech,
    EndSession,
    ToolCallOut,
)
from voiceadapters.simulator.base import (
    FRAME_SIZE_LIMIT,
    MESSAGE_LIMIT,
    RECEIVED_AUDIO_LIMIT,
    AgentConnection,
    DropConnection,
    SimRequest,
    Simulator,
    decode_json,
    json_response,
)
from voiceadapters.simulator.records import RecentBytes, RecentList

from . import messages as m
from .provider import WIRE_FORMAT, BinaryPcmProvider

__all__ = [
    "CORS_HEADERS",
    "BinaryPcmConnection",
    "BinaryPcmSimulator",
    "TokenGrant",
    "malformed_frames",
]

#: Headers of a CORS preflight answer (§7a); ``Access-Control-Allow-Origin``
#: goes on every answer.
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "POST",
    "Access-Control-Allow-Headers": "Authorization, Content-Type",
    "Access-Control-Max-Age": "600",
}
_ALLOW_ORIGIN = {"Access-Control-Allow-Origin": "*"}

#: ``host``, ``host:port``, ``[v6]`` or ``[v6]:port``; nothing else goes into ``ws_url``.
_HOST_HEADER = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$"
)

_END_REASON_OF_SCENARIO = {
    "server_shutdown": m.SERVER_SHUTDOWN,
    "end_agent_disconnected": m.AGENT_DISCONNECTED,
    "end_session_closed": m.SESSION_CLOSED,
    "end_room_closed": m.ROOM_CLOSED,
}
_AGENT_SCENARIO_OF = {
    "tool_call": "tool_call",
    "barge_in": "barge_in",
    **dict.fromkeys(_END_REASON_OF_SCENARIO, "server_shutdown"),
}

#: What the simulator's server-side tool answers in the ``tool_call`` scenario.
TOOL_OUTPUT = '{"ok":true}'


def malformed_frames() -> list[Frame]:
    """The ``malformed`` scenario's burst: frames no real server sends, each a
    different fault a client must survive (a non-JSON text frame, a binary
    frame of 3 bytes = one silent sample plus a dangling byte, and a message
    of unknown ``type``)."""
    return [
        "this frame is not JSON {",
        b"\x00\x00\x00",
        m.encode({"type": "simulator_fault", "detail": "unknown message type"}),
    ]


@dataclass
class TokenGrant:
    """One issued session token: when it expires and whether it was used."""

    expires: float
    used: bool = False

    def __repr__(self) -> str:
        return f"TokenGrant(expires={self.expires}, used={self.used})"


class BinaryPcmSimulator(Simulator):
    """A simulated WorkBuddy voice SDK API accepting ``api_key``; see the module docstring.

    ``scenario`` is one of :data:`voiceadapters_binary_pcm.provider.SCENARIOS`;
    ``pace`` scales the agent's real-time pacing (0: as fast as possible);
    ``token_deadline`` is how long a new WebSocket has to send its token;
    ``token_ttl`` how long an issued token is valid; ``single_use`` whether a
    token opens one session only; ``connected_delay``/``ready_delay`` the time
    from a valid token to ``connected`` and from ``connected`` to
    ``agent_ready`` (``None``: 0.25 s when pacing, else 0); ``end_reason`` the
    ``session_ended`` reason of scenarios that end; ``strict`` closes on mic
    frames that are not 640 bytes and on text after authentication;
    ``public_host`` is the ``host[:port]`` put in ``ws_url`` when a request
    has no ``Host`` header.
    """

    def __init__(
        self,
        api_key: str,
        *,
        scenario: str | None = None,
        pace: float = 1.0,
        token_deadline: float = 10.0,
        token_ttl: float = 300.0,
        single_use: bool = True,
        connected_delay: float = 0.0,
        ready_delay: float | None = None,
        end_reason: str | None = None,
        strict: bool = False,
        public_host: str = "127.0.0.1",
        provider: BinaryPcmProvider | None = None,
    ) -> None:
        self.spec = provider or BinaryPcmProvider()
        # The base class checks the key and the scenario against the provider's list.
        super().__init__(self.spec, api_key=api_key, scenario=scenario, pace=pace)
        self.token_deadline = token_deadline
        self.token_ttl = token_ttl
        self.single_use = single_use
        self.connected_delay = connected_delay
        self.ready_delay = ready_delay if ready_delay is not None else (0.25 if pace else 0.0)
        self.end_reason = end_reason or _END_REASON_OF_SCENARIO.get(
            self.scenario, m.AGENT_DISCONNECTED
        )
        self.strict = strict
        self.public_host = public_host
        #: Issued tokens → their grant (tests may inspect or expire them).
        self.grants: dict[str, TokenGrant] = {}
        #: How many heartbeats were answered with 200.
        self.heartbeats = 0

    def __repr__(self) -> str:
        return f"<BinaryPcmSimulator scenario={self.scenario!r} tokens={len(self.grants)}>"

    def websocket_paths(self) -> tuple[str, ...]:
        return (self.spec.ws_path,)

    # -- HTTP ---------------------------------------------------------------------

    def handle_http(self, request: SimRequest, now: float) -> HttpResponse:
        if request.method == "OPTIONS":
            return HttpResponse(status=204, headers=dict(CORS_HEADERS))
        if request.path not in (self.spec.token_path, self.spec.heartbeat_path):
            return self._answer(404, {"error": "not found"})
        if request.method != "POST":
            return self._answer(405, {"error": "method not allowed"}, {"Allow": "POST, OPTIONS"})
        if not self.bearer_accepted(request):
            return self._answer(401, {"error": "invalid or missing API key"})
        if self.scenario == "disabled":
            return self._answer(403, {"error": "kiosk is inactive or disabled"})
        if request.path == self.spec.heartbeat_path:
            self.heartbeats += 1
            return self._answer(200, {"status": "ok"})
        if self.scenario == "token_500":
            return self._answer(500, {"error": "internal server error (simulated)"})
        host = request.headers.get("host", self.public_host).strip()
        if not _HOST_HEADER.match(host):
            return self._answer(400, {"error": "bad Host header"})
        token = "wbsim." + secrets.token_urlsafe(32)
        self.grants[token] = TokenGrant(expires=now + self.token_ttl)
        return self._answer(200, m.token_response(token, f"ws://{host}{self.spec.ws_path}"))

    @staticmethod
    def _answer(status: int, body: Any, headers: dict[str, str] | None = None) -> HttpResponse:
        return json_response(status, body, {**_ALLOW_ORIGIN, **(headers or {})})

    def redeem(self, token: str, now: float) -> bool:
        """Whether ``token`` opens a session at ``now``; marks it used (single-use tokens)."""
        grant = self.grants.get(token)
        if grant is None or grant.expires <= now or (self.single_use and grant.used):
            return False
        grant.used = True
        return True

    # -- WebSocket endpoint -----------------------------------------------------------

    def open_websocket(self, request: SimRequest, now: float) -> BinaryPcmConnection | HttpResponse:
        if request.path != self.spec.ws_path:
            return self._answer(404, {"error": "not found"})
        connection = BinaryPcmConnection(self)
        self.connections.append(connection)
        return connection


class BinaryPcmConnection(AgentConnection):
    """One simulated binary-PCM WebSocket session of ``simulator``.

    States: awaiting the token → authenticated (``connected`` pending for
    ``connected_delay``) → connected (audio flows; ``agent_ready`` pending for
    ``ready_delay``) → closed.
    """

    def __init__(self, simulator: BinaryPcmSimulator) -> None:
        scenario = simulator.scenario
        pace = 0.0 if scenario == "burst" else simulator.pace
        super().__init__(
            Agent(
                WIRE_FORMAT,
                scenario=_AGENT_SCENARIO_OF.get(scenario, "echo"),
                pace=pace,
                **simulator.agent_options(),
            )
        )
        self.simulator = simulator
        self.scenario = scenario
        #: The first-message deadline (``None`` once a first message arrived).
        self.auth_deadline: float | None = None
        #: True once the first message carried a valid token.
        self.authenticated = False
        #: True once ``connected`` was sent, and ``agent_ready``.
        self.connected_sent = False
        self.agent_ready_sent = False
        #: Error codes sent, in order.
        self.errors_sent: list[str] = []
        #: Descriptions of the protocol violations received, in order (the
        #: most recent ``MESSAGE_LIMIT``).
        self.invalid: RecentList[str] = RecentList(MESSAGE_LIMIT)
        #: The agent audio sent, in order, and each frame's size: the most
        #: recent ``RECEIVED_AUDIO_LIMIT`` bytes and ``FRAME_SIZE_LIMIT`` sizes.
        self.sent_audio = RecentBytes(RECEIVED_AUDIO_LIMIT)
        self.sent_frame_sizes: RecentList[int] = RecentList(FRAME_SIZE_LIMIT)
        self._connected_at: float | None = None
        self._ready_at: float | None = None

    def __repr__(self) -> str:
        state = (
            "closed"
            if self.closed
            else "connected"
            if self.connected_sent
            else "authenticated"
            if self.authenticated
            else "awaiting token"
        )
        return f"<BinaryPcmConnection {state} received={len(self.received_audio)} bytes>"

    def _send_message(self, message: dict[str, Any]) -> None:
        self.send(m.encode(message))

    def _fail(self, code: str) -> None:
        """``error{code}`` and the close code that goes with it."""
        self.errors_sent.append(code)
        self._send_message(m.error(code))
        self.send(CloseFrame(m.CLOSE_CODE_OF[code], m.DEFAULT_ERROR_MESSAGES[code]))

    # -- inputs ---------------------------------------------------------------

    def opened(self, now: float) -> None:
        self.auth_deadline = now + self.simulator.token_deadline

    def receive_frame(self, frame: Frame, now: float) -> None:
        if self.closed:
            return
        if isinstance(frame, bytes):
            self.binary_frame_sizes.append(len(frame))
        else:
            self.received_messages.append(_decode(frame))
        if self.auth_deadline is not None:
            self._first_message(frame, now)
        elif isinstance(frame, bytes):
            self._on_audio(frame, now)
        else:
            self.invalid.append("text message after authentication")
            if self.simulator.strict:
                self.send(CloseFrame(1003, "only binary audio frames after authentication"))
        self.flush_agent(now)

    def _first_message(self, frame: Frame, now: float) -> None:
        assert self.auth_deadline is not None
        if now >= self.auth_deadline:
            self.auth_deadline = None
            self._fail(m.AUTH_TIMEOUT)
            return
        self.auth_deadline = None
        message = _decode(frame) if isinstance(frame, str) else None
        token = message.get("token") if isinstance(message, dict) else None
        if not isinstance(token, str) or not token:
            if isinstance(frame, bytes):
                self.invalid.append(f"binary frame of {len(frame)} bytes before authentication")
            self._fail(m.INVALID_AUTH)
            return
        if not self.simulator.redeem(token, now):
            self._fail(m.AUTH_FAILED)
            return
        if self.scenario == "setup_failed":
            self._fail(m.SESSION_SETUP_FAILED)
            return
        self.authenticated = True
        self._connected_at = now + self.simulator.connected_delay
        self._advance(now)

    def _on_audio(self, pcm: bytes, now: float) -> None:
        if not self.connected_sent:
            self.invalid.append(f"binary frame of {len(pcm)} bytes before connected; dropped")
            return
        if self.simulator.strict and len(pcm) != m.FRAME_BYTES:
            self.invalid.append(f"binary frame of {len(pcm)} bytes, not {m.FRAME_BYTES}")
            self.send(CloseFrame(1003, f"audio frames must be {m.FRAME_BYTES} bytes"))
            return
        if len(pcm) & 1:
            self.invalid.append(f"binary frame of {len(pcm)} bytes; odd byte dropped")
            pcm = pcm[:-1]
        self.received_audio += pcm
        self.agent.user_audio(pcm, now)
        self.agent.handle_timer(now)  # release what is due already (pace=0: the reply)

    def get_timer(self) -> float | None:
        if self.closed:
            return None
        timers = [
            t
            for t in (
                self.auth_deadline,
                self._connected_at,
                self._ready_at,
                self.agent.get_timer() if self.connected_sent else None,
            )
            if t is not None
        ]
        return min(timers) if timers else None

    def handle_timer(self, now: float) -> None:
        if self.closed:
            return
        if self.auth_deadline is not None and now >= self.auth_deadline:
            self.auth_deadline = None
            self._fail(m.AUTH_TIMEOUT)
            return
        self._advance(now)

    def _advance(self, now: float) -> None:
        """Send ``connected`` and ``agent_ready`` when due, then the agent's actions."""
        if self._connected_at is not None and now >= self._connected_at:
            self._connected_at = None
            self.connected_sent = True
            self._send_message(m.connected())
            if self.scenario == "malformed":
                for frame in malformed_frames():
                    self.send(frame)
            self._ready_at = now + self.simulator.ready_delay
        if self._ready_at is not None and now >= self._ready_at:
            self._ready_at = None
            self.agent_ready_sent = True
            self._send_message(m.agent_ready())
        if self.connected_sent:
            self.agent.handle_timer(now)
            self.flush_agent(now)

    # -- agent actions → binary-PCM messages -----------------------------------------

    def send_action(self, action: Action, now: float) -> None:
        if isinstance(action, AgentSpeech):
            pcm = action.pcm
            for i in range(0, len(pcm), m.FRAME_BYTES):
                frame = pcm[i : i + m.FRAME_BYTES]
                frame += bytes(m.FRAME_BYTES - len(frame))  # never short, never odd
                self.sent_audio += frame
                self.sent_frame_sizes.append(len(frame))
                self.send(frame)
                if self.scenario == "drop":
                    self.send(DropConnection())
                    return
        elif isinstance(action, ToolCallOut):
            # Tools run server-side: answer at once; the reply is scheduled.
            self.agent.tool_result(action.call_id, TOOL_OUTPUT, now)
            self.agent.handle_timer(now)
        elif isinstance(action, EndSession):
            self._send_message(m.session_ended(self.simulator.end_reason))
            self.send(CloseFrame(m.CLOSE_NORMAL, "session ended"))
        # Transcripts, agent text, speech events and interruptions have no
        # binary-PCM message: the protocol carries none of them (§6).


def _decode(frame: str) -> Any:
    """A text frame as JSON, or the text itself when it is not JSON."""
    try:
        return decode_json(frame)
    except ValueError:
        return frame
