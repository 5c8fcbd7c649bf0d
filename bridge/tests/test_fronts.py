"""The fronts as pure state machines: no socket, no event loop, no clock."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from voiceadapters.capabilities import Capabilities
from voiceadapters.commands import (
    Close,
    EndTurn,
    Interrupt,
    ReportPlayed,
    SendAudio,
    SendText,
    SendToolResult,
)
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    Interruption,
    SessionEnded,
    UserTranscript,
)
from voiceadapters.format import AudioFormat
from voiceadapters.frames import CloseFrame
from voiceadapters_bridge.browser import BrowserFront
from voiceadapters_bridge.front import MAX_CLOSE_REASON, FrontFacts, OpenSession, close_reason
from voiceadapters_bridge.g711 import pcm16_to_ulaw
from voiceadapters_bridge.twilio import TwilioFront

PHONE = AudioFormat(8000)


def facts(**caps: bool) -> FrontFacts:
    return FrontFacts(provider="test", capabilities=Capabilities(**caps))


def start(sid: str = "MZ1", **params: str) -> str:
    return json.dumps(
        {
            "event": "start",
            "streamSid": sid,
            "start": {
                "streamSid": sid,
                "callSid": "CA1",
                "customParameters": params,
                "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
            },
        }
    )


def media(pcm: bytes) -> str:
    payload = base64.b64encode(pcm16_to_ulaw(pcm)).decode()
    return json.dumps(
        {"event": "media", "streamSid": "MZ1", "media": {"track": "inbound", "payload": payload}}
    )


def sent(front: Any) -> list[Any]:
    return [json.loads(f) if isinstance(f, str) else f for f in front.frames_to_send()]


def started_twilio(**caps: bool) -> TwilioFront:
    front = TwilioFront(facts(**caps))
    front.connection_opened()
    front.receive_frame('{"event":"connected","protocol":"Call","version":"1.0.0"}')
    front.receive_frame(start(token="tok", agent_id="a1"))
    assert front.actions() == [OpenSession(options={"agent_id": "a1"}, credential="tok")]
    return front


def agent_audio(turn: str, ms: int = 20) -> AgentAudio:
    return AgentAudio(pcm=bytes(PHONE.bytes_for(ms / 1000)), format=PHONE, turn_id=turn)


def test_twilio_start_opens_the_session_with_its_parameters_and_token() -> None:
    front = started_twilio()
    assert (front.stream_sid, front.call_sid, front.protocol_version) == ("MZ1", "CA1", "1.0.0")
    assert "tok" not in repr(OpenSession(credential="tok"))


def test_twilio_media_becomes_pcm_and_agent_audio_becomes_media() -> None:
    front = started_twilio()
    pcm = b"\x10\x20" * 160
    front.receive_frame(media(pcm))
    (command,) = front.actions()
    assert isinstance(command, SendAudio) and len(command.pcm) == 320
    front.handle_event(agent_audio("t1"))
    (out,) = sent(front)
    assert out["event"] == "media" and out["streamSid"] == "MZ1"
    assert len(base64.b64decode(out["media"]["payload"])) == 160


def test_twilio_marks_each_turn_and_tracks_the_echo() -> None:
    front = started_twilio()
    front.handle_event(agent_audio("t1"))
    front.handle_event(AgentAudioDone(turn_id="t1"))
    frames = sent(front)
    mark = frames[-1]
    assert mark["event"] == "mark" and mark["mark"]["name"] == "turn-t1#1"
    assert front.pending_marks == ["turn-t1#1"]
    front.receive_frame(
        json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": "turn-t1#1"}})
    )
    assert front.pending_marks == [] and front.echoed_marks == ["turn-t1#1"]
    # A mark it never sent is not an echo.
    front.receive_frame(json.dumps({"event": "mark", "mark": {"name": "other"}}))
    assert front.malformed == 1


def echo(front: TwilioFront, name: str) -> None:
    front.receive_frame(json.dumps({"event": "mark", "streamSid": "MZ1", "mark": {"name": name}}))


def test_twilio_mark_echoes_report_the_callers_playback_position() -> None:
    front = started_twilio()
    for _ in range(60):  # 1.2 s of agent audio
        front.handle_event(agent_audio("t1"))
    marks = [f["mark"]["name"] for f in sent(front) if f["event"] == "mark"]
    assert marks == ["play#1", "play#2"]
    echo(front, "play#1")
    assert front.actions() == [ReportPlayed(turn_id="t1", seconds=0.5)]
    # The caller barges in: Twilio echoes the mark whose audio the clear dropped.
    front.handle_event(Interruption(turn_id="t1"))
    echo(front, "play#2")
    assert front.actions() == []
    assert front.pending_marks == []


def test_twilio_playback_positions_restart_with_each_turn() -> None:
    front = started_twilio()
    for turn in ("t1", "t2"):  # no agent_audio_done between them
        for _ in range(25):
            front.handle_event(agent_audio(turn))
    marks = [f["mark"]["name"] for f in sent(front) if f["event"] == "mark"]
    for name in marks:
        echo(front, name)
    assert front.actions() == [
        ReportPlayed(turn_id="t1", seconds=0.5),
        ReportPlayed(turn_id="t2", seconds=0.5),
    ]


def test_twilio_barge_in_clears_and_drops_the_interrupted_turn() -> None:
    front = started_twilio()
    front.handle_event(agent_audio("t1"))
    front.handle_event(Interruption(turn_id="t1"))
    front.handle_event(agent_audio("t1"))  # late audio of the interrupted turn
    front.handle_event(AgentAudioDone(turn_id="t1"))
    front.handle_event(agent_audio("t2"))
    events = [f["event"] for f in sent(front)]
    assert events == ["media", "clear", "media"]
    assert front.clears_sent == 1


def test_twilio_dtmf_is_text_only_when_asked_and_the_provider_takes_text() -> None:
    digit = json.dumps({"event": "dtmf", "dtmf": {"track": "inbound_track", "digit": "5"}})
    plain = started_twilio(text_input=True)
    plain.receive_frame(digit)
    assert plain.actions() == [] and plain.dtmf_digits == ["5"]
    front = TwilioFront(facts(text_input=True), dtmf_as_text=True)
    front.receive_frame(start())
    front.actions()
    front.receive_frame(digit)
    assert front.actions() == [SendText(text="DTMF 5")]


def test_twilio_stop_closes_the_session_and_its_end_closes_the_stream() -> None:
    front = started_twilio()
    front.receive_frame(json.dumps({"event": "stop", "streamSid": "MZ1", "stop": {}}))
    assert front.actions() == [Close()]
    front.handle_event(SessionEnded(reason="client_closed"))
    assert front.frames_to_send() == [CloseFrame(1000, "session ended: client_closed")]


@pytest.mark.parametrize(
    "frame",
    [
        "not json",
        "[1, 2]",
        '{"event": "media", "media": {"payload": "AAAA"}}',  # before start
        '{"event": "whatever"}',
    ],
)
def test_twilio_ignores_and_counts_what_it_cannot_use(frame: str) -> None:
    front = TwilioFront(facts())
    front.receive_frame(frame)
    assert (front.actions(), front.frames_to_send(), front.malformed) == ([], [], 1)


def test_twilio_bad_base64_and_unsupported_formats() -> None:
    front = started_twilio()
    front.receive_frame(json.dumps({"event": "media", "media": {"payload": "!!!"}}))
    assert front.actions() == [] and front.malformed == 1
    other = TwilioFront(facts())
    other.receive_frame(
        json.dumps(
            {
                "event": "start",
                "start": {
                    "streamSid": "s",
                    "mediaFormat": {"encoding": "audio/x-alaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )
    )
    assert other.actions() == []
    assert other.frames_to_send() == [
        CloseFrame(1003, "unsupported media format audio/x-alaw 8000 Hz 1 ch")
    ]


def test_browser_front_protocol() -> None:
    front = BrowserFront(
        FrontFacts(
            provider="test", capabilities=Capabilities(text_input=True), query={"agent_id": "x"}
        )
    )
    front.connection_opened()
    (ready,) = sent(front)
    assert ready["type"] == "bridge.ready" and ready["sample_rate"] == 16000
    assert front.actions() == [OpenSession(options={"agent_id": "x"})]
    front.receive_frame(bytes(640))
    front.receive_frame('{"type": "text", "text": "hi"}')
    front.receive_frame('{"type": "interrupt"}')
    front.receive_frame('{"type": "tool_result", "call_id": "c1", "output": {"ok": true}}')
    front.receive_frame('{"type": "end_turn"}')
    front.receive_frame('{"type": "played", "turn_id": "t1", "seconds": 1.5}')
    front.receive_frame('{"type": "close"}')
    assert front.actions() == [
        SendAudio(pcm=bytes(640)),
        SendText(text="hi"),
        Interrupt(),
        SendToolResult(call_id="c1", output='{"ok":true}'),
        EndTurn(),
        ReportPlayed(turn_id="t1", seconds=1.5),
        Close(),
    ]
    front.receive_frame(bytes(3))
    front.receive_frame('{"type": "dance"}')
    front.receive_frame('{"type": "played", "turn_id": "t1", "seconds": -1}')
    front.receive_frame('{"type": "played", "turn_id": "t1", "seconds": 1e999}')
    errors = sent(front)
    assert [e["type"] for e in errors] == ["bridge.error"] * 4
    assert front.actions() == []
    front.command_refused(Interrupt(), "no client_interrupt")
    assert sent(front)[0]["message"] == "interrupt: no client_interrupt"


def test_browser_front_events_audio_and_close() -> None:
    front = BrowserFront(facts())
    front.handle_event(UserTranscript(text="hello", final=True))
    fmt = AudioFormat(16000)
    front.handle_event(AgentAudio(pcm=bytes(640), format=fmt, turn_id="t1"))
    front.handle_event(AgentAudio(pcm=bytes(640), format=fmt, turn_id="t1"))
    front.handle_event(Interruption(turn_id="t1"))
    front.handle_event(AgentAudio(pcm=bytes(640), format=fmt, turn_id="t1"))
    front.handle_event(SessionEnded(reason="completed"))
    out = front.frames_to_send()
    kinds = [json.loads(f)["type"] if isinstance(f, str) else type(f).__name__ for f in out]
    assert kinds == [
        "user_transcript",
        "agent_audio",
        "bytes",
        "bytes",
        "interruption",
        "session_ended",
        "bridge.closing",
        "CloseFrame",
    ]
    assert out[-1] == CloseFrame(1000, "session ended: completed")


def test_close_reasons_fit_a_close_frame() -> None:
    long = "é" * 100
    cut = close_reason(long)
    assert len(cut.encode()) <= MAX_CLOSE_REASON and cut.endswith("...")
    assert close_reason("short") == "short"
