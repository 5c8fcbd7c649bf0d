"""The Vatel agent in a simulated LiveKit room (``vatel+webrtc``; the
``webrtc-sim`` extra).

:class:`VatelRoomAgent` puts the WebSocket simulator's session — a
:class:`~voiceadapters_vatel.simulator.VatelConnection` with the same scripted
:class:`~voiceadapters.simulator.agent.Agent` and the same scenarios — behind
a :class:`~voiceadapters_vatel.roomsim.Room`, the way Vatel's WebRTC
transport carries it (the Vatel wire spec §11):

* microphone audio from the room becomes the session's ``input_audio``
  (24 kHz PCM16 mono, so the connection records it in ``received_audio``
  and the agent hears it on its own timeline);
* text streams on topic ``"messages"`` from the client are fed to the
  session as the WebSocket messages they are (``tool_call_output``);
* what the session sends goes out as one text stream per message, except
  ``response_audio``, whose PCM is played on the agent's track instead (in
  real time, silence between utterances); ``interruption`` also drops the
  audio still queued;
* the session's close (after ``session_ended``) closes the room with
  ``ROOM_DELETED`` once the agent's audio has played out (plus a short grace,
  so that the client, which ends on ``session_ended``, leaves first);
  ``DropConnection`` (scenario ``drop``) cuts the signalling socket and the
  peer connection without a ``Leave``.

:class:`RoomService` is what :meth:`VatelSimulator.services` hands to the
simulator's host: it runs a :class:`~voiceadapters_vatel.roomsim.RoomServer`
on the same host for as long as the host serves (on the room server's own
thread and event loop, where each :class:`VatelRoomAgent` and its session
then run).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
from typing import TYPE_CHECKING, Any

from voiceadapters.fields import base64_data
from voiceadapters.handshake import CloseFrame
from voiceadapters.simulator.base import DropConnection, decode_json

from . import messages as m
from .provider import WIRE_FORMAT
from .roomsim import Room, RoomServer

if TYPE_CHECKING:
    from .simulator import VatelConnection, VatelSimulator

__all__ = ["CLOSE_GRACE", "RoomService", "VatelRoomAgent"]

#: Seconds between the end of the agent's last audio and the room closing
#: after ``session_ended`` (the client normally leaves first).
CLOSE_GRACE = 1.0


class VatelRoomAgent:
    """A Vatel session behind a LiveKit room; see the module docstring."""

    sample_rate = WIRE_FORMAT.sample_rate

    def __init__(self, connection: VatelConnection) -> None:
        self.connection = connection
        self.room: Room | None = None
        self._timer: asyncio.Task[None] | None = None
        self._poke = asyncio.Event()
        self._loop = asyncio.get_running_loop()

    def __repr__(self) -> str:
        return f"<VatelRoomAgent {self.connection.session_id}>"

    def _now(self) -> float:
        return self._loop.time()

    # -- RoomAgent ------------------------------------------------------------

    def joined(self, room: Room) -> None:
        self.room = room
        self.connection.opened(self._now())
        self._flush()
        self._timer = self._loop.create_task(self._run_timers())

    def user_audio(self, pcm: bytes) -> None:
        conn = self.connection
        if conn.closed:
            return
        audio = base64.b64encode(pcm).decode("ascii")
        conn.receive_frame(m.encode({"type": m.INPUT_AUDIO, "data": {"audio": audio}}), self._now())
        self._flush()

    def user_text(self, topic: str, text: str) -> None:
        if topic != m.WEBRTC_TOPIC or self.connection.closed:
            return
        self.connection.receive_frame(text, self._now())
        self._flush()

    def left(self) -> None:
        if not self.connection.closed:
            self.connection.receive_closed(1000, self._now())
        if self._timer is not None:
            self._timer.cancel()

    # -- the session's output → the room ------------------------------------------

    def _flush(self) -> None:
        room = self.room
        if room is None:
            return
        for frame in self.connection.frames_to_send():
            if isinstance(frame, str):
                self._message(room, frame)
            elif isinstance(frame, CloseFrame):
                self._loop.create_task(self._close_after_audio(room))
            elif isinstance(frame, DropConnection):
                room.drop()
        self._poke.set()

    def _message(self, room: Room, frame: str) -> None:
        try:
            message = decode_json(frame)
        except ValueError:
            room.send_text(frame)  # the malformed scenario's garbage, as sent
            return
        kind = message.get("type") if isinstance(message, dict) else None
        data = message.get("data") if isinstance(message, dict) else None
        if kind == m.RESPONSE_AUDIO and isinstance(data, dict):
            try:
                pcm = base64_data(str(data.get("audio", "")))
            except ValueError:
                return
            room.play(pcm[: len(pcm) & ~1])
            return
        if kind == m.INTERRUPTION:
            room.clear_audio()
        room.send_text(frame)

    async def _close_after_audio(self, room: Room) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            # Bounded: a track that stopped being read never drains.
            await asyncio.wait_for(room.track.drained.wait(), 60.0)
        await asyncio.sleep(CLOSE_GRACE)
        room.close()

    async def _run_timers(self) -> None:
        conn = self.connection
        while not conn.closed:
            self._poke.clear()
            deadline = conn.get_timer()
            delay = None if deadline is None else max(0.0, deadline - self._now())
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._poke.wait(), delay)
            if deadline is not None and self._now() >= deadline:
                conn.handle_timer(self._now())
                self._flush()


def _leave_reason(code: int) -> int:
    from livekit.protocol import models

    if code in (1001, 1012):
        return int(models.SERVER_SHUTDOWN)
    return int(models.ROOM_DELETED)


class RoomService:
    """Runs the room server of ``simulator`` while its host serves
    (an async context manager, from :meth:`VatelSimulator.services`)."""

    def __init__(self, simulator: VatelSimulator, host: str = "127.0.0.1") -> None:
        self.simulator = simulator
        self.host = host
        self.server: RoomServer | None = None

    async def __aenter__(self) -> RoomServer:
        server = RoomServer(self.simulator.room_agent, host=self.host)
        await server.start()
        self.server = server
        self.simulator.room_server = server
        return server

    def _agent_of(self, conn: Any) -> VatelRoomAgent | None:
        server = self.server
        if server is None:
            return None
        for room in server.rooms:
            agent = room.agent
            if isinstance(agent, VatelRoomAgent) and agent.connection is conn:
                return agent
        return None

    def hosts(self, conn: Any) -> bool:
        """Whether ``conn`` is the session of one of this service's rooms."""
        return self._agent_of(conn) is not None

    async def inject(self, conn: Any, frame: str | bytes | CloseFrame) -> None:
        """Fault injection: a message goes to the client as one text stream
        as it is (bytes decoded as UTF-8); a close frame closes the room
        (``Leave`` with ``SERVER_SHUTDOWN`` for 1001/1012, else ``ROOM_DELETED``)."""
        agent = self._agent_of(conn)
        room = agent.room if agent is not None else None
        if room is None:
            return
        if isinstance(frame, CloseFrame):
            room.close(_leave_reason(frame.code))
        else:
            text = frame if isinstance(frame, str) else frame.decode("utf-8", errors="replace")
            room.send_text(text)

    async def drop(self, conn: Any) -> None:
        """Cut the room's signalling and media without a ``Leave``."""
        agent = self._agent_of(conn)
        if agent is not None and agent.room is not None:
            agent.room.drop()

    async def __aexit__(self, *exc: Any) -> None:
        server, self.server = self.server, None
        if self.simulator.room_server is server:
            self.simulator.room_server = None
        if server is not None:
            await server.stop()
