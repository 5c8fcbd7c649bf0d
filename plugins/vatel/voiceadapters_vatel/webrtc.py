"""The LiveKit media connector behind ``vatel+webrtc://`` (the ``webrtc`` extra).

It joins the LiveKit room a Vatel WebRTC credential names, with the real
``livekit`` rtc package, the way Vatel's JS ``WebRTCSession`` does (the Vatel
wire spec §11; livekit Python SDK 1.2: ``rtc.Room.connect``,
``register_text_stream_handler``, ``send_text``, ``AudioSource``,
``LocalAudioTrack``, ``AudioStream``):

* the microphone is an ``rtc.AudioSource`` at the request's ``input_format``,
  published as a ``LocalAudioTrack`` with source ``SOURCE_MICROPHONE`` and
  ``dtx=False``; the join returns once the server reports that the agent
  subscribed to it (``local_track_subscribed``), or after
  :data:`SUBSCRIBE_WAIT` seconds: audio captured before the media flows is
  lost (about 150 ms measured against the room simulator); :meth:`LiveKitConnection.send_audio` captures each chunk
  into it (it waits while the source's queue is full: real-time pacing);
* the agent's audio track (the remote participant's, subscribed
  automatically) is read with ``rtc.AudioStream(track, sample_rate=…,
  num_channels=1)`` at the request's ``output_format`` and pushed to the
  driver as track audio;
* data messages are text streams on the topic ``"messages"`` (the request's
  ``topic`` option), one JSON message per stream, both ways (``send_text``);
* the end: the SDK's ``disconnected`` event reports the
  ``DisconnectReason`` (``ROOM_DELETED``, ``SERVER_SHUTDOWN``, …) as the close
  reason, with code ``None`` (no WebSocket close code exists here); the
  agent's audio track being unsubscribed or the agent leaving the room is
  reported as ``AGENT_LEFT`` after the connector leaves the room itself (the
  JS SDK disconnects in that case too); a lost connection (the SDK's
  ``reconnecting``) is reported at once as ``SIGNAL_LOST`` and the connector
  leaves, so that the session's own reconnect (a fresh credential and room,
  :mod:`voiceadapters.reconnect`) recovers it, as for a WebSocket, instead of
  the SDK's resume; a close the client asked for is code 1000,
  ``CLIENT_INITIATED``.

The livekit package is imported when a session joins, never when the plugin
loads; without it, joining raises :class:`~voiceadapters.errors.ConfigError`
with the install command (:func:`require_livekit`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from typing import TYPE_CHECKING, Any

from voiceadapters.errors import ConfigError, ConnectError, WebSocketRejected
from voiceadapters.handshake import Frame, MediaRequest
from voiceadapters.secrets import redact
from voiceadapters.transports.base import Connection, Receiver, TransportClosed

if TYPE_CHECKING:
    from types import ModuleType

__all__ = [
    "AGENT_LEFT",
    "CLIENT_INITIATED",
    "INSTALL_HINT",
    "SIGNAL_LOST",
    "LiveKitConnection",
    "LiveKitConnector",
    "require_livekit",
]

log = logging.getLogger("voiceadapters.vatel.webrtc")

INSTALL_HINT = "pip install 'voiceadapters-vatel[webrtc]'"
#: Close reasons this connector reports besides the SDK's ``DisconnectReason`` names.
AGENT_LEFT = "AGENT_LEFT"
#: The connection to the room was lost (the SDK began to reconnect).
SIGNAL_LOST = "SIGNAL_LOST"
CLIENT_INITIATED = "CLIENT_INITIATED"

#: Longest wait, on close, for the microphone's queued audio to play out, and
#: the time then left for the last packets to arrive.
DRAIN_TIMEOUT = 2.0
DRAIN_SLACK = 0.2
#: Longest wait after publishing the microphone for the agent to subscribe to it.
SUBSCRIBE_WAIT = 3.0

_STATUS = re.compile(r"\b([45]\d\d)\b")


def require_livekit(provider: str = "vatel") -> ModuleType:
    """The ``livekit.rtc`` module, or :class:`~voiceadapters.errors.ConfigError`
    naming the extra to install when the ``livekit`` package is missing."""
    try:
        from livekit import rtc
    except ImportError as exc:
        raise ConfigError(
            f"{provider}+webrtc needs the livekit package, which is not installed: "
            f"{INSTALL_HINT} ({exc})"
        ) from None
    return rtc


class LiveKitConnector:
    """Joins a :class:`~voiceadapters.handshake.MediaRequest` with the livekit
    SDK (a :class:`~voiceadapters.handshake.MediaConnector`)."""

    name = "livekit"

    def __init__(self, provider: str = "vatel") -> None:
        self.provider = provider

    def __repr__(self) -> str:
        return "<LiveKitConnector>"

    async def join(self, request: MediaRequest) -> LiveKitConnection:
        rtc = require_livekit(self.provider)
        conn = LiveKitConnection(rtc, request, provider=self.provider)
        try:
            await conn._join()
        except BaseException:
            await conn.abort()
            raise
        return conn


class LiveKitConnection(Connection):
    """One joined room; see the module docstring. Pushes to its receiver
    (what arrives before :meth:`set_receiver` is kept and handed over first)."""

    def __init__(self, rtc: ModuleType, request: MediaRequest, *, provider: str) -> None:
        self._rtc = rtc
        self._request = request
        self._provider = provider
        self._topic = request.option("topic", "messages")
        self._room: Any = rtc.Room()
        self._source: Any = None
        self._receiver: Receiver | None = None
        self._pending: deque[tuple[str, Any]] = deque()
        self._frames: asyncio.Queue[Frame | None] = asyncio.Queue()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._texts: deque[asyncio.Task[str | None]] = deque()
        self._agent: str | None = None  # identity of the participant whose audio we play
        self._closed = False
        self._close_code: int | None = None
        self._close_reason = ""
        self._loop = asyncio.get_running_loop()

    def __repr__(self) -> str:
        return f"<LiveKitConnection {self._request.url} closed={self._closed}>"

    # -- joining ------------------------------------------------------------

    async def _join(self) -> None:
        rtc, room, request = self._rtc, self._room, self._request
        room.register_text_stream_handler(self._topic, self._on_text_stream)
        room.on("track_subscribed", self._on_track_subscribed)
        room.on("track_unsubscribed", self._on_track_unsubscribed)
        room.on("participant_disconnected", self._on_participant_disconnected)
        room.on("disconnected", self._on_disconnected)
        room.on("reconnecting", self._on_reconnecting)
        options = rtc.RoomOptions(auto_subscribe=True, connect_timeout=request.open_timeout)
        token = request.token.reveal()
        try:
            await room.connect(request.url, token, options)
        except rtc.ConnectError as exc:
            message = redact(str(exc), (request.token,))
            status = _STATUS.search(message)
            if status is not None:
                raise WebSocketRejected(self._provider, int(status.group(1)), message) from None
            raise ConnectError(
                f"{self._provider}: could not join the LiveKit room at {request.url}: {message}"
            ) from None
        fmt = request.input_format
        self._source = rtc.AudioSource(fmt.sample_rate, 1)
        track = rtc.LocalAudioTrack.create_audio_track("microphone", self._source)
        # dtx off, as Vatel's JS WebRTCSession publishes its microphone.
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE, dtx=False)
        bitrate = int(request.option("max_bitrate", "0") or 0)
        if bitrate:
            options.audio_encoding.max_bitrate = bitrate
        subscribed = asyncio.Event()
        room.on("local_track_subscribed", lambda *_: subscribed.set())
        await room.local_participant.publish_track(track, options)
        # Audio captured before the agent receives the track is lost (about
        # 150 ms measured): wait, boundedly, for the server to say the agent
        # subscribed to the microphone (LiveKit's TrackSubscribed).
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(subscribed.wait(), min(SUBSCRIBE_WAIT, request.open_timeout))
        # A track subscribed before the handler ran (auto-subscribe at join).
        for participant in room.remote_participants.values():
            for publication in participant.track_publications.values():
                if publication.track is not None and publication.kind == rtc.TrackKind.KIND_AUDIO:
                    self._on_track_subscribed(publication.track, publication, participant)

    # -- SDK callbacks --------------------------------------------------------

    def _spawn(self, coro: Any) -> None:
        task = self._loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _deliver(self, kind: str, value: Any) -> None:
        if self._closed and kind != "closed":
            return
        self.last_received = self._loop.time()
        receiver = self._receiver
        if receiver is None:
            self._pending.append((kind, value))
            if kind == "frame":
                self._frames.put_nowait(value)
            elif kind == "closed":
                self._frames.put_nowait(None)
            return
        if kind == "frame":
            receiver.frame_received(value)
        elif kind == "audio":
            receiver.audio_received(value)
        else:
            receiver.connection_closed(*value)

    def _on_text_stream(self, reader: Any, participant_identity: str) -> None:
        # Streams are read concurrently but delivered in the order they
        # opened: one message per stream, and the protocol's order matters
        # (interim text before final).
        read = self._loop.create_task(self._read_text(reader))
        self._texts.append(read)
        if len(self._texts) == 1:
            self._spawn(self._deliver_texts())

    async def _read_text(self, reader: Any) -> str | None:
        try:
            text: str = await reader.read_all()
        except Exception as exc:  # a broken stream is the peer's fault
            log.warning("%s: a text stream failed: %s", self._provider, type(exc).__name__)
            return None
        return text

    async def _deliver_texts(self) -> None:
        while self._texts:
            text = await self._texts[0]
            self._texts.popleft()
            if text is not None:
                self._deliver("frame", text)

    def _on_track_subscribed(self, track: Any, publication: Any, participant: Any) -> None:
        if track.kind != self._rtc.TrackKind.KIND_AUDIO or self._agent is not None:
            return
        self._agent = participant.identity
        self._spawn(self._read_audio(track))

    async def _read_audio(self, track: Any) -> None:
        fmt = self._request.output_format
        stream = self._rtc.AudioStream(track, sample_rate=fmt.sample_rate, num_channels=1)
        try:
            async for event in stream:
                self._deliver("audio", bytes(event.frame.data))
        finally:
            with contextlib.suppress(Exception):
                await stream.aclose()

    def _on_track_unsubscribed(self, track: Any, publication: Any, participant: Any) -> None:
        if participant.identity == self._agent:
            self._spawn(self._leave(None, AGENT_LEFT))

    def _on_participant_disconnected(self, participant: Any) -> None:
        if participant.identity == self._agent or self._agent is None:
            self._spawn(self._leave(None, AGENT_LEFT))

    def _on_reconnecting(self) -> None:
        # The SDK lost its signalling (or media) and starts its own resume.
        # The session's reconnect owns recovery, as for a WebSocket (a fresh
        # credential, a fresh room): report the loss now and leave.
        self._spawn(self._leave(None, SIGNAL_LOST))

    def _on_disconnected(self, reason: Any) -> None:
        try:
            name = self._rtc.DisconnectReason.Name(reason)
        except (ValueError, TypeError):
            name = f"DISCONNECT_REASON_{reason}"
        if name == CLIENT_INITIATED:
            self._finish(1000, name)
        else:
            self._finish(None, name)

    def _finish(self, code: int | None, reason: str) -> None:
        if self._closed:
            return
        self._closed = True
        self._close_code, self._close_reason = code, reason
        self._deliver("closed", (code, reason))

    async def _leave(self, code: int | None, reason: str) -> None:
        if self._closed:
            return
        self._finish(code, reason)
        with contextlib.suppress(Exception):
            await self._room.disconnect()
        await self._stop_tasks()

    async def _stop_tasks(self) -> None:
        current = asyncio.current_task()
        tasks = [t for t in (*self._tasks, *self._texts) if t is not current]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(BaseException):
                await task

    # -- Connection ---------------------------------------------------------------

    def set_receiver(self, receiver: Receiver) -> bool:
        self._receiver = receiver
        pending, self._pending = self._pending, deque()
        for kind, value in pending:
            if kind == "frame":
                receiver.frame_received(value)
            elif kind == "audio":
                receiver.audio_received(value)
            else:
                receiver.connection_closed(*value)
        return True

    async def send(self, frame: Frame) -> None:
        if self._closed:
            raise TransportClosed(self._close_code, self._close_reason)
        text = frame if isinstance(frame, str) else frame.decode("utf-8", errors="replace")
        try:
            await self._room.local_participant.send_text(text, topic=self._topic)
        except Exception as exc:
            raise TransportClosed(None, f"send_text failed: {type(exc).__name__}") from None

    async def send_audio(self, pcm: bytes) -> None:
        if self._closed or self._source is None:
            raise TransportClosed(self._close_code, self._close_reason)
        samples = len(pcm) // 2
        if not samples:
            return
        fmt = self._request.input_format
        frame = self._rtc.AudioFrame(pcm[: samples * 2], fmt.sample_rate, 1, samples)
        await self._source.capture_frame(frame)

    async def recv(self) -> Frame:
        """Data messages only (track audio needs a receiver: :meth:`set_receiver`)."""
        frame = await self._frames.get()
        if frame is None:
            raise TransportClosed(self._close_code, self._close_reason)
        return frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Leave the room, after the microphone audio already captured has
        been played out (bounded by :data:`DRAIN_TIMEOUT`): a WebSocket
        delivers what was sent before its close, and so does this."""
        if not self._closed and self._source is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._source.wait_for_playout(), DRAIN_TIMEOUT)
                # What was played out is still on its way (one jitter buffer).
                await asyncio.sleep(DRAIN_SLACK)
        await self._leave(1000, CLIENT_INITIATED)
        if self._source is not None:
            with contextlib.suppress(Exception):
                await self._source.aclose()

    async def abort(self) -> None:
        await self.close()
