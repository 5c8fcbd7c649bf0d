"""The media transport seam: a :class:`~voiceadapters.handshake.MediaRequest`
step, :class:`~voiceadapters.frames.TrackAudio` out, track audio in.

A small media stack is written here — a connector whose connection keeps what
it was given and pushes what a test makes it receive — with a real
:class:`~voiceadapters.codec.Codec` on top, driven by the real
:class:`~voiceadapters.driver.Driver`. (The Vatel plugin's tests run the same
seam with the livekit SDK against a room simulator.)
"""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from voiceadapters.capabilities import Capabilities
from voiceadapters.codec import Codec
from voiceadapters.commands import Command, SendAudio, SendText
from voiceadapters.driver import Driver
from voiceadapters.errors import ConnectError
from voiceadapters.events import AgentAudio, AgentText, Event, ProviderError, SessionEnded
from voiceadapters.format import AudioFormat
from voiceadapters.handshake import (
    Frame,
    HttpRequest,
    HttpResponse,
    MediaRequest,
    TrackAudio,
    WebSocketRequest,
)
from voiceadapters.limits import Limits
from voiceadapters.secrets import Secret
from voiceadapters.transports.base import Connection, Receiver, Transport, TransportClosed

WIRE = AudioFormat(24000)
TOKEN = "room-token-7f3a-never-shown"


class LoopConnection(Connection):
    """What a media stack's connection does, in memory."""

    def __init__(self) -> None:
        self.receiver: Receiver | None = None
        self.sent: list[Frame | TrackAudio] = []
        self.closed: tuple[int, str] | None = None

    def set_receiver(self, receiver: Receiver) -> bool:
        self.receiver = receiver
        return True

    async def send(self, frame: Frame) -> None:
        if self.closed:
            raise TransportClosed(1000)
        self.sent.append(frame)

    async def send_audio(self, pcm: bytes) -> None:
        self.sent.append(TrackAudio(pcm))

    async def recv(self) -> Frame:
        raise TransportClosed(None)

    async def close(self, code: int = 1000, reason: str = "") -> None:
        self.closed = (code, reason)

    async def abort(self) -> None:
        self.closed = (1006, "")


class LoopConnector:
    name = "loop"

    def __init__(self, result: Any = None) -> None:
        self.joined: list[MediaRequest] = []
        self.connection = LoopConnection()
        self.result = result

    async def join(self, request: MediaRequest) -> object:
        self.joined.append(request)
        return self.connection if self.result is None else self.result


class NoNetwork(Transport):
    async def http(self, request: HttpRequest, *, provider: str) -> HttpResponse:
        raise AssertionError("no HTTP step here")

    async def websocket(self, request: WebSocketRequest, *, provider: str) -> Connection:
        raise AssertionError("no WebSocket step here")


class Facts:
    name = "mediaprobe"
    capabilities = Capabilities(agent_text=True, text_input=True)
    wire_input = WIRE
    wire_output = WIRE


class MediaCodec(Codec):
    """One media step; text frames are agent text; ``send_text`` is sent as a
    message, ``send_audio`` as track audio; track audio is the default's."""

    def __init__(self, connector: LoopConnector, *, first_message_timeout: float = 5.0) -> None:
        super().__init__(Facts())
        self.connector = connector
        self.first_message_timeout = first_message_timeout
        self.opened = False

    def handshake_step(self) -> MediaRequest | None:
        if self.opened:
            return None
        return MediaRequest(
            url="wss://media.test",
            token=Secret(TOKEN),
            connector=self.connector,
            input_format=WIRE,
            output_format=WIRE,
            options=(("topic", "messages"),),
            first_message_timeout=self.first_message_timeout,
        )

    def connection_opened(self) -> None:
        self.opened = True

    def _on_frame(self, frame: Frame) -> None:
        text = frame if isinstance(frame, str) else frame.decode()
        self._emit(AgentText(text=text, delta=text, final=True))

    def _on_command(self, command: Command) -> None:
        if isinstance(command, SendAudio):
            self._send(TrackAudio(command.pcm))
        elif isinstance(command, SendText):
            self._send(command.text)


async def _driver(connector: LoopConnector, **kw: Any) -> tuple[Driver, list[Event]]:
    events: list[Event] = []
    driver = Driver(MediaCodec(connector, **kw), NoNetwork(), events.extend)
    await driver.open()
    return driver, events


async def test_the_driver_joins_through_the_requests_connector() -> None:
    connector = LoopConnector()
    driver, _ = await _driver(connector)
    (request,) = connector.joined
    assert request.option("topic") == "messages" and request.option("nope", "x") == "x"
    assert connector.connection.receiver is driver
    assert TOKEN not in repr(request) and TOKEN not in str(request)
    assert "loop" in request.describe()


async def test_track_audio_and_messages_go_out_in_the_codecs_order() -> None:
    connector = LoopConnector()
    driver, _ = await _driver(connector)
    await driver.command(SendAudio(pcm=b"\x01\x00" * 240))
    await driver.command(SendText(text="hello"))
    await driver.command(SendAudio(pcm=b"\x02\x00" * 240))
    assert connector.connection.sent == [
        TrackAudio(b"\x01\x00" * 240),
        "hello",
        TrackAudio(b"\x02\x00" * 240),
    ]
    assert len(TrackAudio(b"\x00" * 10)) == 10


async def test_track_audio_arrives_as_agent_audio_in_the_wire_format() -> None:
    connector = LoopConnector()
    _, events = await _driver(connector)
    receiver = connector.connection.receiver
    assert receiver is not None
    receiver.audio_received(b"\x05\x00" * 480)
    receiver.frame_received("hi")
    assert events == [
        AgentAudio(pcm=b"\x05\x00" * 480, format=WIRE),
        AgentText(text="hi", delta="hi", final=True),
    ]


async def test_the_media_connection_closing_ends_the_session() -> None:
    connector = LoopConnector()
    driver, events = await _driver(connector)
    receiver = connector.connection.receiver
    assert receiver is not None
    receiver.connection_closed(None, "ROOM_DELETED")
    await driver.wait_closed(5)
    assert events[-1] == SessionEnded(reason="connection_lost", provider_reason="ROOM_DELETED")
    assert connector.connection.closed == (1000, "")


async def test_track_audio_counts_as_hearing_from_the_provider() -> None:
    """The first-message deadline covers media connections; audio on the
    provider's track is something heard."""
    connector = LoopConnector()
    driver, events = await _driver(connector, first_message_timeout=0.2)
    await asyncio.sleep(0.35)
    assert isinstance(events[-1], SessionEnded) and events[-1].reason == "timeout"
    assert isinstance(events[0], ProviderError) and events[0].code == "first_message_timeout"
    await driver.wait_closed(5)

    quiet = LoopConnector()
    driver, events = await _driver(quiet, first_message_timeout=0.2)
    assert quiet.connection.receiver is not None
    quiet.connection.receiver.audio_received(b"\x00\x00")
    await asyncio.sleep(0.35)
    assert not any(isinstance(e, SessionEnded) for e in events)
    await driver.abort()


async def test_a_connector_must_give_back_a_connection() -> None:
    connector = LoopConnector(result="not a connection")
    with pytest.raises(ConnectError, match="returned str, not a Connection"):
        await _driver(connector)


def test_limits_apply_to_a_media_step() -> None:
    step = MediaRequest(
        url="wss://m.test",
        token=Secret("t"),
        connector=LoopConnector(),
        input_format=WIRE,
        output_format=WIRE,
    )
    limits = Limits(open_timeout=3.0, first_message_timeout=0, idle_timeout=7.0)
    applied = limits.apply(step)
    assert (applied.open_timeout, applied.first_message_timeout, applied.idle_timeout) == (
        3.0,
        None,
        7.0,
    )
    assert applied == dataclasses.replace(
        step, open_timeout=3.0, first_message_timeout=None, idle_timeout=7.0
    )


async def test_a_websocket_connection_has_no_track() -> None:
    with pytest.raises(TransportClosed, match="no media track"):
        await LoopConnection.__mro__[1].send_audio(LoopConnection(), b"\x00\x00")


# -- simulators of a media transport: services beside the host ---------------------------


class _Service:
    """A server a simulator runs beside its host, hosting one connection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.log: list[Any] = []

    async def __aenter__(self) -> _Service:
        self.log.append("start")
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.log.append("stop")

    def hosts(self, conn: Any) -> bool:
        return conn is self.conn

    async def inject(self, conn: Any, frame: Any) -> None:
        self.log.append(("inject", frame))

    async def drop(self, conn: Any) -> None:
        self.log.append("drop")


async def test_the_host_runs_a_simulators_services_and_hands_them_their_connections() -> None:
    from voiceadapters.handshake import CloseFrame
    from voiceadapters.simulator.base import SimRequest, Simulator
    from voiceadapters.simulator.server import SimulatorServer

    hosted = object()
    service = _Service(hosted)

    class Serviced(Simulator):
        def handle_http(self, request: SimRequest, now: float) -> HttpResponse:
            return HttpResponse(404)

        def open_websocket(self, request: SimRequest, now: float) -> HttpResponse:
            return HttpResponse(404)

        def services(self) -> list[Any]:
            return [service]

    async with SimulatorServer(Serviced()) as server:
        assert service.log == ["start"]
        await server.inject(hosted, "hello")  # type: ignore[arg-type]
        await server.inject(hosted, CloseFrame(1001))  # type: ignore[arg-type]
        await server.drop(hosted)  # type: ignore[arg-type]
    assert service.log == [
        "start",
        ("inject", "hello"),
        ("inject", CloseFrame(1001)),
        "drop",
        "stop",
    ]


def test_provider_plus_transport_targets() -> None:
    from voiceadapters.errors import ConfigError
    from voiceadapters.registry import registry

    provider, transport = registry.get_target("example")
    assert transport is None and provider.name == "example"
    assert registry.get_target(f"example+{provider.transports[0].upper()}") == (
        provider,
        provider.transports[0],
    )
    with pytest.raises(ConfigError, match="transport 'carrier' is not supported"):
        registry.get_target("example+carrier")
    with pytest.raises(ConfigError, match="transport 'carrier' is not supported"):
        provider.make_transport_simulator("carrier", api_key="k")
    assert provider.make_transport_simulator(provider.transports[0], api_key="k") is not None


async def test_recording_a_media_session_is_refused_before_anything_is_joined(
    tmp_path: Any,
) -> None:
    from voiceadapters.cassette import Recorder, RecordingTransport
    from voiceadapters.errors import ConfigError

    connector = LoopConnector()
    recorder = Recorder(tmp_path / "media.jsonl")
    transport = RecordingTransport(NoNetwork(), recorder)
    driver = Driver(MediaCodec(connector), transport, lambda events: None)
    with pytest.raises(ConfigError, match="recording a media session") as caught:
        await driver.open()
    assert connector.joined == []  # refused before the join, not after
    assert TOKEN not in str(caught.value)
    await transport.aclose()
