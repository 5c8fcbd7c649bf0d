"""A LiveKit room simulator: just enough of a LiveKit server for the real
``livekit`` Python SDK to join a room, publish its microphone, receive an
agent's audio track and exchange text streams with it (docs: *Vatel over
WebRTC*, "The room simulator").

No LiveKit server installs from the allowed package registries, so this
module plays one, on loopback: signalling over a WebSocket with the
``livekit-protocol`` protobufs, media and data channels over one aiortc
``RTCPeerConnection`` per room. What it implements, measured against the SDK
(livekit 1.2.1, protocol 18; its sources: livekit/rust-sdks
``livekit-api/src/signal_client/``, ``livekit/src/rtc_engine/rtc_session.rs``,
``livekit/src/room/mod.rs``):

* ``GET /rtc/v1?join_request=…`` with ``Authorization: Bearer <room JWT>``:
  the URL-safe base64 of a (gzip) ``WrappedJoinRequest`` whose
  ``JoinRequest`` holds the client's publisher offer. A token that is not a
  valid HS256 JWT of this server, that expired, or names another room is
  refused with 401 before the upgrade, and ``GET /rtc/v1/validate`` (which the
  SDK calls after a failed upgrade) answers the same 401 with the reason as
  the body — that text is what the SDK's error shows;
* ``JoinResponse`` (participant, room, the agent in ``other_participants``
  with its ``TR_…`` audio track, ``ping_interval``/``ping_timeout``), then the
  ``Answer`` to the offer, echoing the offer's ``id``, with
  ``mid_to_track_id`` and the agent track's stream id ``PA_…|TR_…`` (the SDK
  drops a track whose stream id is not of that shape; the ``a=msid`` line of
  aiortc's answer is rewritten, so no private aiortc field is touched);
* ``TrickleRequest`` (candidate JSON) → ``addIceCandidate``; the server's own
  candidates are in its answer (aiortc gathers before answering): host
  candidates only, no STUN/TURN;
* ``AddTrackRequest`` → ``TrackPublishedResponse``, and an ``Answer`` to each
  renegotiation ``Offer``; ``ping_req`` → ``pong_resp`` (and the older
  ``ping`` → ``pong``); ``leave`` from the client ends the room;
* the data channels the client opens (``_reliable``, ``_lossy``):
  ``DataPacket``\\ s whose ``stream_header``/``stream_chunk``/``stream_trailer``
  make up text streams, in both directions (deflate-raw chunks are
  decompressed; the agent never advertises compression, so the SDK sends
  none);
* the end: :meth:`Room.agent_leave` (a ``ParticipantUpdate`` with the agent
  ``DISCONNECTED``), :meth:`Room.close` (a ``Leave`` with a
  ``DisconnectReason``, ``ROOM_DELETED`` by default, then the socket closes).

Left out (the SDK does not need them for one client and one agent): more than
two participants, simulcast and video, TURN/STUN, the two-peer-connection
``/rtc`` protocol (``/rtc`` answers 404 so the SDK stays on ``/rtc/v1``),
resuming a session (a join that asks to resume — ``reconnect=1`` in the
query or ``JoinRequest.reconnect`` — is refused with 401), speaker and connection-quality updates, RPC, byte
streams, data tracks, end-to-end encryption and token refresh.

ICE: aioice does not gather candidates on 127.0.0.1, so media flows over the
machine's other interface (its address, still this host: nothing leaves it).
A machine whose only interface is loopback cannot run this simulator.

Threads: :meth:`RoomServer.start` serves from a thread of its own with its
own event loop, so that the media's real-time pacing does not wait behind
the caller's loop (in tests, the livekit client of the same process). The
rooms, their agents and their peer connections live on that loop; a
:class:`Room`'s public methods (``play``, ``send_text``, ``agent_leave``,
``drop``, ``close``…) may be called from any thread and hop onto it.

What sits behind the room is a :class:`RoomAgent`: it receives the user's
audio (PCM16 mono at :attr:`RoomAgent.sample_rate`) and text streams and
speaks through :class:`Room` (``play``, ``send_text``, ``agent_leave``,
``close``). Versions: written against aiortc 1.16 (1.15 on Python 3.10),
livekit-protocol 1.1.29 and the livekit SDK 1.2.1 (pinned in the
``webrtc-sim`` extra).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import fractions
import gzip
import hashlib
import hmac
import json
import logging
import re
import socket
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import av
import numpy as np
from aiohttp import WSMsgType, web
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import candidate_from_sdp
from livekit.protocol import models as lkm
from livekit.protocol import rtc as lkr

from voiceadapters.simulator.base import CONNECTION_LIMIT, MESSAGE_LIMIT
from voiceadapters.simulator.records import RecentList

__all__ = [
    "AGENT_IDENTITY",
    "MAX_OPEN_STREAMS",
    "MAX_STREAM_BYTES",
    "Room",
    "RoomAgent",
    "RoomServer",
    "mint_token",
    "read_token",
]

log = logging.getLogger("voiceadapters.simulator.livekit")

#: The agent participant (the SDK requires ``PA_…`` / ``TR_…`` ids).
AGENT_IDENTITY = "agent"
AGENT_SID = "PA_agent"
AGENT_TRACK_SID = "TR_agent"
#: 20 ms frames on the agent track.
FRAME_MS = 20
#: Bounds of the text streams being received from one client.
MAX_OPEN_STREAMS = 64
MAX_STREAM_BYTES = 1 << 20


# -- room tokens (HS256 JWT, as LiveKit's AccessToken) ------------------------


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def mint_token(
    api_key: str,
    secret: str,
    *,
    identity: str,
    room: str,
    ttl: float,
    attributes: dict[str, str] | None = None,
    now: float | None = None,
) -> str:
    """A LiveKit-style access token: HS256 JWT with ``iss`` (the API key),
    ``sub`` (identity), ``exp``/``nbf`` and the ``video`` grant for ``room``."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": api_key,
        "sub": identity,
        "nbf": issued - 1,
        "exp": int(issued + ttl),
        "video": {"room": room, "roomJoin": True, "canPublish": True, "canSubscribe": True},
        "attributes": attributes or {},
    }
    head = _b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = _b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
    return f"{head}.{body}.{_b64url(sig)}"


def read_token(token: str, secret: str, *, now: float | None = None) -> dict[str, Any]:
    """The claims of a token :func:`mint_token` made with ``secret``; raises
    ``ValueError`` with a LiveKit-like message when it is not valid now."""
    try:
        head, body, sig = token.split(".")
        expected = hmac.new(secret.encode(), f"{head}.{body}".encode(), hashlib.sha256).digest()
        if not hmac.compare_digest(_unb64url(sig), expected):
            raise ValueError("invalid token: signature is invalid")
        claims = json.loads(_unb64url(body))
    except (ValueError, TypeError) as exc:
        raise ValueError(str(exc) if "signature" in str(exc) else "invalid token") from None
    if not isinstance(claims, dict):
        raise ValueError("invalid token")
    current = time.time() if now is None else now
    if not isinstance(claims.get("exp"), int) or claims["exp"] <= current:
        raise ValueError("invalid token: token is expired")
    return claims


# -- what sits behind the room -------------------------------------------------


class RoomAgent(Protocol):
    """The agent participant's logic (the Vatel simulator's session, for one)."""

    #: Sample rate of the PCM16 mono audio exchanged with the agent.
    sample_rate: int

    def joined(self, room: Room) -> None:
        """The client joined and its data channel is open: the agent may speak."""

    def user_audio(self, pcm: bytes) -> None:
        """Microphone audio from the client."""

    def user_text(self, topic: str, text: str) -> None:
        """A whole text stream from the client."""

    def left(self) -> None:
        """The client left, or the room closed."""


class _AgentTrack(MediaStreamTrack):
    """The agent's audio, played in real time: queued PCM, silence between."""

    kind = "audio"

    def __init__(self, sample_rate: int) -> None:
        super().__init__()
        self.rate = sample_rate
        self.samples = sample_rate * FRAME_MS // 1000
        self._queue: deque[bytes] = deque()
        self._pending = b""
        self._pts = 0
        self._start: float | None = None
        #: Set while nothing is queued (the agent has finished speaking).
        self.drained = asyncio.Event()
        self.drained.set()

    def play(self, pcm: bytes) -> None:
        if pcm:
            self._queue.append(pcm)
            self.drained.clear()

    def clear(self) -> None:
        self._queue.clear()
        self._pending = b""
        self.drained.set()

    @property
    def playing(self) -> bool:
        return bool(self._queue or self._pending)

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        loop = asyncio.get_running_loop()
        if self._start is None:
            self._start = loop.time()
        due = self._start + self._pts / self.rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        need = self.samples * 2
        while len(self._pending) < need and self._queue:
            self._pending += self._queue.popleft()
        chunk, self._pending = self._pending[:need], self._pending[need:]
        if not self.playing:
            self.drained.set()
        chunk = chunk.ljust(need, b"\x00")
        # Packed stereo (both channels the same): aiortc's Opus encoder wants
        # stereo and would otherwise upmix mono at -3 dB (libswresample's
        # centre mix level), and the client would hear 0.71 of the agent.
        mono = np.frombuffer(chunk, dtype="<i2")
        frame = av.AudioFrame.from_ndarray(
            np.repeat(mono, 2).reshape(1, -1), format="s16", layout="stereo"
        )
        frame.sample_rate = self.rate
        frame.pts = self._pts
        frame.time_base = fractions.Fraction(1, self.rate)
        self._pts += self.samples
        return frame


def _to_mono(frame: av.AudioFrame, resampler: av.AudioResampler) -> bytes:
    return b"".join(bytes(f.planes[0])[: f.samples * 2] for f in resampler.resample(frame))


class Room:
    """One room: one client, one agent, one peer connection."""

    def __init__(
        self,
        server: RoomServer,
        name: str,
        identity: str,
        agent: RoomAgent,
        ws: Any,
        request: Any = None,
    ) -> None:
        self.server = server
        self._request = request
        self.name = name
        self.identity = identity
        self.agent = agent
        self.sid = "RM_" + uuid.uuid4().hex[:12]
        self.client_sid = "PA_" + uuid.uuid4().hex[:12]
        self._ws = ws
        #: The room server's own event loop (its thread), which owns the
        #: peer connection: the public methods below may be called from any
        #: thread and hop onto it.
        self.loop = asyncio.get_running_loop()
        self.pc = RTCPeerConnection()
        self.track = _AgentTrack(agent.sample_rate)
        self.pc.addTrack(self.track)
        self._channel: Any = None
        self._joined = False
        self._tasks: set[asyncio.Task[Any]] = set()
        # Text streams being received: bounded in number and size (a client
        # that never sends trailers must not grow this without end).
        self._incoming: dict[str, dict[str, Any]] = {}
        self.closed = asyncio.Event()
        #: Text streams received from the client, as ``(topic, text)``: the
        #: most recent :data:`~voiceadapters.simulator.base.MESSAGE_LIMIT`.
        self.received_texts: RecentList[tuple[str, str]] = RecentList(MESSAGE_LIMIT)
        #: The client's published track sids (its microphone), the latest last.
        self.published: RecentList[str] = RecentList(16)
        self.pc.on("datachannel", self._on_datachannel)
        self.pc.on("track", self._on_track)

    def __repr__(self) -> str:
        return f"<Room {self.name!r} {self.identity!r}>"

    # -- signalling --------------------------------------------------------

    async def _signal(self, **fields: Any) -> None:
        if self._ws.closed:
            return
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self._ws.send_bytes(lkr.SignalResponse(**fields).SerializeToString())

    def _agent_info(self, state: int = lkm.ParticipantInfo.ACTIVE) -> lkm.ParticipantInfo:
        track = lkm.TrackInfo(
            sid=AGENT_TRACK_SID,
            type=lkm.AUDIO,
            name="agent-voice",
            source=lkm.TrackSource.MICROPHONE,
            mime_type="audio/opus",
        )
        return lkm.ParticipantInfo(
            sid=AGENT_SID,
            identity=AGENT_IDENTITY,
            state=state,  # type: ignore[arg-type]
            kind=lkm.ParticipantInfo.AGENT,
            tracks=[track] if state != lkm.ParticipantInfo.DISCONNECTED else [],
            is_publisher=True,
            joined_at=int(time.time()),
        )

    async def join(self, offer: lkr.SessionDescription) -> None:
        join = lkr.JoinResponse(
            room=lkm.Room(sid=self.sid, name=self.name, creation_time=int(time.time())),
            participant=lkm.ParticipantInfo(
                sid=self.client_sid,
                identity=self.identity,
                state=lkm.ParticipantInfo.JOINED,
                joined_at=int(time.time()),
            ),
            other_participants=[self._agent_info()],
            server_version="1.9.0",
            ping_interval=5,
            ping_timeout=15,
        )
        await self._signal(join=join)
        await self._answer(offer)

    async def _answer(self, offer: lkr.SessionDescription) -> None:
        await self.pc.setRemoteDescription(RTCSessionDescription(sdp=offer.sdp, type="offer"))
        answer = await self.pc.createAnswer()
        await self.pc.setLocalDescription(answer)
        mids = {
            t.mid: AGENT_TRACK_SID
            for t in self.pc.getTransceivers()
            if t.sender.track is self.track and t.mid is not None
        }
        sdp = _rewrite_msid(self.pc.localDescription.sdp, mids)
        await self._signal(
            answer=lkr.SessionDescription(type="answer", sdp=sdp, id=offer.id, mid_to_track_id=mids)
        )

    async def handle(self, request: lkr.SignalRequest) -> None:
        kind = request.WhichOneof("message")
        if kind == "offer":
            await self._answer(request.offer)
        elif kind == "trickle":
            await self._trickle(request.trickle)
        elif kind == "add_track":
            add = request.add_track
            sid = "TR_" + uuid.uuid4().hex[:12]
            self.published.append(sid)
            info = lkm.TrackInfo(
                sid=sid, type=add.type, name=add.name, source=add.source, mime_type="audio/opus"
            )
            await self._signal(track_published=lkr.TrackPublishedResponse(cid=add.cid, track=info))
        elif kind == "ping_req":
            now = int(time.time() * 1000)
            await self._signal(
                pong_resp=lkr.Pong(last_ping_timestamp=request.ping_req.timestamp, timestamp=now)
            )
        elif kind == "ping":
            await self._signal(pong=int(time.time() * 1000))
        elif kind == "leave":
            await self.shutdown(notify=False)

    async def _trickle(self, trickle: lkr.TrickleRequest) -> None:
        try:
            init = json.loads(trickle.candidateInit)
            line = init.get("candidate", "")
        except ValueError:
            return
        if not line:
            return
        candidate = candidate_from_sdp(line.removeprefix("candidate:"))
        candidate.sdpMid = init.get("sdpMid")
        candidate.sdpMLineIndex = init.get("sdpMLineIndex")
        with contextlib.suppress(Exception):
            await self.pc.addIceCandidate(candidate)

    # -- media and data ------------------------------------------------------

    def _elsewhere(self, method: Callable[..., None], *args: Any) -> bool:
        """Called from another thread than the room's: schedule ``method``
        on the room's loop and say so (True), else False."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self.loop:
            return False
        self.loop.call_soon_threadsafe(method, *args)
        return True

    def _spawn(self, coro: Any) -> None:
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _on_datachannel(self, channel: Any) -> None:
        channel.on("message", self._on_data)
        if channel.label == "_reliable":
            self._channel = channel
            if channel.readyState == "open":
                self._on_open()
            else:
                channel.on("open", self._on_open)

    def _on_open(self) -> None:
        if not self._joined:
            self._joined = True
            self.agent.joined(self)

    def _on_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            self._spawn(self._read_mic(track))

    async def _read_mic(self, track: MediaStreamTrack) -> None:
        resampler = av.AudioResampler(format="s16", layout="mono", rate=self.agent.sample_rate)
        first = True
        while True:
            try:
                frame = await track.recv()
            except MediaStreamError:
                return
            if first and self.published:
                # The agent "subscribes" once the microphone's media arrives:
                # the SDK's local_track_subscribed, which the client waits for.
                first = False
                await self._signal(
                    track_subscribed=lkr.TrackSubscribed(track_sid=self.published[-1])
                )
            pcm = _to_mono(frame, resampler)  # type: ignore[arg-type]
            if pcm:
                self.agent.user_audio(pcm)

    def _on_data(self, message: Any) -> None:
        if not isinstance(message, bytes):
            return
        try:
            packet = lkm.DataPacket.FromString(message)
        except Exception:
            return
        kind = packet.WhichOneof("value")
        if kind == "stream_header":
            header = packet.stream_header
            if len(self._incoming) >= MAX_OPEN_STREAMS:
                self._incoming.pop(next(iter(self._incoming)))  # the oldest
            self._incoming[header.stream_id] = {
                "topic": header.topic,
                "deflate": header.compression == lkm.DataStream.DEFLATE_RAW,
                "chunks": {},
                "inline": header.inline_content,
            }
        elif kind == "stream_chunk":
            stream = self._incoming.get(packet.stream_chunk.stream_id)
            if stream is not None:
                stream["size"] = stream.get("size", 0) + len(packet.stream_chunk.content)
                if stream["size"] > MAX_STREAM_BYTES:
                    self._incoming.pop(packet.stream_chunk.stream_id)  # too big: dropped
                    return
                stream["chunks"][packet.stream_chunk.chunk_index] = packet.stream_chunk.content
        elif kind == "stream_trailer":
            stream = self._incoming.pop(packet.stream_trailer.stream_id, None)
            if stream is None:
                return
            data = stream["inline"] + b"".join(v for _, v in sorted(stream["chunks"].items()))
            if stream["deflate"]:
                inflater = zlib.decompressobj(wbits=-15)
                try:
                    data = inflater.decompress(data, MAX_STREAM_BYTES)
                except zlib.error:
                    return
            text = data.decode("utf-8", errors="replace")
            self.received_texts.append((stream["topic"], text))
            self.agent.user_text(stream["topic"], text)

    # -- the agent's side ------------------------------------------------------

    def play(self, pcm: bytes) -> None:
        """Queue agent speech (PCM16 mono at the agent's rate) on its track."""
        if self._elsewhere(self.play, pcm):
            return
        self.track.play(pcm)

    def clear_audio(self) -> None:
        """Drop queued agent speech (the user barged in)."""
        if self._elsewhere(self.clear_audio):
            return
        self.track.clear()

    def send_text(self, text: str, topic: str = "messages") -> None:
        """Send ``text`` to the client as one text stream on ``topic``."""
        if self._elsewhere(self.send_text, text, topic):
            return
        channel = self._channel
        if channel is None or channel.readyState != "open":
            return
        stream_id = str(uuid.uuid4())
        data = text.encode()
        now = int(time.time() * 1000)
        header = lkm.DataStream.Header(
            stream_id=stream_id,
            timestamp=now,
            topic=topic,
            mime_type="text/plain",
            total_length=len(data),
            text_header=lkm.DataStream.TextHeader(operation_type=lkm.DataStream.CREATE),
        )
        packets = [lkm.DataPacket(participant_identity=AGENT_IDENTITY, stream_header=header)]
        for index, start in enumerate(range(0, len(data), 15000)):
            chunk = lkm.DataStream.Chunk(
                stream_id=stream_id, chunk_index=index, content=data[start : start + 15000]
            )
            packets.append(lkm.DataPacket(participant_identity=AGENT_IDENTITY, stream_chunk=chunk))
        trailer = lkm.DataStream.Trailer(stream_id=stream_id)
        packets.append(lkm.DataPacket(participant_identity=AGENT_IDENTITY, stream_trailer=trailer))
        for packet in packets:
            packet.kind = lkm.DataPacket.RELIABLE
            channel.send(packet.SerializeToString())

    def agent_leave(self) -> None:
        """The agent leaves the room: the client sees it disconnect (and its track go)."""
        if self._elsewhere(self.agent_leave):
            return
        self._spawn(self._agent_leave())

    async def _agent_leave(self) -> None:
        self.track.clear()
        await self._signal(
            track_unpublished=lkr.TrackUnpublishedResponse(track_sid=AGENT_TRACK_SID)
        )
        update = lkr.ParticipantUpdate(
            participants=[self._agent_info(lkm.ParticipantInfo.DISCONNECTED)]
        )
        await self._signal(update=update)

    def drop(self) -> None:
        """Cut the signalling socket and the media without a ``Leave`` (a lost network)."""
        if self._elsewhere(self.drop):
            return
        self._spawn(self._drop())

    async def _drop(self) -> None:
        if self._request is not None and self._request.transport is not None:
            self._request.transport.abort()
        await self.shutdown(notify=False)

    def close(self, reason: int = lkm.ROOM_DELETED) -> None:
        """Close the room: a ``Leave`` with ``reason`` (a ``DisconnectReason``), then the socket."""
        if self._elsewhere(self.close, reason):
            return
        self._spawn(self.shutdown(reason=reason))

    async def shutdown(self, *, notify: bool = True, reason: int = lkm.ROOM_DELETED) -> None:
        if self.closed.is_set():
            return
        self.closed.set()
        if notify:
            leave = lkr.LeaveRequest(
                can_reconnect=False,
                reason=reason,  # type: ignore[arg-type]
                action=lkr.LeaveRequest.DISCONNECT,
            )
            await self._signal(leave=leave)
        with contextlib.suppress(Exception):
            await self._ws.close()
        self.track.stop()
        await self.pc.close()
        current = asyncio.current_task()
        for task in list(self._tasks):
            if task is not current:
                task.cancel()
        self.agent.left()


AgentFactory = Callable[[dict[str, Any]], RoomAgent]


class RoomServer:
    """A LiveKit room simulator on ``host:port`` (0: any free port), one room
    per joined session; ``make_agent(claims)`` builds each room's agent from
    the verified token's claims. Use as an async context manager."""

    def __init__(
        self,
        make_agent: AgentFactory,
        *,
        api_key: str = "APIsimulator",
        api_secret: str | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.make_agent = make_agent
        self.api_key = api_key
        self.api_secret = api_secret or uuid.uuid4().hex + uuid.uuid4().hex
        self.host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        #: The rooms joined, the most recent :data:`~voiceadapters.simulator.base.CONNECTION_LIMIT`.
        self.rooms: RecentList[Room] = RecentList(CONNECTION_LIMIT)
        #: Why joins were refused, in order (a token's fault, a resume).
        self.refused: list[str] = []

    @property
    def url(self) -> str:
        """The signalling URL to hand out (``ws://host:port``)."""
        if self._runner is None:
            raise RuntimeError("room server not started")
        return f"ws://{self.host}:{self._port}"

    def token(
        self,
        identity: str,
        room: str,
        *,
        ttl: float = 600.0,
        attributes: dict[str, str] | None = None,
    ) -> str:
        """A room token for ``identity`` in ``room`` (``ttl <= 0``: already expired)."""
        return mint_token(
            self.api_key,
            self.api_secret,
            identity=identity,
            room=room,
            ttl=ttl,
            attributes=attributes,
        )

    async def start(self) -> None:
        """Serve from a thread of its own, with its own event loop.

        The rooms' media (aiortc: RTP, Opus, the agent track's real-time
        pacing) then does not wait behind whatever else the caller's loop
        runs — in a test, the livekit client in the same process, whose
        audio callbacks, driver and checks share that loop. Measured: with
        both on one loop, a busy machine delayed the agent track's packets
        enough for the client's jitter buffer to conceal and stretch time
        (echo envelope 0.75 once, with two CPU hogs and other work)."""
        if self._loop is not None:
            raise RuntimeError("room server already started")
        loop = asyncio.new_event_loop()
        thread = threading.Thread(target=self._serve, args=(loop,), name="roomsim", daemon=True)
        self._loop, self._thread = loop, thread
        thread.start()
        try:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._start(), loop))
        except BaseException:
            await self._halt()
            raise

    @staticmethod
    def _serve(loop: asyncio.AbstractEventLoop) -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_forever()
            pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
            for task in pending:
                task.cancel()
            loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
            loop.run_until_complete(loop.shutdown_asyncgens())
        finally:
            loop.close()

    async def _halt(self) -> None:
        loop, thread = self._loop, self._thread
        self._loop = self._thread = None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None:
            await asyncio.get_running_loop().run_in_executor(None, thread.join, 10.0)

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/rtc/v1", self._join)
        app.router.add_get("/rtc/v1/validate", self._validate)
        app.router.add_get("/rtc/validate", self._validate)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self._port))
        self._port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()

    async def stop(self) -> None:
        """Close every room (``Leave`` with ``ROOM_DELETED``) and stop."""
        loop = self._loop
        if loop is None:
            return
        try:
            await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(self._stop(), loop))
        finally:
            await self._halt()

    async def _stop(self) -> None:
        for room in list(self.rooms):
            await room.shutdown(reason=lkm.ROOM_DELETED)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> RoomServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def _claims(self, request: web.Request) -> dict[str, Any]:
        header = request.headers.get("Authorization", "")
        token = header[7:] if header[:7].lower() == "bearer " else request.query.get("access_token")
        if not token:
            raise ValueError("no permissions to access the room: missing token")
        claims = read_token(token, self.api_secret)
        if claims.get("iss") != self.api_key:
            raise ValueError("invalid token: unknown API key")
        return claims

    async def _validate(self, request: web.Request) -> web.Response:
        try:
            self._claims(request)
        except ValueError as exc:
            return web.Response(status=401, text=str(exc))
        if request.query.get("reconnect") == "1":
            return web.Response(status=401, text="could not resume: the room is gone")
        return web.Response(text="success")

    async def _join(self, request: web.Request) -> web.StreamResponse:
        try:
            claims = self._claims(request)
        except ValueError as exc:
            self.refused.append(str(exc))
            return web.Response(status=401, text=str(exc))
        if request.query.get("reconnect") == "1":
            # No resume: the SDK falls back to reporting the disconnection.
            self.refused.append("resume")
            return web.Response(status=401, text="could not resume: the room is gone")
        try:
            join = _join_request(request.query.get("join_request", ""))
        except ValueError as exc:
            self.refused.append(str(exc))
            return web.Response(status=400, text=str(exc))
        if join.reconnect:
            self.refused.append("resume")
            return web.Response(status=401, text="could not resume: the room is gone")
        if not join.HasField("publisher_offer"):
            self.refused.append("no publisher offer")
            return web.Response(status=400, text="join_request has no publisher offer")
        offer = join.publisher_offer
        video = claims.get("video")
        grant: dict[str, Any] = video if isinstance(video, dict) else {}
        ws = web.WebSocketResponse(autoping=True, max_msg_size=4 * 1024 * 1024)
        await ws.prepare(request)
        room = Room(
            self,
            str(grant.get("room", "")),
            str(claims.get("sub", "")),
            self.make_agent(claims),
            ws,
            request,
        )
        self.rooms.append(room)
        try:
            await room.join(offer)
            async for message in ws:
                if message.type != WSMsgType.BINARY:
                    continue
                try:
                    signal = lkr.SignalRequest.FromString(message.data)
                except Exception:
                    continue
                await room.handle(signal)
        except Exception:
            log.exception("room %s failed", room.name)
        finally:
            await room.shutdown(notify=False)
        return ws


def _rewrite_msid(sdp: str, mids: dict[str, str]) -> str:
    """Give the agent track's media section the stream id ``PA_…|TR_…``.

    The SDK keys remote tracks by that stream id (rust-sdks
    ``rtc_session.rs``) and refuses an SDP whose sections repeat an ``a=msid``
    value; aiortc writes its own random ids, so only the agent's section is
    rewritten (no private aiortc field is touched)."""
    sections = re.split(r"(?m)^(?=m=)", sdp)
    out = []
    for section in sections:
        mid = re.search(r"(?m)^a=mid:(\S+)", section)
        if mid and mid.group(1) in mids:
            track = mids[mid.group(1)]
            section = re.sub(r"(?m)^a=msid:\S+ \S+", f"a=msid:{AGENT_SID}|{track} {track}", section)
        out.append(section)
    return "".join(out)


def _join_request(encoded: str) -> lkr.JoinRequest:
    """The ``JoinRequest`` inside the ``join_request`` query parameter."""
    if not encoded:
        raise ValueError("missing join_request (this simulator speaks /rtc/v1 only)")
    try:
        wrapped = lkr.WrappedJoinRequest.FromString(_unb64url(encoded))
        data = wrapped.join_request
        if wrapped.compression == lkr.WrappedJoinRequest.GZIP:
            data = gzip.decompress(data)
        return lkr.JoinRequest.FromString(data)
    except Exception as exc:  # a client's garbage
        raise ValueError(f"unreadable join_request ({type(exc).__name__})") from None
