"""Recording: a :class:`Transport` wrapper that writes every step and message
to a cassette (docs/cassettes.md).

The driver talks to a transport (:mod:`voiceadapters.transports.base`);
:class:`RecordingTransport` sits between the two, so any plugin — whatever
its handshake, whatever its messages — is recorded without a change to it::

    recorder = Recorder("session.jsonl", audio="truncate")
    async with voiceadapters.connect(config, record=recorder) as session:
        ...

(``record="session.jsonl"`` is the same with ``audio="keep"``.) Every line
is scrubbed before it is written (:class:`~voiceadapters.cassette.scrub.Scrubber`);
the events the adapter produced are written too (``k: "event"``), each with
the number of the last provider message that arrived before it, which is what
a replay compares its own events with.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from ..errors import ConfigError, ConnectError, WebSocketRejected
from ..events import SCHEMA_VERSION, Event, event_to_log
from ..frames import Frame
from ..handshake import HttpRequest, HttpResponse, MediaRequest, WebSocketRequest
from ..secrets import Secret
from ..transports.base import Connection, Receiver, Transport, TransportClosed
from .format import AUDIO_POLICIES, FORMAT_NAME, FORMAT_VERSION, CassetteError, Message
from .scrub import Scrubber

if TYPE_CHECKING:
    from ..config import ProviderConfig
    from ..provider import Provider

__all__ = ["Recorder", "RecordingConnection", "RecordingTransport"]

#: Response headers not worth keeping (they describe one transfer, not the answer).
_DROPPED_HEADERS = frozenset(
    {"date", "server", "content-length", "transfer-encoding", "connection", "keep-alive"}
)


class Recorder:
    """Writes one cassette.

    ``target`` is a path (the file is created, replacing any), an open text
    file, or ``None`` (in memory: :attr:`lines`). ``audio`` is the audio
    policy (``keep``, ``truncate`` or ``marker``); ``comment`` goes into the
    header. :meth:`start` (called by :func:`voiceadapters.connect`) writes
    the header; otherwise the first step writes it.
    """

    def __init__(
        self,
        target: str | os.PathLike[str] | IO[str] | None = None,
        *,
        audio: str = "keep",
        comment: str | None = None,
    ) -> None:
        if audio not in AUDIO_POLICIES:
            raise CassetteError(
                f"audio policy must be one of {', '.join(AUDIO_POLICIES)}, not {audio!r}"
            )
        self.audio = audio
        self.comment = comment
        self.scrubber = Scrubber(audio=audio)
        self.path: Path | None = None
        self._file: IO[str] | None = None
        self._owns_file = False
        if isinstance(target, str | os.PathLike):
            self.path = Path(target)
            try:
                self._file = self.path.open("w", encoding="utf-8")
            except OSError as exc:
                raise CassetteError(
                    f"cannot write cassette {self.path}: {exc.strerror or exc}"
                ) from None
            self._owns_file = True
        elif target is not None:
            self._file = target
        #: Every line written (only kept for an in-memory recorder).
        self.lines: list[dict[str, Any]] = []
        self._start: float | None = None
        self._header_written = False
        self._provider = ""
        self._config = ""
        self._conns = 0
        self._counts: dict[tuple[int, str], int] = {}
        self._last_conn = 0
        self._finished = False

    # -- header ----------------------------------------------------------------

    def start(
        self,
        *,
        provider: Provider | str,
        config: ProviderConfig | str | None = None,
        api_key: str | Secret | None = None,
    ) -> None:
        """Start the clock and write the header (secrets of ``config`` and
        ``api_key`` are learned first, so they are scrubbed everywhere)."""
        if self._header_written:
            return
        if isinstance(provider, str):
            self._provider = provider
        else:
            self._provider = provider.name
            self.scrubber.audio_fields = tuple(getattr(provider, "wire_audio_fields", ()) or ())
        if config is not None and not isinstance(config, str):
            self.scrubber.learn(config.api_key)
            config = config.to_string()
        self.scrubber.learn(api_key)
        self._config = self.scrubber.url(config) if config else ""
        self._start = time.monotonic()
        self._write_header()

    def _write_header(self) -> None:
        from .. import __version__

        self._header_written = True
        header: dict[str, Any] = {
            "cassette": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "schema_version": SCHEMA_VERSION,
            "core_version": __version__,
            "provider": self._provider,
            "config": self._config,
            "created": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "audio": self.audio,
            "source": "recorded",
        }
        if self.comment:
            header["comment"] = self.scrubber.text(self.comment)
        self._emit(header)

    def _t(self) -> float:
        if self._start is None:
            self._start = time.monotonic()
        return round(time.monotonic() - self._start, 6)

    def _emit(self, line: dict[str, Any]) -> None:
        if self._finished:
            return
        if self._file is not None:
            self._file.write(json.dumps(line, ensure_ascii=False) + "\n")
        else:
            self.lines.append(line)

    def _line(self, kind: str, **fields: Any) -> None:
        if not self._header_written:
            self._write_header()
        self._emit({"k": kind, "t": self._t(), **fields})

    def flush(self) -> None:
        if self._file is not None:
            self._file.flush()

    # -- handshake ---------------------------------------------------------------

    def http_request(self, request: HttpRequest, *, provider: str) -> None:
        self._provider = self._provider or provider
        self.scrubber.learn(*request.secrets())
        scrub = self.scrubber
        line: dict[str, Any] = {
            "method": request.method.upper(),
            "url": scrub.url(request.reveal_url()),
            "headers": scrub.headers(request.reveal_headers().items()),
        }
        if request.json is not None:
            line["json"] = scrub.body_json(request.json)
        self._line("http_request", **line)

    def http_response(self, response: HttpResponse) -> None:
        scrub = self.scrubber
        line: dict[str, Any] = {"status": response.status}
        body = response.body
        if body:
            try:
                line["json"] = scrub.body_json(json.loads(body))  # learns issued tokens
            except ValueError:
                try:
                    line["text"] = scrub.text(body.decode("utf-8"))
                except UnicodeDecodeError:
                    line["bytes"] = len(body)
        headers = [(k, v) for k, v in response.headers.items() if k.lower() not in _DROPPED_HEADERS]
        line["headers"] = scrub.headers(headers)
        self._line("http_response", **line)
        self.flush()

    def http_failed(self, message: str) -> None:
        self._line("http_failed", error=self.scrubber.text(message))
        self.flush()

    def ws_open(self, request: WebSocketRequest, *, provider: str) -> int:
        self._provider = self._provider or provider
        self.scrubber.learn(
            *(v for _, v in (*request.query, *request.headers) if isinstance(v, Secret)),
            *request.redact,
        )
        self._conns += 1
        self._last_conn = self._conns
        scrub = self.scrubber
        self._line(
            "ws_open",
            conn=self._conns,
            url=scrub.url(request.reveal_url()),
            headers=scrub.headers(request.reveal_headers().items()),
        )
        self.flush()
        return self._conns

    def ws_rejected(self, conn: int, status: int | None, message: str) -> None:
        self._line("ws_rejected", conn=conn, status=status, error=self.scrubber.text(message))
        self.flush()

    # -- messages ----------------------------------------------------------------

    def message(self, direction: str, conn: int, frame: Frame) -> None:
        key = (conn, direction)
        n = self._counts[key] = self._counts.get(key, 0) + 1
        if direction == "recv":
            self._last_conn = conn
        if isinstance(frame, bytes):
            kept = self.scrubber.binary(frame)[: len(frame)]
            msg = Message(direction, conn, n, 0.0, True, data=kept, size=len(frame))
        else:
            text, audio = self.scrubber.message_text(frame)
            msg = Message(direction, conn, n, 0.0, False, text=text, audio=audio)
        line = msg.to_json()
        del line["k"], line["t"]
        self._line(direction, **line)

    def client_close(self, conn: int, code: int, reason: str) -> None:
        self._line("close", conn=conn, code=code, reason=self.scrubber.text(reason))

    def client_abort(self, conn: int) -> None:
        self._line("abort", conn=conn)

    def closed(self, conn: int, code: int | None, reason: str) -> None:
        self._line("closed", conn=conn, code=code, reason=self.scrubber.text(reason))
        self.flush()

    def received(self, conn: int) -> int:
        """How many provider messages ``conn`` has delivered so far."""
        return self._counts.get((conn, "recv"), 0)

    # -- events ------------------------------------------------------------------

    def events(self, events: Sequence[Event]) -> None:
        """The adapter's normalized events (the session's observer)."""
        conn = self._last_conn
        after = self.received(conn)
        for event in events:
            data = json.loads(self.scrubber.text(json.dumps(event_to_log(event))))
            self._line("event", conn=conn, after=after, event=data)

    def finish(self) -> None:
        """Write the last line and close the file (if this recorder opened it)."""
        if self._finished:
            return
        if self._header_written:
            self._line("end")
        self._finished = True
        if self._file is not None:
            self._file.flush()
            if self._owns_file:
                self._file.close()

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret the recorder scrubbed (keys and issued tokens)."""
        return self.scrubber.secrets


class _Tap:
    """A :class:`Receiver` that records each pushed message, then passes it on."""

    __slots__ = ("_conn", "_receiver")

    def __init__(self, conn: RecordingConnection, receiver: Receiver) -> None:
        self._conn = conn
        self._receiver = receiver

    def frame_received(self, frame: Frame) -> None:
        self._conn.recorder.message("recv", self._conn.number, frame)
        self._receiver.frame_received(frame)

    def audio_received(self, pcm: bytes) -> None:
        # Never reached: RecordingTransport refuses media sessions (see media()).
        self._receiver.audio_received(pcm)

    def connection_closed(self, code: int | None, reason: str) -> None:
        self._conn._closed(code, reason)
        self._receiver.connection_closed(code, reason)


class RecordingConnection(Connection):
    """A :class:`Connection` that records what passes through it."""

    def __init__(self, inner: Connection, recorder: Recorder, number: int) -> None:
        self.inner = inner
        self.recorder = recorder
        self.number = number
        self._done = False

    @property
    def last_received(self) -> float | None:
        return self.inner.last_received

    @last_received.setter
    def last_received(self, value: float | None) -> None:
        self.inner.last_received = value

    def _closed(self, code: int | None, reason: str) -> None:
        if not self._done:
            self._done = True
            self.recorder.closed(self.number, code, reason)

    def set_receiver(self, receiver: Receiver) -> bool:
        return self.inner.set_receiver(_Tap(self, receiver))

    async def send(self, frame: Frame) -> None:
        # Written before it is sent: an answer pushed while the send waits
        # for the socket must come after it in the cassette.
        self.recorder.message("send", self.number, frame)
        await self.inner.send(frame)

    async def recv(self) -> Frame:
        try:
            frame = await self.inner.recv()
        except TransportClosed as closed:
            self._closed(closed.code, closed.reason)
            raise
        self.recorder.message("recv", self.number, frame)
        return frame

    async def close(self, code: int = 1000, reason: str = "") -> None:
        if not self._done:
            self.recorder.client_close(self.number, code, reason)
        await self.inner.close(code, reason)

    async def abort(self) -> None:
        if not self._done:
            self.recorder.client_abort(self.number)
        await self.inner.abort()


class RecordingTransport(Transport):
    """Wraps ``inner``, writing every handshake step and message to ``recorder``.

    ``owns_inner``: :meth:`aclose` closes ``inner`` too. :meth:`aclose`
    always finishes the recorder (its last line; closing its file).
    """

    def __init__(self, inner: Transport, recorder: Recorder, *, owns_inner: bool = True) -> None:
        self.inner = inner
        self.recorder = recorder
        self._owns_inner = owns_inner

    async def http(self, request: HttpRequest, *, provider: str) -> HttpResponse:
        self.recorder.http_request(request, provider=provider)
        try:
            response = await self.inner.http(request, provider=provider)
        except ConnectError as exc:
            self.recorder.http_failed(str(exc))
            raise
        self.recorder.http_response(response)
        return response

    async def websocket(self, request: WebSocketRequest, *, provider: str) -> Connection:
        number = self.recorder.ws_open(request, provider=provider)
        try:
            conn = await self.inner.websocket(request, provider=provider)
        except WebSocketRejected as exc:
            self.recorder.ws_rejected(number, exc.status, str(exc))
            raise
        except ConnectError as exc:
            self.recorder.ws_rejected(number, None, str(exc))
            raise
        return RecordingConnection(conn, self.recorder, number)

    async def media(self, request: MediaRequest, *, provider: str) -> Connection:
        """Refused: a cassette holds the messages of HTTP and WebSocket steps;
        a media session's tracks (WebRTC audio) have no place in format 1,
        and a replay server could not answer the join. Recording it without
        its audio would make a cassette that cannot replay, so this says so
        before anything is joined."""
        raise ConfigError(
            f"{provider}: recording a media session ({request.describe()}) is not "
            "supported: cassettes record HTTP and WebSocket traffic (docs/cassettes.md)"
        )

    async def aclose(self) -> None:
        try:
            if self._owns_inner:
                await self.inner.aclose()
        finally:
            self.recorder.finish()
