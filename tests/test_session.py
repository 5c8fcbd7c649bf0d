"""The application's side of a session (:mod:`voiceadapters.session`).

Sessions run over the in-memory transport
(:class:`~voiceadapters.transports.memory.MemoryTransport`) against real
simulators: the example plugin's Parrot for what any provider does, and, for
what needs a server that says exactly what a test wants (an interruption, a
burst of audio the application does not read), a small *scripted* provider
written here against the public plugin API: a real codec and a real
simulator, no mocks.

The scripted protocol: server text frames are JSON objects —
``{"started": id}`` (session_started), ``{"turn": t}`` (later binary frames
are turn ``t``), ``{"say": text}`` (agent_text), ``{"interrupted": t}``
(interruption), ``{"done": t}`` (agent_audio_done), ``{"end": reason}``
(session_ended), ``{"boom": …}`` (the codec has a bug and raises) — and binary frames are agent audio. The client sends its
audio as binary frames and ``send_text`` as ``{"text": …}``; the server
answers a text with the frames its script lists under that text.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any, ClassVar

import pytest

import voiceadapters
from voiceadapters import AudioFormat, Provider, ProviderConfig
from voiceadapters.capabilities import Capabilities
from voiceadapters.codec import Codec
from voiceadapters.commands import Command, SendAudio, SendText
from voiceadapters.config import loopback_config
from voiceadapters.errors import AudioFormatError, SessionClosedError, UnsupportedCommandError
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentText,
    Event,
    Interruption,
    ProviderError,
    SessionEnded,
    SessionStarted,
)
from voiceadapters.handshake import Frame, HttpResponse, WebSocketRequest
from voiceadapters.hookspecs import hookimpl
from voiceadapters.registry import Registry
from voiceadapters.runner import stream_recording
from voiceadapters.simulator.base import SimRequest, Simulator, SimulatorConnection, json_response
from voiceadapters.testing import speech_sample
from voiceadapters.transports.memory import MemoryTransport
from voiceadapters_example import ExampleProvider

KEY = "sk-session-test-DO-NOT-LEAK-2c81"
PCM16 = AudioFormat(16000)
FRAME = PCM16.bytes_for(0.02)  # 20 ms
TIMEOUT = 10.0

Script = dict[str, list[Frame]]


# -- the scripted provider --------------------------------------------------------------


class ScriptedCodec(Codec):
    """Client side of the scripted protocol (see the module docstring)."""

    def __init__(self, config: ProviderConfig, provider: Provider) -> None:
        super().__init__(provider)  # name, capabilities and formats come from it
        self.config = config
        self._opened = False
        self._turn: str | None = None

    def handshake_step(self) -> WebSocketRequest | None:
        return None if self._opened else WebSocketRequest(url=self.config.ws_base + "/ws")

    def connection_opened(self) -> None:
        self._opened = True

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            self._emit(AgentAudio(pcm=frame, format=self.wire_output, turn_id=self._turn))
            return
        message = json.loads(frame)
        if "started" in message:
            self._emit(SessionStarted(session_id=message["started"]))
        elif "turn" in message:
            self._turn = message["turn"]
        elif "say" in message:
            self._emit(AgentText(text=message["say"], delta=message["say"], final=True))
        elif "interrupted" in message:
            self._emit(Interruption(turn_id=message["interrupted"]))
        elif "done" in message:
            self._emit(AgentAudioDone(turn_id=message["done"]))
        elif "end" in message:
            self._end(message["end"])
        elif "boom" in message:
            raise KeyError(message["boom"])  # a plugin bug

    def _on_command(self, command: Command) -> None:
        if isinstance(command, SendAudio):
            self._send(command.pcm)
        elif isinstance(command, SendText):
            self._send_json({"text": command.text})


class ScriptedConnection(SimulatorConnection):
    def __init__(self, script: Script) -> None:
        super().__init__()
        self.script = script

    def opened(self, now: float) -> None:
        for frame in self.script.get("", []):
            self.send(frame)

    def receive_frame(self, frame: Frame, now: float) -> None:
        if isinstance(frame, bytes):
            self.received_audio += frame
            return
        message = json.loads(frame)
        self.received_messages.append(message)
        for reply in self.script.get(message["text"], []):
            self.send(reply)


class ScriptedSimulator(Simulator):
    """Serves ``script``: the frames under ``""`` on open, those under a text
    when the client sends that text."""

    provider = "scripted"

    def __init__(self, script: Script | None = None) -> None:
        super().__init__()
        self.script = script or {}

    def handle_http(self, request: SimRequest, now: float) -> HttpResponse:
        return json_response(404, {"error": "not found"})

    def open_websocket(self, request: SimRequest, now: float) -> ScriptedConnection:
        connection = ScriptedConnection(self.script)
        self.connections.append(connection)
        return connection


class ScriptedProvider(Provider):
    name: ClassVar[str] = "scripted"
    default_host: ClassVar[str] = "scripted.invalid"
    wire_input: ClassVar[AudioFormat] = PCM16
    wire_output: ClassVar[AudioFormat] = PCM16
    capabilities: ClassVar[Capabilities] = Capabilities(
        agent_text=True, interruption_events=True, agent_audio_done=True, text_input=True
    )

    def make_codec(self, config: ProviderConfig) -> ScriptedCodec:
        return ScriptedCodec(config, self)

    def make_simulator(
        self, *, api_key: str, scenario: str | None = None, pace: float = 1.0
    ) -> ScriptedSimulator:
        return ScriptedSimulator()

    def simulator_config(self, host: str, port: int, simulator: Simulator) -> str:
        return loopback_config(self.name, host, port)


PCM24 = AudioFormat(24000)


class UnendingCodec(ScriptedCodec):
    """The scripted protocol with 24 kHz agent audio and no end-of-turn marks."""


class UnendingProvider(ScriptedProvider):
    name: ClassVar[str] = "unending"
    wire_output: ClassVar[AudioFormat] = PCM24
    capabilities: ClassVar[Capabilities] = Capabilities(text_input=True)

    def make_codec(self, config: ProviderConfig) -> UnendingCodec:
        return UnendingCodec(config, self)


class ObservingPlugin:
    """A plugin offering the scripted provider and watching every session."""

    def __init__(self) -> None:
        self.started: list[tuple[str, ProviderConfig]] = []
        self.ended: list[tuple[str, Event]] = []

    @hookimpl
    def voiceadapters_providers(self) -> list[Provider]:
        return [ScriptedProvider(), UnendingProvider()]

    @hookimpl
    def voiceadapters_session_started(self, provider: str, config: ProviderConfig) -> None:
        self.started.append((provider, config))

    @hookimpl
    def voiceadapters_session_ended(self, provider: str, event: Event) -> None:
        self.ended.append((provider, event))


def text(message: dict[str, Any]) -> str:
    return json.dumps(message)


def tone(index: int, nbytes: int = FRAME) -> bytes:
    """``nbytes`` of one sample value (``index``): each frame tells where it came from."""
    return int(index).to_bytes(2, "little", signed=True) * (nbytes // 2)


async def scripted(
    script: Script,
    *,
    plugin: ObservingPlugin | None = None,
    provider: str = "scripted",
    **kwargs: Any,
) -> tuple[voiceadapters.Session, ScriptedSimulator]:
    registry = Registry(group="voiceadapters.tests.none")
    registry.register_plugin(plugin or ObservingPlugin())
    simulator = ScriptedSimulator(script)
    session = await voiceadapters.connect(
        f"{provider}://",
        api_key=KEY,
        transport=MemoryTransport(simulator),
        registry=registry,
        **kwargs,
    )
    return session, simulator


async def example(**kwargs: Any) -> voiceadapters.Session:
    simulator = ExampleProvider().make_simulator(api_key=KEY, pace=0.0)
    return await voiceadapters.connect(
        "example://", api_key=KEY, transport=MemoryTransport(simulator), **kwargs
    )


async def until(condition: Callable[[], object]) -> None:
    """Let the event loop run until ``condition()`` holds (without reading events)."""
    await asyncio.wait_for(_poll(condition), TIMEOUT)


async def _poll(condition: Callable[[], object]) -> None:
    # Polling: the session offers nothing to wait on but reading its events,
    # and not reading them is the point of the tests that use this.
    while not condition():  # noqa: ASYNC110
        await asyncio.sleep(0.001)


async def read_all(session: voiceadapters.Session) -> list[Event]:
    return await asyncio.wait_for(_collect(session), TIMEOUT)


async def _collect(session: voiceadapters.Session) -> list[Event]:
    return [event async for event in session]


def audio_of(events: list[Event]) -> bytes:
    return b"".join(e.pcm for e in events if isinstance(e, AgentAudio))


# -- a whole session ------------------------------------------------------------------------


@pytest.mark.parametrize("app_rate", [16000, 24000, 48000])
async def test_an_echo_turn_arrives_in_the_application_format(app_rate: int) -> None:
    speech, _ = speech_sample()
    fmt = AudioFormat(app_rate)
    from voiceadapters.audio import StreamConverter

    conv = StreamConverter(PCM16, fmt)
    pcm = conv.convert(speech) + conv.flush()
    session = await example(input_format=fmt)
    result = await asyncio.wait_for(
        stream_recording(session, pcm, realtime=False, trailing_silence=1.0, idle_timeout=0.5),
        30,
    )
    kinds = [e.type for _, e in result.events]
    assert kinds[0] == "session_started"
    assert {"user_transcript", "agent_audio", "agent_audio_done"} <= set(kinds)
    frames = [e for _, e in result.events if isinstance(e, AgentAudio)]
    assert all(e.format == fmt for e in frames)
    assert {len(e.pcm) for e in frames[:-1]} == {fmt.bytes_for(0.02)}
    assert session.stats.audio_bytes_sent == len(pcm) + fmt.bytes_for(1.0)  # + the silence
    assert session.stats.audio_bytes_received == len(audio_of([e for _, e in result.events]))
    await session.close()


# -- reading events -------------------------------------------------------------------------


async def test_next_event_with_timeout_zero_returns_a_queued_event() -> None:
    script = {"": [text({"started": "s-1"}), text({"say": "hello"}), text({"end": "completed"})]}
    session, _ = await scripted(script)
    await until(lambda: session.ended is not None)  # all three queued, none read
    first = await session.next_event(timeout=0)
    assert isinstance(first, SessionStarted) and first.session_id == "s-1"
    queued = await session.next_event(timeout=0)
    assert isinstance(queued, AgentText) and queued.text == "hello"
    assert await session.next_event(timeout=0) is session.ended
    assert await session.next_event(timeout=0) is None, "nothing after session_ended"


async def test_next_event_with_timeout_zero_and_nothing_queued_times_out() -> None:
    session, _ = await scripted({})
    with pytest.raises(asyncio.TimeoutError):
        await session.next_event(timeout=0)
    with pytest.raises(asyncio.TimeoutError):
        await session.next_event(timeout=0.01)
    await session.close()


async def test_async_iteration_ends_after_session_ended() -> None:
    script = {"": [text({"started": "s-1"}), text({"say": "bye"}), text({"end": "completed"})]}
    session, _ = await scripted(script)
    events = await read_all(session)
    assert [e.type for e in events] == ["session_started", "agent_text", "session_ended"]
    assert events[-1] is session.ended
    assert await read_all(session) == [], "a second loop yields nothing"
    assert await session.next_event() is None
    assert await session.close() is events[-1]


async def test_close_is_idempotent_and_returns_the_session_ended() -> None:
    session, simulator = await scripted({"": [text({"started": "s-1"})]})
    ended = await session.close()
    assert isinstance(ended, SessionEnded) and ended.reason == "client_closed"
    assert await session.close() is ended
    assert simulator.connections[0].closed and simulator.connections[0].close_code == 1000
    events = await read_all(session)
    assert events[0].type == "session_started", "events not yet read stay readable"
    assert events[-1] is ended


async def test_async_with_closes_the_session() -> None:
    registry = Registry(group="voiceadapters.tests.none")
    registry.register_plugin(ObservingPlugin())
    simulator = ScriptedSimulator()
    async with voiceadapters.connect(
        "scripted://", api_key=KEY, transport=MemoryTransport(simulator), registry=registry
    ) as session:
        assert session.ended is None
    assert session.ended is not None and session.ended.reason == "client_closed"


# -- sending -----------------------------------------------------------------------------------


async def test_send_audio_with_an_odd_byte_count_raises_and_consumes_nothing() -> None:
    session, simulator = await scripted({})
    pcm = tone(7, 640)
    with pytest.raises(AudioFormatError):
        await session.send_audio(pcm[:639])
    assert session.stats.audio_bytes_sent == 0
    assert bytes(simulator.connections[0].received_audio) == b""
    await session.send_audio(pcm)
    assert bytes(simulator.connections[0].received_audio) == pcm, "exactly the good chunk"
    assert session.stats.audio_bytes_sent == len(pcm)
    await session.close()


async def test_send_audio_accepts_bytearray_and_memoryview() -> None:
    session, simulator = await scripted({})
    await session.send_audio(bytearray(tone(1, 64)))
    await session.send_audio(memoryview(tone(2, 64)))
    assert bytes(simulator.connections[0].received_audio) == tone(1, 64) + tone(2, 64)
    await session.close()


async def test_microphone_audio_is_converted_to_the_wire_format() -> None:
    speech, _ = speech_sample()
    fmt = AudioFormat(48000)
    from voiceadapters.audio import StreamConverter

    conv = StreamConverter(PCM16, fmt)
    pcm = conv.convert(speech[:32000]) + conv.flush()
    session, simulator = await scripted({}, input_format=fmt)
    for i in range(0, len(pcm), 1920):
        await session.send_audio(pcm[i : i + 1920])
    await session.close()  # flushes the resampler's tail
    received = bytes(simulator.connections[0].received_audio)
    assert abs(len(received) - 32000) <= 4, "1 s of 48 kHz audio is 1 s of 16 kHz on the wire"


@pytest.mark.parametrize("how", ["closed", "provider_ended"])
async def test_commands_after_the_end_raise_session_closed(how: str) -> None:
    end = [text({"end": "completed"})] if how == "provider_ended" else []
    session, _ = await scripted({"": end})
    if how == "closed":
        await session.close()
    else:
        await read_all(session)
    with pytest.raises(SessionClosedError):
        await session.send_audio(tone(1))
    with pytest.raises(SessionClosedError):
        await session.send_text("hello")
    assert session.ended is not None


@pytest.mark.parametrize(
    ("call", "capability"),
    [
        (lambda s: s.send_text("hi"), "text_input"),
        (lambda s: s.interrupt(), "client_interrupt"),
        (lambda s: s.send_tool_result("call-1", {"ok": True}), "tool_calls"),
        (lambda s: s.end_turn(), "manual_turns"),
    ],
    ids=["send_text", "interrupt", "send_tool_result", "end_turn"],
)
async def test_unsupported_commands_raise_naming_provider_and_capability(
    call: Callable[[voiceadapters.Session], Any], capability: str
) -> None:
    session = await example()
    with pytest.raises(UnsupportedCommandError) as info:
        await call(session)
    assert info.value.provider == "example" and info.value.capability == capability
    assert "example" in str(info.value) and capability in str(info.value)
    await session.send_audio(tone(0, 640))  # the session goes on
    assert session.ended is None
    await session.close()


# -- interruption and buffering ------------------------------------------------------------


async def test_interruption_purges_the_turns_queued_audio() -> None:
    reply = [
        text({"turn": "t1"}),
        *(tone(i) for i in range(1, 11)),
        text({"say": "stopped"}),
        text({"interrupted": "t1"}),
        tone(99),  # late audio of the interrupted turn
        text({"turn": "t2"}),
        tone(200),
        tone(201),
        text({"done": "t2"}),
        text({"end": "completed"}),
    ]
    session, _ = await scripted({"go": reply})
    await session.send_text("go")
    await until(lambda: session.ended is not None)  # all queued, nothing read yet
    events = await read_all(session)
    assert [e.type for e in events if not isinstance(e, AgentAudio)] == [
        "agent_text",
        "interruption",
        "agent_audio_done",
        "session_ended",
    ]
    audio = [e for e in events if isinstance(e, AgentAudio)]
    assert [e.turn_id for e in audio] == ["t2", "t2"]
    assert audio_of(events) == tone(200) + tone(201)
    assert session.stats.fenced_audio_events == 11  # 10 queued, 1 late


async def test_audio_read_before_the_interruption_was_heard() -> None:
    session, _ = await scripted(
        {
            "one": [text({"turn": "t1"}), tone(1)],
            "stop": [text({"interrupted": "t1"}), text({"end": "completed"})],
        }
    )
    await session.send_text("one")
    first = await session.next_event(timeout=TIMEOUT)
    assert isinstance(first, AgentAudio) and first.pcm == tone(1)
    await session.send_text("stop")
    assert [e.type for e in await read_all(session)] == ["interruption", "session_ended"]
    assert session.stats.fenced_audio_events == 0


async def test_a_stalled_reader_drops_the_oldest_audio_and_no_other_event() -> None:
    frames = 150  # 3 s of agent audio against a 1 s budget
    reply: list[Frame] = [text({"turn": "t1"})]
    for i in range(frames):
        reply.append(tone(i + 1))
        if i % 25 == 0:
            reply.append(text({"say": f"note {i}"}))
    reply += [text({"done": "t1"}), text({"end": "completed"})]
    session, _ = await scripted({"go": reply}, max_buffered_audio=1.0)
    await session.send_text("go")
    await until(lambda: session.ended is not None)
    stats = session.stats
    assert stats.dropped_audio_events > 0
    assert stats.max_queued_audio_bytes <= PCM16.bytes_for(1.0)
    events = await read_all(session)
    notes = [e.text for e in events if isinstance(e, AgentText)]
    assert notes == [f"note {i}" for i in range(0, frames, 25)], "no other event is dropped"
    assert [e.type for e in events[-2:]] == ["agent_audio_done", "session_ended"]
    kept = [e for e in events if isinstance(e, AgentAudio)]
    assert len(kept) + stats.dropped_audio_events == frames
    assert stats.dropped_audio_bytes == stats.dropped_audio_events * FRAME
    assert stats.audio_bytes_received == len(kept) * FRAME
    # The oldest went: what is left is the newest audio, in order.
    assert b"".join(e.pcm for e in kept) == b"".join(
        tone(i + 1) for i in range(frames - len(kept), frames)
    )


# -- observability hooks ------------------------------------------------------------------------


async def test_the_session_hooks_are_called_with_provider_and_events() -> None:
    plugin = ObservingPlugin()
    session, _ = await scripted({"": [text({"end": "completed"})]}, plugin=plugin)
    assert [name for name, _ in plugin.started] == ["scripted"]
    assert plugin.started[0][1] is session.config
    await read_all(session)
    await session.close()
    assert plugin.ended == [("scripted", session.ended)], "ended once, with the event"
    assert KEY not in repr(plugin.started[0][1]), "the config the hook sees masks the key"


async def test_a_failing_hook_is_logged_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    class Failing(ObservingPlugin):
        @hookimpl
        def voiceadapters_session_started(self, provider: str, config: ProviderConfig) -> None:
            raise RuntimeError("observer bug")

    session, simulator = await scripted({}, plugin=Failing())
    assert "voiceadapters_session_started" in caplog.text
    await session.send_audio(tone(3))
    assert bytes(simulator.connections[0].received_audio) == tone(3)
    assert (await session.close()).reason == "client_closed"


async def test_a_codec_bug_ends_the_session_with_codec_error_then_error() -> None:
    plugin = ObservingPlugin()
    script = {"": [text({"started": "s-1"}), text({"boom": "secret-looking"}), text({"say": "x"})]}
    session, _ = await scripted(script, plugin=plugin)
    events = await read_all(session)
    assert [e.type for e in events] == ["session_started", "provider_error", "session_ended"]
    error, ended = events[1:]
    assert isinstance(error, ProviderError) and isinstance(ended, SessionEnded)
    assert error.code == "codec_error" and error.fatal and "KeyError" in error.message
    assert "secret-looking" not in error.message
    assert ended.reason == "error"
    assert plugin.ended == [("scripted", ended)]
    with pytest.raises(SessionClosedError):
        await session.send_audio(tone(1))
    assert await session.close() is ended


async def test_the_converter_tail_is_released_for_providers_without_turn_ends() -> None:
    speech, _ = speech_sample()
    from voiceadapters.audio import StreamConverter

    conv = StreamConverter(PCM16, PCM24)
    agent = conv.convert(speech[:32000]) + conv.flush()
    back = StreamConverter(PCM24, PCM16)
    expected = len(back.convert(agent) + back.flush())
    frames = [agent[i : i + 960] for i in range(0, len(agent), 960)]
    session, _ = await scripted({"go": [text({"turn": "t1"}), *frames]}, provider="unending")
    await session.send_text("go")
    received = 0
    while received < expected:  # the last few ms come after a pause, not never
        event = await session.next_event(timeout=TIMEOUT)
        if isinstance(event, AgentAudio):
            assert event.format == PCM16
            received += len(event.pcm)
    assert received == expected
    await session.close()


# -- report_played (advisory) and end_turn -----------------------------------------------


async def test_report_played_is_accepted_by_every_provider_and_checked() -> None:
    session = await example()
    await session.report_played("turn-1", 0.3)  # a codec that cannot use it ignores it
    await session.report_played(None, 0.0)
    with pytest.raises(ValueError):
        await session.report_played("turn-1", -1.0)
    with pytest.raises(ValueError):
        await session.report_played("turn-1", float("nan"))
    assert session.ended is None
    await session.close()
    with pytest.raises(SessionClosedError):
        await session.report_played("turn-1", 0.5)
