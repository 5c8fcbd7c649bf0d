"""``vatel+webrtc://``: the codec's WebRTC mode (pure), the simulator's room
credentials, and whole sessions with the real ``livekit`` SDK against the
LiveKit room simulator on this host.

The network tests stream in real time where WebRTC does (the microphone's
``AudioSource`` paces at real time once its 1 s queue is full; the agent's
track plays in real time), so each takes a few seconds. Media flows over the
machine's non-loopback interface: aioice gathers no candidate on 127.0.0.1
(docs *Vatel over WebRTC*).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest

import voiceadapters
from voiceadapters import AudioFormat
from voiceadapters.audio import best_alignment, pcm_to_array
from voiceadapters.config import parse_config, resolve_config
from voiceadapters.errors import ConfigError, TokenRequestError, WebSocketRejected
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentText,
    Event,
    Interruption,
    SessionEnded,
    SessionStarted,
    ToolCall,
    UserTranscript,
)
from voiceadapters.handshake import HttpRequest, HttpResponse, MediaRequest, TrackAudio
from voiceadapters.simulator.base import SimRequest
from voiceadapters.simulator.server import SimulatorServer
from voiceadapters.testing import speech_sample
from voiceadapters_vatel import VatelCodec, VatelProvider, VatelSimulator
from voiceadapters_vatel.codec import DEFAULT_WEBRTC_URL, TRACK_HANGOVER
from voiceadapters_vatel.roomsim import mint_token, read_token
from voiceadapters_vatel.webrtc import INSTALL_HINT, LiveKitConnector

KEY = "sk-webrtc-test-5f1e9a"
FMT = AudioFormat(24000)
#: A structurally valid room JWT (what the codec accepts before the SDK sees it).
JWT = mint_token("APIk", "secret", identity="user-1", room="room-1", ttl=60)


def _codec(config: str = "vatel+webrtc://?agent_id=agent-1") -> VatelCodec:
    provider = VatelProvider()
    resolved = resolve_config(parse_config(config), provider, api_key=KEY, environ={})
    codec = provider.make_codec(resolved)
    assert isinstance(codec, VatelCodec)
    return codec


def _joined(body: dict[str, Any] | None = None) -> tuple[VatelCodec, MediaRequest]:
    codec = _codec()
    codec.handshake_step()
    codec.receive_http_response(HttpResponse(200, json.dumps(body or {"token": JWT}).encode()))
    step = codec.handshake_step()
    assert isinstance(step, MediaRequest)
    codec.connection_opened()
    return codec, step


def _msg(kind: str, **data: Any) -> str:
    return json.dumps({"type": kind, "data": data})


def _tone(seconds: float, amplitude: int = 8000) -> bytes:
    t = np.arange(int(seconds * 24000)) / 24000
    return (np.sin(2 * np.pi * 220 * t) * amplitude).astype("<i2").tobytes()


# -- the codec's WebRTC mode, pure ---------------------------------------------------


def test_token_request_asks_for_the_webrtc_transport() -> None:
    step = _codec().handshake_step()
    assert isinstance(step, HttpRequest)
    assert step.json == {"agent_id": "agent-1", "transport": "webrtc"}


def test_the_legacy_query_form_cannot_ask_for_webrtc() -> None:
    with pytest.raises(ConfigError, match="token_form=query"):
        _codec("vatel+webrtc://?agent_id=agent-1&token_form=query")


def test_current_credential_shape_becomes_a_media_request() -> None:
    body = {
        "token": "platform-jwt",
        "webrtc_token": JWT,
        "room": "room-1",
        "identity": "user-1",
        "url": "ws://127.0.0.1:7880",
    }
    codec, step = _joined(body)
    assert step.url == "ws://127.0.0.1:7880"
    assert step.token.reveal() == JWT  # webrtc_token wins over token
    assert isinstance(step.connector, LiveKitConnector)
    assert (step.input_format, step.output_format) == (FMT, FMT)
    assert step.option("topic") == "messages"
    assert (codec.room, codec.identity) == ("room-1", "user-1")
    assert JWT not in repr(step) and JWT not in str(step)


def test_legacy_credential_shape_and_the_default_url() -> None:
    codec, step = _joined({"token": JWT})
    assert step.token.reveal() == JWT
    assert step.url == DEFAULT_WEBRTC_URL == "wss://sip.vatel.ai"
    assert codec.room is None


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ({"token": "not-a-jwt"}, "not a LiveKit access token"),
        ({"token": "p", "webrtc_token": "a.b"}, "not a LiveKit access token"),
        ({"token": JWT, "url": "https://example.com"}, "not a ws:// or wss:// URL"),
        ({"token": JWT, "url": 7}, "not a ws:// or wss:// URL"),
        ({"room": "r"}, "without a non-empty string 'token'"),
    ],
)
def test_bad_credentials_are_refused_before_the_sdk(body: dict[str, Any], match: str) -> None:
    codec = _codec()
    codec.handshake_step()
    with pytest.raises(TokenRequestError, match=match) as caught:
        codec.receive_http_response(HttpResponse(200, json.dumps(body).encode()))
    assert caught.value.status == 200
    assert "not-a-jwt" not in str(caught.value)


def test_webrtc_not_configured_is_a_token_error() -> None:
    codec = _codec()
    codec.handshake_step()
    body = b'{"error": "WebRTC transport is not configured on this server"}'
    with pytest.raises(TokenRequestError, match="not configured") as caught:
        codec.receive_http_response(HttpResponse(503, body))
    assert caught.value.status == 503


def test_messages_are_the_websocket_ones_and_response_audio_is_dropped() -> None:
    codec, _ = _joined()
    audio = "AAAAAAAA"
    for frame in (
        _msg("session_started", id="s-1"),
        _msg("response_text", turn_id="t-1", text="Hi", is_final=True),
        _msg("response_audio", turn_id="t-1", audio=audio, is_final=True),
        _msg("tool_call", toolCallId="c-1", toolName="f", arguments=[]),
    ):
        codec.receive_frame(frame)
    events = codec.events_received()
    assert [type(e) for e in events] == [SessionStarted, AgentText, ToolCall]


def test_track_audio_is_delimited_into_turns() -> None:
    codec, _ = _joined()
    codec.receive_frame(_msg("response_text", turn_id="t-7", text="Hello", is_final=True))
    codec.events_received()
    silence = bytes(960)
    codec.receive_track_audio(silence)  # the track between utterances
    assert codec.events_received() == []
    loud = _tone(0.02)
    codec.receive_track_audio(loud)
    codec.receive_track_audio(loud)
    events = codec.events_received()
    assert [e.pcm for e in events if isinstance(e, AgentAudio)] == [loud, loud]
    assert all(e.turn_id == "t-7" and e.format == FMT for e in events if isinstance(e, AgentAudio))
    quiet_frames = int(TRACK_HANGOVER / 0.02)
    for _ in range(quiet_frames):
        codec.receive_track_audio(silence)
    events = codec.events_received()
    assert isinstance(events[-1], AgentAudioDone) and events[-1].turn_id == "t-7"
    assert sum(len(e.pcm) for e in events if isinstance(e, AgentAudio)) == 960 * quiet_frames
    codec.receive_track_audio(silence)
    assert codec.events_received() == []


def test_interruption_fences_the_spoken_turn() -> None:
    codec, _ = _joined()
    codec.receive_frame(_msg("response_text", turn_id="t-1", text="Long answer", is_final=True))
    codec.receive_track_audio(_tone(0.02))
    codec.receive_frame(_msg("interruption"))
    codec.receive_track_audio(_tone(0.02))  # still on the way: dropped
    for _ in range(20):
        codec.receive_track_audio(bytes(960))
    events = codec.events_received()
    assert [type(e) for e in events] == [AgentText, AgentAudio, Interruption]
    assert events[2].turn_id == "t-1"


def test_commands_become_track_audio_and_text_streams() -> None:
    codec, _ = _joined()
    pcm = _tone(0.02)
    codec.handle_command(voiceadapters.commands.SendAudio(pcm=pcm))
    codec.handle_command(voiceadapters.commands.SendToolResult(call_id="c-1", output="ok"))
    frames = codec.frames_to_send()
    assert frames[0] == TrackAudio(pcm)
    assert json.loads(str(frames[1])) == {
        "type": "tool_call_output",
        "data": {"toolCallId": "c-1", "output": "ok"},
    }


@pytest.mark.parametrize(
    ("code", "reason", "end", "resumable"),
    [
        (None, "AGENT_LEFT", "completed", False),
        (None, "ROOM_DELETED", "server_shutdown", False),
        (None, "SERVER_SHUTDOWN", "server_shutdown", False),
        (None, "DUPLICATE_IDENTITY", "error", False),
        (None, "SIGNAL_LOST", "connection_lost", True),
        (1000, "CLIENT_INITIATED", "client_closed", False),
    ],
)
def test_room_ends_are_normalized(code: int | None, reason: str, end: str, resumable: bool) -> None:
    codec, _ = _joined()
    codec.receive_closed(code, reason)
    (ended,) = codec.events_received()
    assert isinstance(ended, SessionEnded)
    assert (ended.reason, ended.provider_reason, ended.close_code) == (end, reason, code)
    assert codec.resumable is resumable


def test_room_tokens_expire() -> None:
    token = mint_token("APIk", "s3", identity="u", room="r", ttl=-1)
    with pytest.raises(ValueError, match="expired"):
        read_token(token, "s3")
    with pytest.raises(ValueError, match="signature"):
        read_token(mint_token("APIk", "other", identity="u", room="r", ttl=60), "s3")
    assert read_token(mint_token("APIk", "s3", identity="u", room="r", ttl=60), "s3")["sub"] == "u"


# -- the missing extra ----------------------------------------------------------------


def test_a_missing_livekit_package_names_the_extra() -> None:
    """With ``livekit.rtc`` unimportable, joining raises ConfigError with the
    install command: through the whole session API, against the served
    simulator (whose room server needs only livekit.protocol and aiortc)."""
    script = """
import asyncio, sys
sys.modules["livekit.rtc"] = None  # the import fails, as without the package
import voiceadapters
from voiceadapters.errors import ConfigError
from voiceadapters.testing import serve_simulator

async def main():
    async with serve_simulator("vatel+webrtc", api_key="k") as (_, config, _sim):
        try:
            await voiceadapters.connect(config, api_key="k")
        except ConfigError as exc:
            print("ConfigError:", exc)
            return
    print("connected without livekit?")

asyncio.run(main())
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "ConfigError: vatel+webrtc needs the livekit package" in done.stdout
    assert INSTALL_HINT in done.stdout


def test_the_room_simulator_without_its_extra_names_it(tmp_path: Any) -> None:
    """``voiceadapters demo vatel+webrtc`` without aiortc: a one-line error
    naming the ``webrtc-sim`` extra, exit status 2, no traceback."""
    script = f"""
import sys
sys.modules["aiortc"] = None  # the import fails, as without the package
from voiceadapters.cli import main
sys.exit(main(["demo", "vatel+webrtc", "--fast", "--output-dir", {str(tmp_path)!r}]))
"""
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "pip install 'voiceadapters-vatel[webrtc-sim]'" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.network
def test_the_demo_runs_over_webrtc_with_the_extra_installed(tmp_path: Any) -> None:
    """``voiceadapters demo vatel+webrtc`` (issue 12): the turn through the
    livekit SDK and the room simulator, the agent's audio written, exit 0.
    ``--fast`` is refused politely: tracks play in real time, and a session
    streamed "fast" closed while the echo was still playing (0.68 s of 2.8 s)."""
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "voiceadapters",
            "demo",
            "vatel+webrtc",
            "--fast",
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "--fast has no effect over vatel+webrtc" in done.stdout
    from voiceadapters.audio import read_wav

    agent, fmt = read_wav(tmp_path / "demo-vatel+webrtc-agent.wav")
    assert fmt.duration(len(agent)) > 2.0  # the whole echo of the 2.8 s sample came back
    events = [
        json.loads(line)
        for line in (tmp_path / "demo-vatel+webrtc-events.jsonl").read_text().splitlines()
    ]
    assert events[0]["type"] == "session_started" and events[-1]["type"] == "session_ended"
    assert "agent_audio" in {e["type"] for e in events}
    assert "Traceback" not in done.stderr


# -- the simulator's token endpoint ---------------------------------------------------


def test_the_simulator_refuses_webrtc_without_a_room_server() -> None:
    sim = VatelSimulator(KEY, transport="webrtc")  # its room service is not running
    codec = _codec(f"vatel+webrtc://?agent_id={sim.agent_id}")
    step = codec.handshake_step()
    assert isinstance(step, HttpRequest)
    response = sim.handle_http(SimRequest.from_http(step), 0.0)
    assert response.status == 503
    assert "not configured" in response.error_message()


def test_unknown_simulator_options_are_refused() -> None:
    with pytest.raises(ValueError, match="transport"):
        VatelSimulator(KEY, transport="carrier-pigeon")
    with pytest.raises(ValueError, match="webrtc_credentials"):
        VatelSimulator(KEY, transport="webrtc", webrtc_credentials="newest")


# -- whole sessions with the real livekit SDK ------------------------------------------


@contextlib.asynccontextmanager
async def _serve(sim: VatelSimulator) -> AsyncIterator[tuple[SimulatorServer, str]]:
    async with SimulatorServer(sim) as server:
        yield server, VatelProvider().simulator_config("127.0.0.1", server.port, sim)


async def _until(
    session: Any, events: list[Event], done: Callable[[Event], bool], timeout: float = 15.0
) -> Event:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while True:
        event = await session.next_event(timeout=max(0.0, end - loop.time()))
        assert event is not None, f"the session ended early: {events[-3:]}"
        events.append(event)
        if done(event):
            return event


async def _stream(session: Any, pcm: bytes, frame: int = 960) -> None:
    for i in range(0, len(pcm), frame):
        await session.send_audio(pcm[i : i + frame])


def _envelope(x: np.ndarray, rate: int = 24000) -> np.ndarray:
    n = rate // 100  # 10 ms RMS
    x = x[: len(x) // n * n].astype(np.float64).reshape(-1, n)
    return np.sqrt((x**2).mean(axis=1))


def _envelope_corr(reference: np.ndarray, signal: np.ndarray) -> float:
    """Pearson correlation of the 10 ms RMS envelopes, at the envelope lag
    that correlates best (not the waveform's, which Opus may not keep)."""
    ea, eb = _envelope(reference), _envelope(signal)
    best = -1.0
    for lag in range(-len(ea) + 10, len(eb) - 10):
        a = ea[max(0, -lag) :]
        b = eb[max(0, lag) :]
        n = min(len(a), len(b), len(ea))
        if n >= 10 and a[:n].std() > 0 and b[:n].std() > 0:
            best = max(best, float(np.corrcoef(a[:n], b[:n])[0, 1]))
    return best


def _spectrum_corr(reference: np.ndarray, signal: np.ndarray) -> float:
    """Correlation of the two log-magnitude spectra (Welch, 20 ms segments), 50 Hz–10 kHz."""

    def spectrum(x: np.ndarray) -> np.ndarray:
        n = 480
        x = x[: len(x) // n * n].astype(np.float64).reshape(-1, n) * np.hanning(n)
        return np.log10((np.abs(np.fft.rfft(x, axis=1)) ** 2).mean(axis=0) + 1e-3)

    a, b = spectrum(reference), spectrum(signal)
    band = slice(1, 200)  # 50 Hz bins at 24 kHz: 50 Hz to 10 kHz
    return float(np.corrcoef(a[band], b[band])[0, 1])


@pytest.mark.network
async def test_a_whole_turn_with_the_livekit_sdk(speech: Any) -> None:
    """Speech → transcripts → the agent's echo on its track → a tool call
    round trip → a clean end, with the real SDK against the room simulator.

    Fidelity. The test signal (harmonics of 140 Hz under a syllable
    envelope) does not keep its waveform through Opus — measured: each leg
    0.91, the whole echo 0.67 cross-correlation — so, as for a codec that
    keeps what is heard rather than the samples, the echo is compared by its
    energy envelope (10 ms RMS, Pearson, over the voiced part only) and its
    long-term log spectrum, with the input and with the simulator's ground
    truth (what its agent spoke, ``spoken``): measured 0.91 and 0.999 on an
    idle machine; asserted >= 0.5 (timing-sensitive, see below) and >= 0.95.
    (A signal whose waveform survives: next test.)"""
    sim = VatelSimulator(KEY, scenario="tool_call", pace=0.0, transport="webrtc")
    events: list[Event] = []
    async with _serve(sim) as (_, config):
        session = await voiceadapters.connect(
            config, api_key=KEY, input_format=FMT, output_format=FMT
        )
        async with session:
            first = await _until(session, events, lambda e: True)
            assert isinstance(first, SessionStarted) and first.session_id
            sender = asyncio.ensure_future(_stream(session, speech.pcm))
            call = await _until(session, events, lambda e: isinstance(e, ToolCall))
            assert isinstance(call, ToolCall) and call.name == "lookup_utterance"
            await session.send_tool_result(call.call_id, '{"found": true}')
            await _until(session, events, lambda e: isinstance(e, AgentAudioDone))
            await sender
            ended = await session.close()
        assert ended.reason == "client_closed"
    finals = [e for e in events if isinstance(e, UserTranscript) and e.final]
    assert finals and finals[-1].text.startswith("[")
    texts = [e for e in events if isinstance(e, AgentText) and e.final]
    assert texts[-1].text.startswith('The tool said {"found": true}.')
    conn = sim.connections[-1]
    assert list(conn.tool_outputs) == [(call.call_id, '{"found": true}')]
    got = pcm_to_array(b"".join(e.pcm for e in events if isinstance(e, AgentAudio)))
    assert all(e.turn_id == texts[-1].turn_id for e in events if isinstance(e, AgentAudio))
    assert conn.agent is not None
    spoken = pcm_to_array(bytes(conn.agent.spoken))
    sent = pcm_to_array(speech.pcm[speech.voiced_start : speech.voiced_end])
    for reference in (sent, spoken):
        # Idle machine: 0.91 and 0.999. Under other processes' load the SDK's
        # jitter buffer stretches time and the envelope figure fell to 0.63
        # once; the long-term spectrum does not depend on timing.
        assert _envelope_corr(reference, got) >= 0.5
        assert _spectrum_corr(reference, got) >= 0.95
    voiced = (speech.voiced_end - speech.voiced_start) / 2
    assert 0.9 * voiced <= len(got) <= voiced + 24000 * (TRACK_HANGOVER + 0.3)


@pytest.mark.network
async def test_a_voiced_tone_keeps_its_waveform() -> None:
    """A 300 Hz tone under a 3 Hz envelope comes back through both Opus legs
    with waveform cross-correlation >= 0.9 (measured 0.998)."""
    t = np.arange(24000) / 24000
    tone = np.sin(2 * np.pi * 300 * t) * np.sin(2 * np.pi * 3 * t) * 9000
    pcm = tone.astype("<i2").tobytes()
    sim = VatelSimulator(KEY, scenario="echo", pace=0.0, transport="webrtc")
    events: list[Event] = []
    async with _serve(sim) as (_, config):
        session = await voiceadapters.connect(
            config, api_key=KEY, input_format=FMT, output_format=FMT
        )
        async with session:
            await _until(session, events, lambda e: isinstance(e, SessionStarted))
            await _stream(session, pcm + bytes(FMT.bytes_for(1.2)))
            await _until(session, events, lambda e: isinstance(e, AgentAudioDone))
    got = pcm_to_array(b"".join(e.pcm for e in events if isinstance(e, AgentAudio)))
    _, ncc = best_alignment(pcm_to_array(pcm), got)
    assert ncc >= 0.9, ncc


@pytest.mark.network
async def test_echo_of_real_speech_keeps_its_envelope() -> None:
    """The bundled speech sample through both Opus legs. Waveform
    cross-correlation: 0.86–0.89 on an idle machine (conformance 3.7–3.9
    report it as non-strict), but 0.71 once measured under the whole test
    suite's load — the SDK's jitter buffer (libwebrtc NetEq) stretches time
    when packets arrive late, which a single-lag correlation punishes — so it
    is only a sanity bound here (>= 0.5), as is the energy envelope (0.94
    idle, >= 0.5); the long-term spectrum, which timing does not change, is
    asserted >= 0.95."""
    pcm, fmt = speech_sample()
    sim = VatelSimulator(KEY, scenario="echo", pace=0.0, transport="webrtc")
    events: list[Event] = []
    async with _serve(sim) as (_, config):
        session = await voiceadapters.connect(
            config, api_key=KEY, input_format=fmt, output_format=fmt
        )
        async with session:
            await _until(session, events, lambda e: isinstance(e, SessionStarted))
            await _stream(session, pcm + bytes(fmt.bytes_for(1.0)), fmt.bytes_for(0.02))
            await _until(session, events, lambda e: isinstance(e, AgentAudioDone), 20)
    got = pcm_to_array(b"".join(e.pcm for e in events if isinstance(e, AgentAudio)))
    ref = pcm_to_array(pcm)
    _, ncc = best_alignment(ref, got)
    assert ncc >= 0.5, ncc  # the same speech (measured 0.71 on a loaded machine)
    assert _envelope_corr(ref, got) >= 0.5
    assert _spectrum_corr(ref, got) >= 0.95


@pytest.mark.network
@pytest.mark.parametrize("shape", ["legacy", "current"])
async def test_both_credential_shapes_join_and_no_secret_is_logged(
    shape: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Every log record of the session, DEBUG included and the livekit SDK's
    and aiortc's too, holds neither the API key nor a token."""
    sim = VatelSimulator(KEY, pace=0.0, transport="webrtc", webrtc_credentials=shape)
    with caplog.at_level(logging.DEBUG):
        async with _serve(sim) as (_, config):
            async with await voiceadapters.connect(config, api_key=KEY) as session:
                event = await session.next_event(timeout=10)
                assert isinstance(event, SessionStarted)
            assert session.ended is not None and session.ended.reason == "client_closed"
    assert len(caplog.records) > 10
    assert KEY not in caplog.text
    assert not any(token in caplog.text for token in sim.grants)
    assert not re.search(r"eyJ[\w-]+\.[\w-]+\.[\w-]+", caplog.text)  # no JWT


@pytest.mark.network
async def test_webrtc_not_configured_is_a_503() -> None:
    sim = VatelSimulator(KEY)  # a websocket-only deployment
    async with SimulatorServer(sim) as server:
        config = f"vatel+webrtc://127.0.0.1:{server.port}?tls=false&agent_id={sim.agent_id}"
        with pytest.raises(TokenRequestError, match="not configured") as caught:
            await voiceadapters.connect(config, api_key=KEY)
    assert caught.value.status == 503


@pytest.mark.network
async def test_an_expired_room_token_is_refused() -> None:
    sim = VatelSimulator(KEY, transport="webrtc", room_token_ttl=-30)
    async with _serve(sim) as (_, config):
        with pytest.raises(WebSocketRejected) as caught:
            await voiceadapters.connect(config, api_key=KEY, reconnect=False)
        assert caught.value.status == 401
        assert sim.room_server is not None
        assert sim.room_server.refused == ["invalid token: token is expired"]


async def _ended_by(action: Callable[[Any], None]) -> SessionEnded:
    sim = VatelSimulator(KEY, pace=0.0, transport="webrtc")
    async with _serve(sim) as (_, config):
        async with await voiceadapters.connect(config, api_key=KEY, reconnect=False) as session:
            assert isinstance(await session.next_event(timeout=10), SessionStarted)
            assert sim.room_server is not None
            action(sim.room_server.rooms[-1])
            while True:
                event = await session.next_event(timeout=10)
                assert event is not None
                if isinstance(event, SessionEnded):
                    return event


@pytest.mark.network
async def test_the_agent_leaving_ends_the_session() -> None:
    ended = await _ended_by(lambda room: room.agent_leave())
    assert (ended.reason, ended.provider_reason) == ("completed", "AGENT_LEFT")


@pytest.mark.network
async def test_the_room_closing_ends_the_session() -> None:
    ended = await _ended_by(lambda room: room.close())
    assert (ended.reason, ended.provider_reason) == ("server_shutdown", "ROOM_DELETED")
    assert ended.close_code is None


@pytest.mark.network
async def test_a_lost_room_connection_is_connection_lost() -> None:
    ended = await _ended_by(lambda room: room.drop())
    assert (ended.reason, ended.provider_reason) == ("connection_lost", "SIGNAL_LOST")


@pytest.mark.network
async def test_the_agent_ending_the_session_is_completed() -> None:
    sim = VatelSimulator(KEY, scenario="server_shutdown", pace=0.0, transport="webrtc")
    events: list[Event] = []
    async with _serve(sim) as (_, config):
        session = await voiceadapters.connect(
            config, api_key=KEY, input_format=FMT, output_format=FMT
        )
        async with session:
            await _until(session, events, lambda e: isinstance(e, SessionStarted))
            await _stream(session, make_tone_speech())
            ended = await _until(session, events, lambda e: isinstance(e, SessionEnded), 20)
    assert isinstance(ended, SessionEnded) and ended.reason == "completed"


def make_tone_speech() -> bytes:
    return _tone(1.0) + bytes(FMT.bytes_for(1.2))


def test_interruption_in_a_pause_names_and_fences_the_turn() -> None:
    codec, _ = _joined()
    codec.receive_frame(_msg("response_text", turn_id="t-1", text="First part", is_final=True))
    codec.receive_track_audio(_tone(0.02))
    for _ in range(int(TRACK_HANGOVER / 0.02)):
        codec.receive_track_audio(bytes(960))  # a pause: the speech segment ends
    codec.events_received()
    codec.receive_frame(_msg("interruption"))
    (interruption,) = codec.events_received()
    assert isinstance(interruption, Interruption) and interruption.turn_id == "t-1"
    codec.receive_track_audio(_tone(0.02))  # the turn's audio resuming: fenced
    assert codec.events_received() == []
    codec.receive_frame(_msg("response_text", turn_id="t-2", text="Yes?", is_final=True))
    codec.receive_track_audio(_tone(0.02))  # the next turn follows at once
    events = codec.events_received()
    assert [(type(e), e.turn_id) for e in events] == [(AgentText, "t-2"), (AgentAudio, "t-2")]
