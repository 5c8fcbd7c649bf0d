"""What simulators keep is bounded, however long a session streams.

Each record (``received_audio``, ``received_messages``, ``binary_frame_sizes``,
the agent's ``spoken`` and ``replies``, the plugins' per-message lists) keeps
its most recent items and counts the rest; the tests count the bytes a
connection holds (a deep ``sys.getsizeof`` walk), never wall time.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from voiceadapters import get_provider, parse_config
from voiceadapters.audio import StreamConverter, array_to_pcm
from voiceadapters.commands import SendAudio
from voiceadapters.config import resolve_config
from voiceadapters.events import AgentAudio, SessionStarted
from voiceadapters.format import AudioFormat
from voiceadapters.simulator.agent import Agent, AgentSpeech, AgentTextOut, ToolCallOut
from voiceadapters.simulator.base import (
    CONNECTION_LIMIT,
    FRAME_SIZE_LIMIT,
    MESSAGE_LIMIT,
    RECEIVED_AUDIO_LIMIT,
    SimRequest,
    Simulator,
)
from voiceadapters.simulator.records import RecentBytes, RecentList
from voiceadapters.simulator.records import held_bytes as _held_bytes
from voiceadapters.testing import CodecPair, speech_sample
from voiceadapters_nextevi import NextEVISimulator
from voiceadapters_nextevi import messages as nextevi_messages

PROVIDERS = ["vatel", "binary-pcm", "nextevi", "example", "deepgram", "openai"]
KEY = "oak_records_0123456789"
FMT = AudioFormat(16000)


def held_bytes(root: object) -> int:
    """Bytes reachable from ``root``, not following the shared simulator."""
    return _held_bytes(root, skip=(Simulator,))


# -- the record types ----------------------------------------------------------------


def test_recent_bytes_keeps_the_newest_bytes_and_counts_all() -> None:
    record = RecentBytes(5)
    record += b"abc"
    record += memoryview(b"defg")
    record.extend(b"h")
    assert bytes(record) == b"defgh" and record == bytearray(b"defgh")
    assert (record.total, record.dropped) == (8, 3)
    assert isinstance(record, bytearray) and "held=5" in repr(record)


def test_recent_list_keeps_the_newest_items_and_counts_all() -> None:
    record: RecentList[int] = RecentList(3, [1, 2])
    record.append(3)
    record += [4, 5]
    assert record == [3, 4, 5] and record[-1] == 5 and record[1:] == [4, 5]
    assert (record.total, record.dropped) == (5, 2)


def test_a_record_limit_cannot_be_negative() -> None:
    with pytest.raises(ValueError, match=">= 0"):
        RecentList(-1)


# -- every simulator over simulated minutes ----------------------------------------------


def make_pair(name: str) -> CodecPair:
    provider = get_provider(name)
    simulator = provider.make_simulator(api_key=KEY, pace=1.0)
    url = parse_config(provider.simulator_config("127.0.0.1", 1, simulator))
    pair = CodecPair(provider.make_codec(resolve_config(url, provider, api_key=KEY)), simulator)
    pair.run_until(lambda events: any(isinstance(e, SessionStarted) for e in events))
    pair.advance(0.5)
    return pair


def stream_minute(pair: CodecPair, block: bytes, frame: int) -> int:
    """Stream a minute (whole blocks: speech, then quiet) in real time; bytes sent."""
    wire = pair.codec.wire_input
    sent = 0
    while sent < wire.bytes_for(60.0):
        for at in range(0, len(block), frame):
            chunk = block[at : at + frame]
            pair.send(SendAudio(pcm=chunk))
            pair.advance(wire.duration(len(chunk)))
            sent += len(chunk)
    return sent


@pytest.mark.parametrize("name", PROVIDERS)
def test_a_simulator_connection_holds_the_same_bytes_after_minutes_of_audio(name: str) -> None:
    pair = make_pair(name)
    pcm, fmt = speech_sample()
    conv = StreamConverter(fmt, pair.codec.wire_input)
    block = conv.convert(pcm) + conv.flush() + bytes(pair.codec.wire_input.bytes_for(1.0))
    frame = pair.codec.wire_input.bytes_for(0.1)
    # Four minutes fill every record (the frame sizes last: 600 a minute here).
    sent = sum(stream_minute(pair, block, frame) for _ in range(4))
    after_four = held_bytes(pair.server)
    sent += stream_minute(pair, block, frame)
    after_five = held_bytes(pair.server)
    # Unbounded, a minute added 2.6 to 3.9 MB (the audio received, and the
    # audio spoken back); what is left is the last of the 100 replies kept.
    assert after_five - after_four < 16 * 1024
    assert after_five < 8 * 1024 * 1024
    server = pair.server
    assert len(server.received_audio) == RECEIVED_AUDIO_LIMIT
    total = server.received_audio.total  # all that was sent, but a fixed-size frame in the works
    assert sent - (get_provider(name).wire_frame_bytes or 1) < total <= sent
    assert server.received_audio.dropped == total - RECEIVED_AUDIO_LIMIT
    stream = block * (sent // len(block))
    assert bytes(server.received_audio) == stream[total - RECEIVED_AUDIO_LIMIT : total]
    if server.binary_frame_sizes.total:  # the protocols that send audio as binary frames
        assert len(server.binary_frame_sizes) <= FRAME_SIZE_LIMIT
    agent = server.agent
    assert agent is not None and agent.turns >= 60
    assert len(agent.spoken) <= 1 << 20 < agent.spoken.total
    assert any(isinstance(e, AgentAudio) for e in pair.events[-200:]), "still answering"


# -- the agent's own records ------------------------------------------------------------------


def tone(seconds: float) -> bytes:
    t = np.arange(int(FMT.sample_rate * seconds)) / FMT.sample_rate
    return array_to_pcm(0.3 * np.sin(2 * np.pi * 220 * t))


def talk(agent: Agent, pcm: bytes, now: float) -> float:
    """Feed ``pcm`` then 1 s of silence in 20 ms windows; return the clock after."""
    frame = FMT.bytes_for(0.02)
    audio = pcm + bytes(FMT.bytes_for(1.0))
    for at in range(0, len(audio), frame):
        agent.user_audio(audio[at : at + frame], now)
        now += 0.02
        agent.handle_timer(now)
    return now


def test_the_agent_keeps_its_most_recent_replies() -> None:
    agent = Agent(FMT, pace=0, replies_limit=3)
    now = 0.0
    for _ in range(5):
        now = talk(agent, tone(0.5), now)
    assert agent.turns == 5 and agent.replies.total == 5
    assert len(agent.replies) == 3 and agent.replies[-1].startswith("You said")


def test_the_agent_keeps_the_most_recent_spoken_bytes() -> None:
    agent = Agent(FMT, pace=0, spoken_limit=FMT.bytes_for(1.0))
    now = 0.0
    for _ in range(3):
        now = talk(agent, tone(0.8), now)
    speech = [a for a in agent.actions() if isinstance(a, AgentSpeech)]
    assert agent.spoken.total == sum(len(a.pcm) for a in speech) > FMT.bytes_for(2.0)
    assert bytes(agent.spoken) == b"".join(a.pcm for a in speech)[-FMT.bytes_for(1.0) :]


def test_an_endless_utterance_is_echoed_only_for_its_last_max_echo_seconds() -> None:
    agent = Agent(FMT, pace=0, max_echo=2.0)
    talk(agent, tone(30.0), 0.0)
    actions = agent.actions()
    speech = b"".join(a.pcm for a in actions if isinstance(a, AgentSpeech))
    assert len(speech) == FMT.bytes_for(2.0), "the echo holds the last 2 s only"
    (reply,) = [a for a in actions if isinstance(a, AgentTextOut) and a.final]
    assert "[30." in reply.text, "the transcript still counts the whole utterance"


def test_unanswered_tool_calls_are_forgotten_past_max_pending_tools() -> None:
    agent = Agent(FMT, scenario="tool_call", pace=0, max_pending_tools=2)
    now = 0.0
    for _ in range(4):
        now = talk(agent, tone(0.5), now)
    calls = [a for a in agent.actions() if isinstance(a, ToolCallOut)]
    assert len(calls) == 4
    agent.tool_result(calls[0].call_id, "late", now)  # forgotten: ignored
    assert not agent.actions()
    agent.tool_result(calls[-1].call_id, "ok", now)
    agent.handle_timer(now)
    assert any(isinstance(a, AgentTextOut) and "ok" in a.text for a in agent.actions())


# -- per-message records and the connections list ----------------------------------------------


def nextevi_connection(simulator: NextEVISimulator) -> Any:
    path = f"/ws/voice/conn-{len(simulator.connections)}"
    request = SimRequest(
        "GET",
        path,
        query={"api_key": KEY, "config_id": simulator.config_id},
        headers={"upgrade": "websocket"},
    )
    connection = simulator.open_websocket(request, 0.0)
    connection.opened(0.0)
    return connection


def test_messages_are_kept_up_to_the_limit_and_audio_messages_not_at_all() -> None:
    connection = nextevi_connection(NextEVISimulator(KEY))
    keep_alive = nextevi_messages.encode({"type": "keep_alive"})
    audio = nextevi_messages.encode(
        {"type": "audio_input", "data": {"audio": "AAAA", "chunk_id": "c"}}
    )
    for _ in range(MESSAGE_LIMIT + 10):
        connection.receive_frame(keep_alive, 0.0)
        connection.receive_frame(audio, 0.0)
    assert len(connection.received_messages) == MESSAGE_LIMIT
    assert connection.received_messages.total == MESSAGE_LIMIT + 10
    assert {m["type"] for m in connection.received_messages} == {"keep_alive"}
    assert len(connection.chunk_ids) == MESSAGE_LIMIT and connection.chunk_ids.dropped == 10
    assert connection.received_audio.total == 3 * (MESSAGE_LIMIT + 10)


def test_frame_sizes_and_invalid_input_are_kept_up_to_their_limits() -> None:
    connection = nextevi_connection(NextEVISimulator(KEY))
    for _ in range(FRAME_SIZE_LIMIT + 5):
        connection.receive_frame(b"\x00\x00", 0.0)
    for _ in range(MESSAGE_LIMIT + 5):
        connection.receive_frame("not json", 0.0)
    assert len(connection.binary_frame_sizes) == FRAME_SIZE_LIMIT
    assert connection.binary_frame_sizes.total == FRAME_SIZE_LIMIT + 5
    assert len(connection.invalid) == MESSAGE_LIMIT and connection.invalid.dropped == 5


def test_a_simulator_keeps_its_most_recent_connections() -> None:
    simulator = NextEVISimulator(KEY)
    opened = [nextevi_connection(simulator) for _ in range(CONNECTION_LIMIT + 3)]
    assert len(simulator.connections) == CONNECTION_LIMIT
    assert simulator.connections[-1] is opened[-1] and simulator.connections[0] is opened[3]
