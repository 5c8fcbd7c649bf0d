"""Agent audio without an event: ``Codec._emit_audio`` and ``Codec.audio_sink``.

A codec emits agent audio through ``_emit_audio``. Without a sink that is an
``agent_audio`` event; with the sink a session installs on its live
connection, the audio goes straight to the session's pipeline, with no
event built — but only while no other event of the codec waits to be
drained, so the order is the codec's either way. These tests hold the two
lanes equal: at the codec level for every first-party provider (paired with
its simulator in memory, fake clock), and in a session over the in-memory
transport with a scripted provider whose codec uses either lane.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any, ClassVar

import pytest

import voiceadapters
from voiceadapters import AudioFormat, Provider, ProviderConfig, get_provider, parse_config
from voiceadapters.audio import StreamConverter
from voiceadapters.capabilities import Capabilities
from voiceadapters.codec import Codec
from voiceadapters.commands import Command, SendAudio
from voiceadapters.config import loopback_config, resolve_config
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    Event,
    Interruption,
    ProviderError,
    SessionStarted,
)
from voiceadapters.handshake import Frame, HttpResponse, WebSocketRequest
from voiceadapters.hookspecs import hookimpl
from voiceadapters.pipeline import AudioPipeline
from voiceadapters.registry import Registry
from voiceadapters.simulator.base import SimRequest, Simulator, SimulatorConnection, json_response
from voiceadapters.testing import CodecPair, speech_sample
from voiceadapters.transports.memory import MemoryTransport

PROVIDERS = ["vatel", "binary-pcm", "nextevi", "example", "deepgram", "openai"]
KEY = "oak_audio_sink_0123456789"
PCM16 = AudioFormat(16000)
PCM24 = AudioFormat(24000)
TIMEOUT = 10.0


# -- the codec level ----------------------------------------------------------------------


def make_pair(name: str) -> CodecPair:
    provider = get_provider(name)
    simulator = provider.make_simulator(api_key=KEY, pace=0)
    url = parse_config(provider.simulator_config("127.0.0.1", 1, simulator))
    codec = provider.make_codec(resolve_config(url, provider, api_key=KEY))
    pair = CodecPair(codec, simulator)
    pair.run_until(lambda events: any(isinstance(e, SessionStarted) for e in events))
    return pair


def converse(pair: CodecPair) -> None:
    """A spoken turn, streamed in 20 ms chunks, and the agent's reply."""
    pcm, fmt = speech_sample()
    conv = StreamConverter(fmt, pair.codec.wire_input)
    pcm = conv.convert(pcm) + conv.flush()
    chunk = pair.codec.wire_input.bytes_for(0.02)
    step = 0.02
    for i in range(0, len(pcm), chunk):
        pair.codec.handle_audio(pcm[i : i + chunk])
        pair.pump()
        pair.advance(step)
    pair.advance(3.0)


def application(events: list[Event | tuple[bytes, AudioFormat, str | None]]) -> list[object]:
    """What a session's pipeline makes of a codec's output — events, and
    audio handed to a sink, in order — compared without the ``received``
    stamps and provider ids that differ between two runs."""
    pipeline = AudioPipeline(PCM16, PCM16, PCM16)
    out: list[Event] = []
    for item in events:
        if isinstance(item, tuple):
            out.extend(pipeline.audio(*item))
        else:
            out.extend(pipeline.process([item]))
    out.extend(pipeline.flush_output())
    return [
        ("agent_audio", e.pcm, e.format, e.turn_id is None) if isinstance(e, AgentAudio) else e.type
        for e in out
    ]


@pytest.mark.parametrize("name", PROVIDERS)
def test_every_codec_hands_its_audio_to_the_sink_as_it_would_emit_it(name: str) -> None:
    plain, sunk = make_pair(name), make_pair(name)
    handed: list[tuple[bytes, AudioFormat, str | None]] = []

    def sink(pcm: bytes, fmt: AudioFormat, turn_id: str | None) -> None:
        handed.append((pcm, fmt, turn_id))
        sunk.events.append((pcm, fmt, turn_id))  # type: ignore[arg-type]  # in order

    sunk.codec.audio_sink = sink
    converse(plain)
    converse(sunk)
    assert handed, "the agent's reply went to the sink"
    assert not any(isinstance(e, AgentAudio) for e in sunk.events)
    assert application(list(plain.events)) == application(list(sunk.events))


class _Emitter(Codec):
    """A codec whose every frame is agent audio of turn "t1", emitted as
    the test says (``pcm`` may be made a bytearray)."""

    def __init__(self) -> None:
        super().__init__(get_provider("example"))
        self.as_bytearray = False
        self.note_first = False

    def handshake_step(self) -> None:
        return None

    def connection_opened(self) -> None:
        pass

    def _on_frame(self, frame: Frame) -> None:
        assert isinstance(frame, bytes)
        if self.note_first:
            self._emit(ProviderError(code="odd_length_audio", message="noted first"))
        self._emit_audio(bytearray(frame) if self.as_bytearray else frame, PCM16, "t1")  # type: ignore[arg-type]

    def _on_command(self, command: Command) -> None:
        pass


def test_without_a_sink_agent_audio_is_an_event() -> None:
    codec = _Emitter()
    codec.receive_frame(b"\x01\x00" * 160)
    assert codec.events_received() == [
        AgentAudio(pcm=b"\x01\x00" * 160, format=PCM16, turn_id="t1")
    ]


def test_with_a_sink_agent_audio_goes_to_it_and_no_event_is_built() -> None:
    codec = _Emitter()
    handed: list[tuple[bytes, AudioFormat, str | None]] = []
    codec.audio_sink = lambda *audio: handed.append(audio)
    codec.receive_frame(b"\x01\x00" * 160)
    assert handed == [(b"\x01\x00" * 160, PCM16, "t1")]
    assert codec.events_received() == []


def test_audio_after_a_waiting_event_stays_behind_it_as_an_event() -> None:
    codec = _Emitter()
    handed: list[object] = []
    codec.audio_sink = lambda *audio: handed.append(audio)
    codec.note_first = True
    codec.receive_frame(b"\x01\x00" * 160)
    assert handed == [], "the sink would have overtaken the provider_error"
    assert [e.type for e in codec.events_received()] == ["provider_error", "agent_audio"]


def test_audio_a_sink_could_not_take_unchecked_is_validated_into_an_event() -> None:
    codec = _Emitter()
    handed: list[object] = []
    codec.audio_sink = lambda *audio: handed.append(audio)
    codec.as_bytearray = True
    codec.receive_frame(b"\x01\x00" * 160)
    assert handed == []
    (event,) = codec.events_received()
    assert isinstance(event, AgentAudio) and type(event.pcm) is bytes


def test_after_the_end_nothing_reaches_the_sink() -> None:
    codec = _Emitter()
    handed: list[object] = []
    codec.audio_sink = lambda *audio: handed.append(audio)
    codec.receive_closed(1000)
    codec.receive_frame(b"\x01\x00" * 160)
    assert handed == []
    assert [e.type for e in codec.events_received()] == ["session_ended"]


# -- the session level ----------------------------------------------------------------------


class _LaneCodec(Codec):
    """The scripted protocol of tests/test_session.py (binary frames are
    agent audio of the current turn; ``{"turn": t}``, ``{"interrupted": t}``,
    ``{"done": t}``), plus ``{"odd": n}``: the next binary frame is noted
    with a provider_error first, as a codec reports a dropped odd byte. The
    audio goes out through ``_emit_audio`` or as events (``LANE``)."""

    LANE: ClassVar[str] = "sink"

    def __init__(self, config: ProviderConfig, provider: Provider) -> None:
        super().__init__(provider)
        self.config = config
        self._opened = False
        self._turn: str | None = None
        self._note = False

    def handshake_step(self) -> WebSocketRequest | None:
        return None if self._opened else WebSocketRequest(url=self.config.ws_base + "/ws")

    def connection_opened(self) -> None:
        self._opened = True
        self._emit(SessionStarted(session_id="lane"))

    def _on_frame(self, frame: Frame) -> None:
        if isinstance(frame, bytes):
            if self._note:
                self._note = False
                self._emit(ProviderError(code="odd_length_audio", message="noted"))
            if self.LANE == "sink":
                self._emit_audio(frame, self.wire_output, self._turn)
            else:
                self._emit(AgentAudio(pcm=frame, format=self.wire_output, turn_id=self._turn))
            return
        message = json.loads(frame)
        if "turn" in message:
            self._turn = message["turn"]
        elif "interrupted" in message:
            self._emit(Interruption(turn_id=message["interrupted"]))
        elif "done" in message:
            self._emit(AgentAudioDone(turn_id=message["done"]))
        elif "odd" in message:
            self._note = True

    def _on_command(self, command: Command) -> None:
        if isinstance(command, SendAudio):
            self._send(command.pcm)


class _EventLaneCodec(_LaneCodec):
    LANE: ClassVar[str] = "event"


class _ScriptConnection(SimulatorConnection):
    def __init__(self, script: list[Frame]) -> None:
        super().__init__()
        self.script = script

    def opened(self, now: float) -> None:
        for frame in self.script:
            self.send(frame)

    def receive_frame(self, frame: Frame, now: float) -> None:
        pass  # the microphone is not part of these tests


class _ScriptSimulator(Simulator):
    """Sends ``script`` as soon as the connection opens."""

    provider = "lane"

    def __init__(self, script: list[Frame] | None = None) -> None:
        super().__init__()
        self.script = script or []

    def handle_http(self, request: SimRequest, now: float) -> HttpResponse:
        return json_response(404, {"error": "not found"})

    def open_websocket(self, request: SimRequest, now: float) -> _ScriptConnection:
        connection = _ScriptConnection(self.script)
        self.connections.append(connection)
        return connection


class _LaneProvider(Provider):
    name: ClassVar[str] = "lane-sink"
    default_host: ClassVar[str] = "lane.invalid"
    wire_input: ClassVar[AudioFormat] = PCM16
    wire_output: ClassVar[AudioFormat] = PCM24  # resampled: the pipeline's whole path
    capabilities: ClassVar[Capabilities] = Capabilities(
        interruption_events=True, agent_audio_done=True
    )

    def make_codec(self, config: ProviderConfig) -> Codec:
        return _LaneCodec(config, self)

    def make_simulator(
        self, *, api_key: str, scenario: str | None = None, pace: float = 1.0
    ) -> Simulator:
        return _ScriptSimulator()

    def simulator_config(self, host: str, port: int, simulator: Simulator) -> str:
        return loopback_config(self.name, host, port)


class _EventLaneProvider(_LaneProvider):
    name: ClassVar[str] = "lane-event"

    def make_codec(self, config: ProviderConfig) -> Codec:
        return _EventLaneCodec(config, self)


class _Plugin:
    @hookimpl
    def voiceadapters_providers(self) -> list[Provider]:
        return [_LaneProvider(), _EventLaneProvider()]


def _tone(value: int, ms: int = 20) -> bytes:
    return value.to_bytes(2, "little", signed=True) * (PCM24.bytes_for(ms / 1000) // 2)


def _text(message: dict[str, Any]) -> str:
    return json.dumps(message)


#: Two turns; the first is interrupted after some audio, then a late frame
#: of it arrives (fenced); an odd-byte note precedes a frame of the second.
SCRIPT: list[Frame] = [
    _text({"turn": "a"}),
    *(_tone(1000 + i) for i in range(12)),
    _text({"interrupted": "a"}),
    _tone(1),
    _text({"turn": "b"}),
    *(_tone(2000 + i, ms=30) for i in range(5)),
    _text({"odd": 1}),
    _tone(3000),
    *(_tone(2100 + i) for i in range(7)),
    _text({"done": "b"}),
    _text({"turn": "c"}),
    *(_tone(4000 + i) for i in range(4)),
    _text({"done": "c"}),
]


async def _run(provider: str, **kwargs: Any) -> tuple[list[Event], voiceadapters.Session]:
    registry = Registry(group="voiceadapters.tests.none")
    registry.register_plugin(_Plugin())
    session = await voiceadapters.connect(
        f"{provider}://",
        api_key=KEY,
        transport=MemoryTransport(_ScriptSimulator(SCRIPT)),
        registry=registry,
        **kwargs,
    )
    events: list[Event] = []

    async def read() -> None:
        async for event in session:
            events.append(event)
            if isinstance(event, AgentAudioDone) and event.turn_id == "c":
                return

    await asyncio.wait_for(read(), TIMEOUT)
    await session.close()
    return events, session


def _seen(events: list[Event]) -> list[object]:
    return [
        (e.type, e.pcm, e.format, e.turn_id) if isinstance(e, AgentAudio) else e for e in events
    ]


@pytest.mark.parametrize("recorded", [False, True], ids=["direct", "recorded"])
async def test_a_session_reads_the_same_through_the_sink_as_through_events(
    recorded: bool, tmp_path: Path
) -> None:
    """The event lane is a codec that emits ``AgentAudio`` itself; the sink
    lane is ``_emit_audio`` on a live connection — unless a cassette recorder
    watches every codec event, when ``_emit_audio`` builds the event too."""
    kwargs: dict[str, Any] = {"record": tmp_path / "lane.jsonl"} if recorded else {}
    by_events, plain = await _run("lane-event")
    by_sink, sunk = await _run("lane-sink", **kwargs)
    assert _seen(by_sink) == _seen(by_events)
    kinds = [e.type for e in by_sink]
    assert kinds.index("provider_error") < len(kinds) - 1
    after_error = by_sink[kinds.index("provider_error") + 1]
    assert isinstance(after_error, AgentAudio) and after_error.turn_id == "b"
    assert sunk.stats.fenced_audio_events == plain.stats.fenced_audio_events >= 1
    assert sunk.stats.audio_bytes_received == plain.stats.audio_bytes_received > 0
    assert sunk.stats.agent_turns == plain.stats.agent_turns >= 3
    turns, plain_turns = sunk.metrics.turns, plain.metrics.turns
    assert [(t.turn_id, t.audio_seconds, t.interrupted) for t in turns] == [
        (t.turn_id, t.audio_seconds, t.interrupted) for t in plain_turns
    ]
