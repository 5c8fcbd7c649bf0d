"""The simulator's own behaviour: refusals, fault scenarios, manual turns."""

from __future__ import annotations

import json
from typing import Any

import pytest

from voiceadapters.commands import SendAudio
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    ProviderError,
    SessionEnded,
    UnknownMessage,
)
from voiceadapters.handshake import HttpResponse
from voiceadapters.simulator.base import SimRequest
from voiceadapters_openai import RealtimeSimulator


def _open(kit: Any, path: str, query: dict[str, str], headers: dict[str, str]) -> Any:
    sim = RealtimeSimulator(kit.API_KEY)
    return sim.open_websocket(SimRequest("GET", path, query, headers), 0.0)


@pytest.mark.parametrize(
    ("path", "query", "headers", "status"),
    [
        ("/v1/realtime", {"model": "m"}, {"authorization": "Bearer nope"}, 401),
        ("/v1/realtime", {"model": "m"}, {}, 401),
        ("/v1/realtime", {}, {"authorization": "Bearer KEY"}, 400),
        ("/openai/realtime", {"api-version": "v", "deployment": "d"}, {"api-key": "nope"}, 401),
        ("/openai/realtime", {"api-version": "v"}, {"api-key": "KEY"}, 400),
        ("/v2/elsewhere", {"model": "m"}, {"authorization": "Bearer KEY"}, 404),
    ],
)
def test_refusals_have_the_rest_error_shape(
    kit: Any, path: str, query: dict[str, str], headers: dict[str, str], status: int
) -> None:
    headers = {k: v.replace("KEY", kit.API_KEY) for k, v in headers.items()}
    answer = _open(kit, path, query, headers)
    assert isinstance(answer, HttpResponse) and answer.status == status
    error = json.loads(answer.body)["error"]
    assert set(error) == {"message", "type", "code", "param"}


def test_drop_cuts_the_connection_after_the_first_audio(kit: Any) -> None:
    pair = kit.make_pair("drop", reconnect=False)
    pcm = kit.make_speech()
    for i in range(0, len(pcm), 960):  # until the cut
        if pair.ended:
            break
        pair.send(SendAudio(pcm=pcm[i : i + 960]))
        pair.advance(0.02)
    pair.run_until(lambda ev: any(isinstance(e, SessionEnded) for e in ev), timeout=30)
    end = pair.ended_event()
    assert end is not None and end.reason == "connection_lost" and end.close_code is None
    assert sum(isinstance(e, AgentAudio) for e in pair.events) == 1


def test_malformed_frames_become_events_and_the_session_goes_on(kit: Any) -> None:
    pair = kit.make_pair("malformed")
    pair.stream_audio(kit.make_speech(), 960)
    pair.run_until(lambda ev: any(isinstance(e, AgentAudioDone) for e in ev), timeout=30)
    codes = {e.code for e in pair.events if isinstance(e, ProviderError)}
    assert {"malformed_json", "malformed_message", "malformed_audio"} <= codes
    assert any(isinstance(e, UnknownMessage) for e in pair.events)
    assert not pair.ended


def test_server_shutdown_ends_the_session_as_completed(kit: Any) -> None:
    pair = kit.make_pair("server_shutdown")
    pair.stream_audio(kit.make_speech(), 960)
    pair.run_until(lambda ev: any(isinstance(e, SessionEnded) for e in ev), timeout=30)
    end = pair.ended_event()
    assert end is not None and end.reason == "completed" and end.close_code == 1000
    assert any(isinstance(e, AgentAudioDone) for e in pair.events)


def test_without_turn_detection_nothing_answers_until_the_commit(kit: Any) -> None:
    pair = kit.make_pair("echo", turn_detection="none")
    pair.stream_audio(kit.make_speech(), 960)
    pair.advance(5)
    assert not any(isinstance(e, AgentAudio) for e in pair.events)
    from voiceadapters.commands import EndTurn

    pair.send(EndTurn())
    pair.run_until(lambda ev: any(isinstance(e, AgentAudioDone) for e in ev), timeout=30)
    kinds = list(pair.server.client_events)
    assert kinds[-2:] == ["input_audio_buffer.commit", "response.create"]


def test_the_simulator_records_the_session_the_client_configured(kit: Any) -> None:
    pair = kit.make_pair("echo", voice="cedar", instructions="Be brief", audio_format="pcma")
    session = pair.server.session
    assert session["audio"]["output"]["voice"] == "cedar"
    assert session["audio"]["input"]["format"] == {"type": "audio/pcma"}
    assert session["instructions"] == "Be brief"
    assert pair.codec.wire_output.sample_rate == 8000
