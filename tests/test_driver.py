"""The asyncio loop around a codec (:class:`voiceadapters.driver.Driver`).

A driver runs a codec's handshake steps through a transport, feeds it what
the connection receives, the application's commands and the loop's timers,
and after every input hands the codec's events on and sends its frames in
the codec's order. These tests run a :class:`Driver` directly over the
in-memory transport against a small protocol written here: a real
:class:`~voiceadapters.codec.Codec` and a real
:class:`~voiceadapters.simulator.base.Simulator`, no mocks.

The protocol: a token over HTTP (``POST /token``), then one WebSocket whose
URL carries it. Server text frames are JSON: ``{"echo": k}`` (the codec
answers ``{"ack": k}``), ``{"say": s}`` (an ``agent_text``), ``{"boom": …}``
(the codec has a bug and raises), ``{"end": reason}`` (the codec ends the
session and closes). The client's ``send_text`` commands are instructions to
the codec: ``"ping:k"`` sends ``{"ping": k}`` (the server echoes it),
``"many:n"`` sends ``n`` frames at once, ``"timer:s"`` asks for a timer
``s`` seconds after the last time the codec was told, ``"cancel"`` drops it,
``"timer-bug"`` makes the next timer raise, ``"bye:reason"`` asks the server
to close the WebSocket with 1001 (going away).
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from voiceadapters.capabilities import Capabilities
from voiceadapters.codec import Codec
from voiceadapters.commands import Command, Interrupt, SendAudio, SendText
from voiceadapters.driver import Driver
from voiceadapters.errors import SessionClosedError, UnsupportedCommandError
from voiceadapters.events import (
    AgentText,
    Event,
    ProviderError,
    SessionEnded,
    UnknownMessage,
)
from voiceadapters.format import AudioFormat
from voiceadapters.handshake import (
    CloseFrame,
    Frame,
    HttpRequest,
    HttpResponse,
    OutFrame,
    WebSocketRequest,
)
from voiceadapters.simulator.base import SimRequest, Simulator, SimulatorConnection, json_response
from voiceadapters.simulator.server import SimulatorServer
from voiceadapters.transports.memory import MemoryTransport
from voiceadapters.transports.network import NetworkTransport

TIMEOUT = 10.0
BASE = "ws://driver.test"


class ProbeFacts:
    """What the probe codec is built with: what a Provider declares."""

    name = "probe"
    capabilities = Capabilities(agent_text=True, text_input=True)
    wire_input = AudioFormat(16000)
    wire_output = AudioFormat(16000)


class ProbeCodec(Codec):
    """Client side of the protocol (see the module docstring); it keeps a log
    of what it queued and when it was told the time."""

    def __init__(self, http: str = "http://driver.test", ws: str = BASE) -> None:
        super().__init__(ProbeFacts())
        self.http, self.ws = http, ws
        self.token: str | None = None
        self.opened = False
        self.queued: list[OutFrame] = []  # every frame, in the order it was queued
        self.frames_seen = 0
        self.now: float | None = None
        self.deadline: float | None = None
        self.fired: list[tuple[float, float]] = []  # (deadline, now) of each timer
        self.timer_bug = False

    def handshake_step(self) -> HttpRequest | WebSocketRequest | None:
        if self.token is None:
            return HttpRequest(method="POST", url=f"{self.http}/token")
        if self.opened:
            return None
        return WebSocketRequest(url=f"{self.ws}/ws", query=(("token", self.token),))

    def receive_http_response(self, response: HttpResponse) -> None:
        self.token = response.json()["token"]

    def connection_opened(self) -> None:
        self.opened = True

    def _queue(self, frame: OutFrame) -> None:
        self.queued.append(frame)
        self._send(frame)

    def _on_frame(self, frame: Frame) -> None:
        self.frames_seen += 1
        message = json.loads(frame)
        if "echo" in message:
            self._queue(json.dumps({"ack": message["echo"]}))
        elif "say" in message:
            self._emit(AgentText(text=message["say"], delta=message["say"], final=True))
        elif "boom" in message:
            raise RuntimeError(f"bug while reading {message['boom']}")
        elif "end" in message:
            self._end(message["end"], close=CloseFrame(1000, "done"))
        else:
            self._unknown(message)

    def _on_command(self, command: Command) -> None:
        if isinstance(command, SendAudio):
            self._queue(command.pcm)
            return
        assert isinstance(command, SendText)
        verb, _, arg = command.text.partition(":")
        if verb == "ping":
            self._queue(json.dumps({"ping": int(arg)}))
        elif verb == "many":
            for i in range(int(arg)):
                self._queue(json.dumps({"part": i}))
        elif verb == "timer":
            assert self.now is not None
            self.deadline = self.now + float(arg)
        elif verb == "cancel":
            self.deadline = None
        elif verb == "timer-bug":
            self.timer_bug = True
        elif verb == "bye":
            self._queue(json.dumps({"bye": arg}))

    def get_timer(self) -> float | None:
        return self.deadline

    def handle_timer(self, now: float) -> None:
        self.now = now
        if self.deadline is not None and now >= self.deadline:
            if self.timer_bug:
                raise ValueError("bug in a timer")
            self.fired.append((self.deadline, now))
            self.deadline = None
            self._queue(json.dumps({"tick": len(self.fired)}))
            self._emit(AgentText(text="tick", delta="tick", final=True))


class ProbeConnection(SimulatorConnection):
    def __init__(self, script: list[Frame]) -> None:
        super().__init__()
        self.script = script

    def opened(self, now: float) -> None:
        for frame in self.script:
            self.send(frame)

    def receive_frame(self, frame: Frame, now: float) -> None:
        if isinstance(frame, bytes):
            self.binary_frame_sizes.append(len(frame))
            self.received_audio += frame
            self.received_messages.append(frame)
            return
        message = json.loads(frame)
        self.received_messages.append(message)
        if "ping" in message:
            self.send(json.dumps({"echo": message["ping"]}))
        elif "bye" in message:
            self.send(CloseFrame(1001, message["bye"]))


class ProbeSimulator(Simulator):
    """Hands out the token ``t-1`` and accepts WebSockets that carry it;
    each connection sends ``script`` when it opens."""

    provider = "probe"

    def __init__(self, *script: dict[str, Any]) -> None:
        super().__init__()
        self.script: list[Frame] = [json.dumps(m) for m in script]
        self.http_requests: list[SimRequest] = []

    def handle_http(self, request: SimRequest, now: float) -> HttpResponse:
        self.http_requests.append(request)
        if request.method == "POST" and request.path == "/token":
            return json_response(200, {"token": "t-1"})
        return json_response(404, {"error": "not found"})

    def websocket_paths(self) -> tuple[str, ...]:
        return ("/ws",)

    def open_websocket(self, request: SimRequest, now: float) -> ProbeConnection | HttpResponse:
        if request.query.get("token") != "t-1":
            return json_response(401, {"error": "bad token"})
        connection = ProbeConnection(self.script)
        self.connections.append(connection)
        return connection


async def start(*script: dict[str, Any]) -> tuple[Driver, ProbeCodec, ProbeSimulator, list[Event]]:
    codec, simulator, events = ProbeCodec(), ProbeSimulator(*script), []
    driver = Driver(codec, MemoryTransport(simulator), events.extend)
    await asyncio.wait_for(driver.open(), TIMEOUT)
    return driver, codec, simulator, events


async def until(condition: Any) -> None:
    """Let the event loop run until ``condition()`` holds."""
    await asyncio.wait_for(_poll(condition), TIMEOUT)


async def _poll(condition: Any) -> None:
    # Polling: what is awaited here happens in the driver's own callbacks
    # and tasks, which expose nothing to wait on.
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0.001)


def sent_by(codec: ProbeCodec) -> list[Any]:
    """What the codec queued, as the server records it."""
    return [f if isinstance(f, bytes) else json.loads(f) for f in codec.queued]


# -- handshake ---------------------------------------------------------------------------------


async def test_the_handshake_runs_its_http_step_then_opens_the_websocket() -> None:
    driver, codec, simulator, _ = await start()
    assert [(r.method, r.path) for r in simulator.http_requests] == [("POST", "/token")]
    assert codec.token == "t-1" and codec.opened
    assert len(simulator.connections) == 1
    assert codec.now is not None, "the codec is told the time once the WebSocket is open"
    await driver.command(SendText(text="many:1"))
    assert simulator.connections[0].received_messages == [{"part": 0}]


# -- order ---------------------------------------------------------------------------------------


async def test_frames_go_out_in_the_codecs_order() -> None:
    driver, codec, simulator, _ = await start()
    server = simulator.connections[0]
    # Concurrent commands, each answered by a message the codec replies to:
    # frames are queued by commands and by received messages, interleaved.
    commands = [SendText(text=f"ping:{i}") for i in range(20)]
    commands[5] = SendText(text="many:4")
    commands[12] = SendAudio(pcm=b"\x01\x00" * 160)
    await asyncio.gather(*(driver.command(c) for c in commands))
    await until(lambda: len(server.received_messages) == len(codec.queued) == 18 + 4 + 1 + 18)
    assert server.received_messages == sent_by(codec)
    pings = [m["ping"] for m in server.received_messages if isinstance(m, dict) and "ping" in m]
    assert pings == [i for i in range(20) if i not in (5, 12)], "commands in the order issued"
    parts = [
        i for i, m in enumerate(server.received_messages) if isinstance(m, dict) and "part" in m
    ]
    assert parts == list(range(parts[0], parts[0] + 4)), "one command's frames stay together"


@pytest.mark.network
async def test_audio_sent_without_waiting_keeps_its_place_among_queued_frames() -> None:
    """Over a real socket, microphone audio goes out through
    ``Connection.send_nowait`` unless frames wait in the outbox: here each
    ping's echo makes the codec queue an ack from a received message (sent
    by a task of its own) while audio and more pings keep coming. The server
    gets every frame, in the order the codec queued them."""
    simulator = ProbeSimulator()
    async with SimulatorServer(simulator) as server:
        base = f"127.0.0.1:{server.port}"
        codec, events = ProbeCodec(f"http://{base}", f"ws://{base}"), []
        driver = Driver(codec, NetworkTransport(), events.extend)
        await asyncio.wait_for(driver.open(), TIMEOUT)
        for i in range(30):
            # Let echoes arrive mid-stream: after two loop turns an ack that
            # a received echo queued is still in the outbox when audio comes.
            for _ in range(i % 3):
                await asyncio.sleep(0)
            await driver.send_audio(i.to_bytes(2, "little") * 160)
            await driver.command(SendText(text=f"ping:{i}"))
        connection = simulator.connections[0]
        await until(lambda: len(connection.received_messages) == len(codec.queued) == 90)
        assert connection.received_messages == sent_by(codec)
        assert driver.unsent_frames == 0
        await driver.abort()


async def test_events_are_handed_on_in_the_codecs_order() -> None:
    script = [{"say": f"line {i}"} for i in range(10)]
    _, _, _, events = await start(*script, {"end": "completed"})
    await until(lambda: events and isinstance(events[-1], SessionEnded))
    assert [e.text for e in events if isinstance(e, AgentText)] == [f"line {i}" for i in range(10)]
    assert [e.type for e in events].count("session_ended") == 1


# -- timers --------------------------------------------------------------------------------------


async def test_timers_fire_on_the_loops_clock() -> None:
    driver, codec, simulator, events = await start()
    loop = asyncio.get_running_loop()
    await driver.command(SendText(text="timer:0.05"))
    await until(lambda: codec.fired)
    ((deadline, now),) = codec.fired
    assert deadline <= now <= loop.time(), "called with the loop's time, at or after its deadline"
    await until(lambda: {"tick": 1} in simulator.connections[0].received_messages)
    assert [e.text for e in events if isinstance(e, AgentText)] == ["tick"]


async def test_a_cancelled_timer_does_not_fire() -> None:
    driver, codec, _, _ = await start()
    await driver.command(SendText(text="timer:0.05"))
    await driver.command(SendText(text="cancel"))
    await asyncio.sleep(0.15)
    assert codec.fired == []
    await driver.command(SendText(text="timer:0.01"))  # and a new one still does
    await until(lambda: codec.fired)


# -- a codec that raises -------------------------------------------------------------------------


def assert_codec_error(events: list[Event], exception: str) -> None:
    error, ended = events[-2:]
    assert isinstance(error, ProviderError)
    assert error.code == "codec_error" and error.fatal
    assert exception in error.message and "probe" in error.message
    assert "bug" not in error.message, "the exception's message may quote provider frames"
    assert isinstance(ended, SessionEnded)
    assert ended.reason == "error" and ended.provider_reason == "codec_error"


async def test_a_codec_raising_on_a_frame_ends_the_session_with_codec_error() -> None:
    driver, codec, simulator, events = await start(
        {"say": "before"}, {"boom": "frame 2"}, {"say": "after"}
    )
    await asyncio.wait_for(driver.wait_closed(), TIMEOUT)
    assert_codec_error(events, "RuntimeError")
    assert [e.type for e in events] == ["agent_text", "provider_error", "session_ended"]
    assert codec.frames_seen == 2, "no input reaches the codec after it failed"
    assert simulator.connections[0].closed


async def test_a_codec_raising_in_a_timer_ends_the_session_with_codec_error() -> None:
    driver, _, simulator, events = await start()
    await driver.command(SendText(text="timer-bug"))
    await driver.command(SendText(text="timer:0.01"))
    await asyncio.wait_for(driver.wait_closed(), TIMEOUT)
    assert_codec_error(events, "ValueError")
    assert simulator.connections[0].closed


# -- the end ------------------------------------------------------------------------------------


async def test_when_the_codec_ends_the_driver_closes_the_connection() -> None:
    driver, codec, simulator, events = await start({"end": "completed"})
    await asyncio.wait_for(driver.wait_closed(), TIMEOUT)
    assert events == [SessionEnded(reason="completed")]
    assert codec.ended
    server = simulator.connections[0]
    assert server.closed and server.close_code == 1000


async def test_a_close_from_the_server_reaches_the_codec_as_session_ended() -> None:
    driver, _, _, events = await start()
    await driver.command(SendText(text="bye:going away"))
    await asyncio.wait_for(driver.wait_closed(), TIMEOUT)
    (ended,) = events
    assert isinstance(ended, SessionEnded)
    assert ended.reason == "server_shutdown" and ended.close_code == 1001
    assert ended.provider_reason == "going away"


async def test_an_unmapped_message_is_an_event_not_an_error() -> None:
    driver, _, _, events = await start({"what": "is this"})
    await until(lambda: events)
    assert events == [UnknownMessage(raw={"what": "is this"})]
    await driver.command(SendText(text="many:1"))  # the session goes on
    assert driver.done.is_set() is False


# -- misuse --------------------------------------------------------------------------------------


async def test_commands_raise_what_the_codec_raises_for_misuse() -> None:
    driver, _, _, _ = await start()
    with pytest.raises(UnsupportedCommandError) as info:
        await driver.command(Interrupt())
    assert info.value.provider == "probe" and info.value.capability == "client_interrupt"


async def test_a_command_after_the_end_raises_session_closed() -> None:
    driver, _, _, _ = await start({"end": "completed"})
    await asyncio.wait_for(driver.wait_closed(), TIMEOUT)
    with pytest.raises(SessionClosedError):
        await driver.command(SendText(text="ping:1"))
