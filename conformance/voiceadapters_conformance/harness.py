"""The two levels a case runs at, behind one interface.

:class:`CodecHarness` pairs the plugin's codec with its simulator in memory
(:class:`voiceadapters.testing.CodecPair`) on a *fake clock*, and runs the
session's audio pipeline (:class:`voiceadapters.pipeline.AudioPipeline`)
around it: fast and deterministic. :class:`NetworkHarness` opens a real
:func:`voiceadapters.connect` session against the simulator served on
127.0.0.1. Cases are written once against :class:`Harness`.

Both harnesses record what a user would see (``events``: application-level
events) and keep a transcript of everything rendered that could leak a secret
(``rendered``: reprs, log lines, exception messages), which the secret
masking case inspects.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

from voiceadapters.codec import Codec
from voiceadapters.commands import (
    Close,
    Command,
    EndTurn,
    Interrupt,
    ReportPlayed,
    SendAudio,
    SendText,
    SendToolResult,
)
from voiceadapters.config import ProviderConfig, parse_config, resolve_config
from voiceadapters.errors import SessionClosedError, VoiceAdaptersError
from voiceadapters.events import Event, SessionEnded
from voiceadapters.format import AudioFormat
from voiceadapters.handshake import (
    CloseFrame,
    HttpRequest,
    HttpResponse,
    MediaRequest,
    WebSocketRequest,
)
from voiceadapters.pipeline import AudioPipeline
from voiceadapters.provider import Provider
from voiceadapters.secrets import Secret
from voiceadapters.simulator.base import Simulator, SimulatorConnection
from voiceadapters.testing import CodecPair

__all__ = ["CONFORMANCE_KEY", "CodecHarness", "Harness", "NetworkHarness", "make_harness"]

#: The API key every harness uses; the masking case makes sure it never shows.
CONFORMANCE_KEY = "sk-conformance-9f3b27c1-NEVER-RENDER"

Predicate = Callable[[list[Event]], bool]


def _secret_values(step: HttpRequest | WebSocketRequest | MediaRequest) -> list[str]:
    if isinstance(step, MediaRequest):
        return [step.token.reveal(), *(s.reveal() for s in step.redact)]
    values = []
    for _, value in (*step.headers, *step.query):
        if isinstance(value, Secret):
            text = value.reveal()
            values.append(text)
            _, _, bare = text.partition(" ")
            if bare:
                values.append(bare)
    return values


def _token_like_values(response: HttpResponse) -> list[str]:
    """Long strings in a JSON response body: the credentials a token endpoint hands out."""
    try:
        data = json.loads(response.body)
    except ValueError:
        return []
    found: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, str) and len(value) >= 16 and "://" not in value:
            found.append(value)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(data)
    return found


class _Capture(logging.Handler):
    """Every log record rendered as text, for the secret masking case."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        with contextlib.suppress(Exception):
            self.lines.append(self.format(record))


class Harness(ABC):
    """A session under test, at one level. See the module docstring."""

    level: str

    def __init__(
        self, provider: Provider, *, api_key: str = CONFORMANCE_KEY, transport: str | None = None
    ) -> None:
        self.provider = provider
        self.api_key = api_key
        #: The provider's transport under test (``None``: its default).
        self.transport = transport
        self.events: list[Event] = []
        self.app_format = AudioFormat(16000)
        #: Secret values seen on the way (key, tokens, revealed headers/query).
        self.secrets: set[str] = {api_key}
        #: Texts a user could see: reprs, log lines, exception messages.
        self.rendered: list[str] = []
        self.handshake_steps: list[HttpRequest | WebSocketRequest | MediaRequest] = []
        self._log = _Capture()

    # -- lifecycle ---------------------------------------------------------------

    @abstractmethod
    async def open(
        self,
        scenario: str | None = None,
        *,
        app_format: AudioFormat | None = None,
        api_key: str | None = None,
        pace: float = 0.0,
        max_buffered_audio: float = 30.0,
        reconnect: bool | None = None,
    ) -> None:
        """Start the simulator and the session. Raises what connecting raises.

        ``reconnect`` turns the session's reconnect on or off (``None``: the
        library's default, on); it matters at network level only."""

    @abstractmethod
    async def close(self) -> SessionEnded:
        """Close from the client side; returns ``session_ended``."""

    @abstractmethod
    async def shutdown(self) -> None:
        """Release everything (always called, even after a failure)."""

    # -- driving -------------------------------------------------------------------

    @abstractmethod
    async def send_audio(self, pcm: bytes) -> None:
        """Send application audio (``app_format``); the clock moves by its duration."""

    @abstractmethod
    async def command(self, command: Command) -> None:
        """Send a command through the session's public method for it."""

    @abstractmethod
    async def wait_for(self, predicate: Predicate, timeout: float = 20.0) -> bool:
        """Let time pass until ``predicate(events)`` holds (True) or ``timeout`` (False)."""

    @abstractmethod
    async def settle(self, quiet: float = 0.5, timeout: float = 30.0) -> None:
        """Let time pass until the session has been quiet for ``quiet`` seconds
        (codec level: until no timer is pending), at most ``timeout``."""

    @abstractmethod
    async def inject(self, frame: str | bytes | CloseFrame) -> None:
        """Make the server send ``frame`` now, outside its protocol logic."""

    @abstractmethod
    async def drop(self) -> None:
        """Cut the connection without a closing handshake."""

    @abstractmethod
    async def server_going_away(self) -> None:
        """The server shuts down (close code 1001)."""

    @property
    @abstractmethod
    def server(self) -> SimulatorConnection:
        """The simulator's side of the connection (what reached the provider)."""

    @property
    @abstractmethod
    def simulator(self) -> Simulator: ...

    # -- helpers --------------------------------------------------------------------

    async def speak(self, pcm: bytes, *, frame_ms: int = 20, trailing_silence: float = 1.0) -> None:
        """Send ``pcm`` in ``frame_ms`` frames, then ``trailing_silence`` seconds of silence."""
        frame = self.app_format.bytes_for(frame_ms / 1000)
        data = pcm + bytes(self.app_format.bytes_for(trailing_silence))
        for i in range(0, len(data), frame):
            if self.ended() is not None:
                return  # the provider ended the session; the rest is not needed
            try:
                await self.send_audio(data[i : i + frame])
            except SessionClosedError:
                return

    @property
    def media(self) -> bool:
        """True when the session joined a media session (a
        :class:`~voiceadapters.handshake.MediaRequest` step: WebRTC): audio
        then crosses a lossy codec, and the end has no WebSocket close code."""
        return any(isinstance(step, MediaRequest) for step in self.handshake_steps)

    def ended(self) -> SessionEnded | None:
        return next((e for e in self.events if isinstance(e, SessionEnded)), None)

    def _begin(
        self, scenario: str | None, app_format: AudioFormat | None, api_key: str | None, pace: float
    ) -> tuple[Simulator, str]:
        """What both levels do first: capture logs, pick the formats and the key
        the session will use (the simulator always accepts :attr:`api_key`)."""
        self._start_log_capture()
        self.app_format = app_format or AudioFormat(16000)
        key = api_key or self.api_key
        self.secrets.add(key)
        simulator = self.provider.make_transport_simulator(
            self.transport, api_key=self.api_key, scenario=scenario, pace=pace
        )
        return simulator, key

    def _config(self, simulator: Simulator, port: int, api_key: str) -> ProviderConfig:
        text = self.provider.simulator_config("127.0.0.1", port, simulator)
        return resolve_config(parse_config(text), self.provider, api_key=api_key, environ={})

    def _start_log_capture(self) -> None:
        for name in ("voiceadapters", "websockets", "aiohttp"):
            logger = logging.getLogger(name)
            logger.addHandler(self._log)
            if logger.level == logging.NOTSET or logger.level > logging.DEBUG:
                logger.setLevel(logging.DEBUG)

    def _stop_log_capture(self) -> None:
        for name in ("voiceadapters", "websockets", "aiohttp"):
            logging.getLogger(name).removeHandler(self._log)
        self.rendered.extend(self._log.lines)
        self._log.lines = []


class CodecHarness(Harness):
    """Codec + simulator in memory, fake clock. See the module docstring."""

    level = "codec"

    def __init__(
        self, provider: Provider, *, api_key: str = CONFORMANCE_KEY, transport: str | None = None
    ) -> None:
        super().__init__(provider, api_key=api_key, transport=transport)
        self.pair: CodecPair | None = None
        self.codec: Codec | None = None
        self.pipeline: AudioPipeline | None = None
        self._sim: Simulator | None = None
        self._seen = 0
        #: Every event the codec produced, before the pipeline (wire formats).
        self.codec_events: list[Event] = []

    async def open(
        self,
        scenario: str | None = None,
        *,
        app_format: AudioFormat | None = None,
        api_key: str | None = None,
        pace: float = 1.0,
        max_buffered_audio: float = 30.0,
        reconnect: bool | None = None,
    ) -> None:
        self._sim, key = self._begin(scenario, app_format, api_key, pace)
        config = self._config(self._sim, 443, key)
        self.codec = self.provider.make_codec(config)
        self.rendered += [repr(config), str(config)]
        self.pipeline = AudioPipeline(self.codec.wire_input, self.app_format, self.app_format, 20)
        pair = CodecPair(self.codec, self._sim, open_connection=False)
        self.pair = pair
        try:
            pair.handshake()
        except VoiceAdaptersError as exc:
            self.rendered.append(str(exc))
            raise
        finally:
            for step in pair.handshake_steps:
                self.handshake_steps.append(step)
                self.rendered += [repr(step), str(step)]
                self.secrets.update(_secret_values(step))
            for response in pair.http_responses:
                self.secrets.update(_token_like_values(response))
            self._sync()

    def _sync(self) -> None:
        assert self.pair is not None and self.pipeline is not None
        new = self.pair.events[self._seen :]
        self._seen = len(self.pair.events)
        self.codec_events.extend(new)
        processed = self.pipeline.process(new)
        self.events.extend(processed)
        self.rendered.extend(repr(e) for e in new)

    async def close(self) -> SessionEnded:
        assert self.pair is not None and self.pipeline is not None
        if not self.pair.ended:
            with contextlib.suppress(VoiceAdaptersError):
                tail = self.pipeline.flush_input()
                if tail:
                    self.pair.send(SendAudio(pcm=tail))
            with contextlib.suppress(VoiceAdaptersError):
                self.pair.send(Close())
        self._sync()
        ended = self.ended()
        if ended is None:
            raise AssertionError("the codec reported no session_ended after close")
        return ended

    async def shutdown(self) -> None:
        self._stop_log_capture()
        if self.codec is not None:
            self.rendered.append(repr(self.codec))

    async def send_audio(self, pcm: bytes) -> None:
        assert self.pair is not None and self.pipeline is not None
        wire = self.pipeline.encode(pcm)
        if wire:
            self.pair.send(SendAudio(pcm=wire))
        self.pair.advance(self.app_format.duration(len(pcm)))
        self._sync()

    async def command(self, command: Command) -> None:
        assert self.pair is not None
        try:
            self.pair.send(command)
        finally:
            self._sync()

    async def wait_for(self, predicate: Predicate, timeout: float = 20.0) -> bool:
        assert self.pair is not None
        end = self.pair.now + timeout
        while not predicate(self.events):
            due = self.pair.next_timer()
            if due is None or due > end:
                self.pair.advance(max(0.0, end - self.pair.now))
                self._sync()
                return predicate(self.events)
            self.pair.advance(max(0.0, due - self.pair.now))
            self._sync()
        return True

    async def settle(self, quiet: float = 0.5, timeout: float = 30.0) -> None:
        assert self.pair is not None
        end = self.pair.now + timeout
        while True:
            due = self.pair.next_timer()
            if due is None or due > end:
                break
            self.pair.advance(max(0.0, due - self.pair.now))
            self._sync()
        self.pair.advance(quiet)
        self._sync()

    async def inject(self, frame: str | bytes | CloseFrame) -> None:
        assert self.pair is not None
        self.pair.inject(frame)
        self._sync()

    async def drop(self) -> None:
        assert self.pair is not None
        self.pair.drop_connection()
        self._sync()

    async def server_going_away(self) -> None:
        await self.inject(CloseFrame(1001, "going away"))

    @property
    def server(self) -> SimulatorConnection:
        assert self.pair is not None
        return self.pair.server

    @property
    def simulator(self) -> Simulator:
        assert self._sim is not None
        return self._sim


class NetworkHarness(Harness):
    """A real session over loopback HTTP/WebSocket. See the module docstring."""

    level = "network"

    def __init__(
        self, provider: Provider, *, api_key: str = CONFORMANCE_KEY, transport: str | None = None
    ) -> None:
        super().__init__(provider, api_key=api_key, transport=transport)
        self._stack = contextlib.AsyncExitStack()
        self._server: Any = None
        self._sim: Simulator | None = None
        self.session: Any = None

    async def open(
        self,
        scenario: str | None = None,
        *,
        app_format: AudioFormat | None = None,
        api_key: str | None = None,
        pace: float = 0.0,
        max_buffered_audio: float = 30.0,
        reconnect: bool | None = None,
    ) -> None:
        from voiceadapters.session import connect
        from voiceadapters.simulator.server import SimulatorServer
        from voiceadapters.transports.network import NetworkTransport

        self._sim, key = self._begin(scenario, app_format, api_key, pace)
        self._server = await self._stack.enter_async_context(
            SimulatorServer(self._sim, "127.0.0.1", 0)
        )
        config_text = self.provider.simulator_config("127.0.0.1", self._server.port, self._sim)
        harness = self

        class Recording(NetworkTransport):
            """Records each handshake step and the credentials it carries."""

            async def http(self, request: HttpRequest, *, provider: str) -> HttpResponse:
                harness.handshake_steps.append(request)
                harness.secrets.update(_secret_values(request))
                harness.rendered += [repr(request), str(request)]
                response = await super().http(request, provider=provider)
                harness.secrets.update(_token_like_values(response))
                return response

            async def websocket(self, request: WebSocketRequest, *, provider: str) -> Any:
                harness.handshake_steps.append(request)
                harness.secrets.update(_secret_values(request))
                harness.rendered += [repr(request), str(request)]
                return await super().websocket(request, provider=provider)

            async def media(self, request: MediaRequest, *, provider: str) -> Any:
                harness.handshake_steps.append(request)
                harness.secrets.update(_secret_values(request))
                harness.rendered += [repr(request), str(request)]
                return await super().media(request, provider=provider)

        try:
            self.session = await connect(
                config_text,
                api_key=key,
                input_format=self.app_format,
                output_format=self.app_format,
                max_buffered_audio=max_buffered_audio,
                transport=Recording(),
                reconnect=reconnect,
            )
        except VoiceAdaptersError as exc:
            self.rendered.append(str(exc))
            raise
        self.rendered += [repr(self.session), str(self.session.config)]

    async def close(self) -> SessionEnded:
        ended: SessionEnded = await self.session.close()
        await self._drain(0.0)
        return ended

    async def shutdown(self) -> None:
        try:
            if self.session is not None and self.session.ended is None:
                with contextlib.suppress(Exception):
                    await self.session.close(timeout=2.0)
            await self._stack.aclose()
        finally:
            self._stop_log_capture()

    async def _drain(self, timeout: float) -> None:
        while True:
            try:
                event = await self.session.next_event(timeout=timeout)
            except asyncio.TimeoutError:
                return
            if event is None:
                return
            self.events.append(event)
            self.rendered.append(repr(event))

    async def send_audio(self, pcm: bytes) -> None:
        await self.session.send_audio(pcm)
        await self._drain(0.0)

    async def command(self, command: Command) -> None:
        # Through the session's public method for each command, as a user calls it.
        session = self.session
        if isinstance(command, SendToolResult):
            await session.send_tool_result(command.call_id, command.output)
        elif isinstance(command, SendText):
            await session.send_text(command.text)
        elif isinstance(command, Interrupt):
            await session.interrupt()
        elif isinstance(command, EndTurn):
            await session.end_turn()
        elif isinstance(command, ReportPlayed):
            await session.report_played(command.turn_id, command.seconds)
        elif isinstance(command, Close):
            await session.close()
        else:
            await session.send_audio(command.pcm)

    async def wait_for(self, predicate: Predicate, timeout: float = 20.0) -> bool:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while not predicate(self.events):
            remaining = end - loop.time()
            if remaining <= 0:
                return False
            try:
                event = await self.session.next_event(timeout=remaining)
            except asyncio.TimeoutError:
                return predicate(self.events)
            if event is None:
                return predicate(self.events)
            self.events.append(event)
            self.rendered.append(repr(event))
        return True

    async def settle(self, quiet: float = 0.5, timeout: float = 30.0) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + timeout
        while loop.time() < end:
            try:
                event = await self.session.next_event(timeout=min(quiet, end - loop.time()))
            except asyncio.TimeoutError:
                return
            if event is None:
                return
            self.events.append(event)
            self.rendered.append(repr(event))

    async def inject(self, frame: str | bytes | CloseFrame) -> None:
        await self._server.inject(self.server, frame)

    async def drop(self) -> None:
        await self._server.drop(self.server)

    async def server_going_away(self) -> None:
        await self._server.stop(close_code=1001)

    @property
    def server(self) -> SimulatorConnection:
        assert self._sim is not None and self._sim.connections
        return self._sim.connections[-1]

    @property
    def simulator(self) -> Simulator:
        assert self._sim is not None
        return self._sim


def make_harness(level: str, provider: Provider, *, transport: str | None = None) -> Harness:
    if level == "codec":
        return CodecHarness(provider, transport=transport)
    if level == "network":
        return NetworkHarness(provider, transport=transport)
    raise ValueError(f"unknown level {level!r}; choose codec or network")
