"""Cassettes (issue 15 part 1): the format, scrubbing, recording through the
transport seam, replay against the recording, and the CLI.

Every network test runs on 127.0.0.1 against a real simulator or a real
:class:`CassetteServer`, bounded in time, faster than real time. Every test
that writes a cassette scans it for the key and the tokens of its session
(:func:`scan`); ``test_no_shipped_cassette_holds_a_secret`` scans the ones
the plugins ship.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest

import voiceadapters
from voiceadapters.cassette import (
    MARKER,
    CassetteError,
    CassetteServer,
    Recorder,
    find_secrets,
    load,
    replay,
)
from voiceadapters.cassette.format import FORMAT_NAME, FORMAT_VERSION, parse_lines
from voiceadapters.cassette.scrub import Scrubber, find_audio, is_secret_name
from voiceadapters.cassette.tools import record_simulator
from voiceadapters.cli import main
from voiceadapters.errors import AuthenticationError
from voiceadapters.events import SCHEMA_VERSION
from voiceadapters.testing import serve_simulator

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk-cassette-test-key-4f9a2c"
#: The key tools/record_cassettes.py records the shipped cassettes with.
SHIPPED_KEY = "sk-cassette-simulator-key-0001"
PROVIDERS = ["vatel", "binary-pcm", "nextevi", "example", "deepgram", "openai"]


#: Every secret of every session recorded by this module (keys, issued tokens).
SEEN_SECRETS: set[str] = {KEY, SHIPPED_KEY}


def scan(path: Path, secrets: tuple[str, ...] | list[str]) -> None:
    """No key, no issued token in the cassette at ``path``."""
    SEEN_SECRETS.update(secrets)
    leaked = find_secrets(path, secrets)
    assert not leaked, f"{path} holds secrets: {leaked}"


@pytest.fixture(scope="module", autouse=True)
def every_written_cassette_is_scanned(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """After the module: every cassette any test wrote under the session's
    temporary directory, scanned for every key and token any test's session
    used (a token issued in one test must not be in another's file either)."""
    yield
    base = tmp_path_factory.getbasetemp()
    for path in base.rglob("*.jsonl"):
        with path.open(encoding="utf-8", errors="replace") as f:
            if FORMAT_NAME not in f.readline():
                continue
        leaked = find_secrets(path, sorted(SEEN_SECRETS))
        assert not leaked, f"{path} holds secrets: {leaked}"


def run(coro: Any) -> Any:
    return asyncio.run(coro)


def lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- recording and replaying every first-party simulator ----------------------------------


@pytest.mark.network
@pytest.mark.parametrize(
    ("provider", "audio"),
    [
        ("vatel", "truncate"),
        ("binary-pcm", "marker"),
        ("nextevi", "keep"),
        ("example", "keep"),
        ("deepgram", "truncate"),
        ("openai", "truncate"),
    ],
)
def test_a_recorded_simulator_session_replays_with_the_same_events(
    provider: str, audio: str, tmp_path: Path
) -> None:
    path = tmp_path / f"{provider}.jsonl"
    secrets = run(record_simulator(provider, path, api_key=KEY, audio=audio, seconds=1.2))
    scan(path, secrets)
    cassette = load(path)
    header = cassette.header
    assert header["cassette"] == FORMAT_NAME and header["version"] == FORMAT_VERSION
    assert header["schema_version"] == SCHEMA_VERSION
    assert header["core_version"] == voiceadapters.__version__
    assert header["provider"] == provider and header["audio"] == audio
    assert KEY not in header["config"]
    events = cassette.events()
    kinds = [e["event"]["type"] for e in events]
    assert kinds[0] == "session_started" and kinds[-1] == "session_ended"
    assert "agent_audio" in kinds
    report = run(replay(cassette, timeout=30))
    assert report.ok, "\n".join(report.lines())
    assert report.events == len(events)
    assert report.server_messages == len([m for m in cassette.messages() if m.direction == "recv"])


@pytest.mark.network
def test_an_edited_server_message_is_reported_with_its_field(tmp_path: Path) -> None:
    path = tmp_path / "vatel.jsonl"
    secrets = run(record_simulator("vatel", path, api_key=KEY, seconds=1.2, audio="marker"))
    scan(path, secrets)
    edited = tmp_path / "edited.jsonl"
    out, line_number = [], 0
    for number, line in enumerate(path.read_text().splitlines(), 1):
        data = json.loads(line)
        if not line_number and data.get("k") == "recv" and "input_audio_transcript" in data["text"]:
            message = json.loads(data["text"])
            message["data"]["transcript"] = "an edited transcript"
            data["text"] = json.dumps(message)
            line_number = number
        out.append(json.dumps(data))
    edited.write_text("\n".join(out) + "\n")
    report = run(replay(load(edited), timeout=30))
    assert not report.ok
    (difference,) = report.differences
    assert f"line {line_number}" in difference.where and "server message" in difference.where
    assert difference.field == "text"
    assert difference.actual == "an edited transcript"
    assert "$.data.transcript" in difference.note
    assert f"line {line_number}" in str(difference) and "$.data.transcript" in str(difference)


@pytest.mark.network
def test_an_edited_client_message_is_reported_by_the_server_with_its_json_path(
    tmp_path: Path,
) -> None:
    """The recorded first message is {"token": …}; a cassette expecting
    another field makes the server name that message and the field."""
    path = tmp_path / "bp.jsonl"
    secrets = run(record_simulator("binary-pcm", path, api_key=KEY, seconds=0.6))
    scan(path, secrets)
    text = path.read_text().replace(
        '"text": "{\\"token\\": \\"REDACTED\\"}"',
        '"text": "{\\"token\\": \\"REDACTED\\", \\"kiosk\\": \\"k-1\\"}"',
    )
    edited = tmp_path / "edited.jsonl"
    edited.write_text(text)
    report = run(replay(load(edited), timeout=30))
    (difference,) = report.differences
    assert difference.where.startswith("client message #1 (connection 1")
    assert difference.field == "$.kiosk"
    assert difference.expected == "k-1" and difference.actual == "(absent)"


@pytest.mark.network
def test_a_reconnecting_session_is_recorded_and_replayed_connection_by_connection(
    tmp_path: Path,
) -> None:
    """Vatel's ``drop`` scenario cuts the connection; the session reconnects
    with a fresh token. Both connections and both handshakes are recorded,
    and the replay serves them in turn (the drop as a dropped TCP connection)."""
    path = tmp_path / "drop.jsonl"
    # The reconnect's backoff (full jitter, up to 0.5 s for a connection that
    # died young) is silence: wait long enough not to end the session in it.
    secrets = run(
        record_simulator("vatel", path, api_key=KEY, scenario="drop", seconds=2.5, idle_timeout=4.0)
    )
    scan(path, secrets)
    cassette = load(path)
    steps = [
        line["k"] for line in cassette.lines if line["k"] in ("http_request", "ws_open", "closed")
    ]
    assert steps == ["http_request", "ws_open", "closed", "http_request", "ws_open", "closed"]
    assert [c.conn for c in cassette.connections()] == [1, 2]
    assert cassette.connections()[0].lines[-1]["code"] is None  # dropped
    report = run(replay(cassette, timeout=30))
    assert report.ok, "\n".join(report.lines())


# -- the format -----------------------------------------------------------------------------


HEADER = json.dumps({"cassette": FORMAT_NAME, "version": FORMAT_VERSION, "provider": "example"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ('{"k": "ws_open", "conn": 1}\n', "the first line must be the header"),
        ('{"cassette": "voiceadapters-cassette", "version": 2}\n', "format version 2"),
        (HEADER + "\nnot json\n", "line 2: not JSON"),
        (HEADER + "\n[1, 2]\n", "line 2: each line must be a JSON object"),
        (HEADER + '\n{"t": 1}\n', "needs a 'k'"),
        (HEADER + '\n{"k": "send", "conn": 1, "n": 1, "type": "video"}\n', "'type' must be"),
        (HEADER + '\n{"k": "recv", "conn": 1, "type": "text", "text": "x"}\n', "integer 'n'"),
        (
            HEADER + '\n{"k": "recv", "conn": 1, "n": 1, "type": "binary", "binary": "!!"}\n',
            "invalid base64",
        ),
        (
            HEADER + '\n{"k": "recv", "conn": 1, "n": 1, "type": "binary", "bytes": 1, '
            '"binary": "AAAA"}\n',
            "'bytes' must be",
        ),
        (HEADER + '\n{"k": "closed"}\n', "integer 'conn'"),
    ],
)
def test_a_bad_cassette_is_a_cassette_error_naming_the_line(text: str, message: str) -> None:
    with pytest.raises(CassetteError, match=message):
        parse_lines(text.splitlines())


def test_load_errors_are_cassette_errors(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="cannot read cassette"):
        load(tmp_path / "missing.jsonl")
    (tmp_path / "bin.jsonl").write_bytes(b"\xff\xfe")
    with pytest.raises(CassetteError, match="not UTF-8"):
        load(tmp_path / "bin.jsonl")
    assert issubclass(CassetteError, voiceadapters.VoiceAdaptersError)


def test_events_compare_every_recorded_field_but_time_stamps() -> None:
    from voiceadapters.cassette.compare import compare_events

    recorded = [{"event": {"type": "agent_text", "text": "hi", "received_at": 1.0}}]
    replayed = [{"event": {"type": "agent_text", "text": "hi", "received_at": 2.0, "new": 1}}]
    assert compare_events(recorded, replayed) == []
    replayed[0]["event"]["text"] = "ho"
    (difference,) = compare_events(recorded, replayed)
    assert difference.field == "text" and (difference.expected, difference.actual) == ("hi", "ho")
    audio = {"type": "agent_audio", "bytes": 640, "sample_rate": 16000, "channels": 1}
    near, far = dict(audio, bytes=1000), dict(audio, bytes=1400)
    assert compare_events([{"event": audio}], [{"event": near}]) == []  # within one frame
    assert compare_events([{"event": audio}], [{"event": far}])[0].field == "bytes"


def test_a_bad_pace_is_refused() -> None:
    with pytest.raises(ValueError, match="pace must be"):
        CassetteServer(parse_lines([HEADER]), pace="slow")


def test_unknown_line_kinds_and_keys_are_ignored() -> None:
    cassette = parse_lines(
        [HEADER, '{"k": "comment", "text": "hello"}', '{"k": "future", "x": 1, "conn": 1}']
    )
    assert cassette.connections() == [] and cassette.events() == []


def test_a_bad_audio_policy_is_refused(tmp_path: Path) -> None:
    with pytest.raises(CassetteError, match="keep, truncate, marker"):
        Recorder(tmp_path / "x.jsonl", audio="drop")
    with pytest.raises(CassetteError, match="cannot write cassette"):
        Recorder(tmp_path / "no" / "such" / "dir.jsonl")


def test_marked_and_truncated_audio_replays_as_silence_of_the_recorded_length() -> None:
    kept = base64.b64encode(b"\x01\x02").decode()
    cassette = parse_lines(
        [
            HEADER,
            '{"k": "ws_open", "conn": 1, "url": "ws://h/x"}',
            '{"k": "recv", "conn": 1, "n": 1, "type": "binary", "bytes": 6, "binary": "AQI="}',
            '{"k": "recv", "conn": 1, "n": 2, "type": "text", "text": "{\\"a\\": {\\"audio\\": '
            '\\"<audio: 4 bytes>\\"}}", "audio": [{"path": ["a", "audio"], "bytes": 4, '
            f'"kept": "{kept}"' + "}]}",
        ]
    )
    binary, text = cassette.messages()
    assert binary.payload() == b"\x01\x02\x00\x00\x00\x00"
    assert json.loads(text.payload()) == {
        "a": {"audio": base64.b64encode(b"\x01\x02\0\0").decode()}
    }


# -- scrubbing --------------------------------------------------------------------------------


def test_the_scrubber_masks_known_secrets_in_every_form() -> None:
    scrub = Scrubber()
    scrub.learn("Bearer key+with/odd=chars", "abc")  # "abc": too short to mask
    assert "key+with/odd=chars" in scrub.secrets
    text = "k=key%2Bwith%2Fodd%3Dchars plus key+with/odd=chars and key%2Bwith%2Fodd%3Dchars abc"
    assert scrub.text(text) == f"k={MARKER} plus {MARKER} and {MARKER} abc"


def test_headers_queries_and_bodies_lose_their_credentials() -> None:
    scrub = Scrubber()
    assert scrub.header("Authorization", "Bearer xyz123") == f"Bearer {MARKER}"
    assert scrub.header("api-key", "xyz123") == MARKER
    assert scrub.header("X-Goog-Api-Key", "xyz123") == MARKER
    assert scrub.header("Content-Type", "application/json") == "application/json"
    url = scrub.url(
        "wss://h/p?token=t0k3n&X-Amz-Signature=abcd1234&sig=s1gn4ture&voice=polly&api_key=k3y9"
    )
    query = dict(parse_qsl(urlsplit(url).query))
    assert query == {
        "token": MARKER,
        "X-Amz-Signature": MARKER,
        "sig": MARKER,
        "voice": "polly",
        "api_key": MARKER,
    }
    body = scrub.body_json(
        {
            "token": "jwt-issued-1",
            "client_secret": {"value": "ek_123456", "expires_at": 1},
            "ws_url": "wss://h/ws?auth=signed-999",
            "agent_id": "a-1",
        }
    )
    assert body == {
        "token": MARKER,
        "client_secret": {"value": MARKER, "expires_at": 1},
        "ws_url": f"wss://h/ws?auth={MARKER}",
        "agent_id": "a-1",
    }
    # Learned: the issued values are masked wherever they appear later.
    text, _ = scrub.message_text('{"type": "hello", "note": "jwt-issued-1 ek_123456 signed-999"}')
    assert "jwt-issued-1" not in text and "ek_123456" not in text and "signed-999" not in text
    assert is_secret_name("session_token") and not is_secret_name("voice")


def test_message_fields_named_like_credentials_are_scrubbed_and_learned() -> None:
    scrub = Scrubber()
    text, audio = scrub.message_text('{"token": "first-message-token", "turn_key": "k1"}')
    assert json.loads(text) == {"token": MARKER, "turn_key": "k1"} and audio == ()
    assert scrub.text("again first-message-token") == f"again {MARKER}"


def test_audio_is_found_by_declared_path_or_by_the_heuristic() -> None:
    audio = base64.b64encode(bytes(300)).decode()
    message = {"type": "x", "data": {"audio": audio, "text": "hello there"}, "delta": audio}
    assert find_audio(message, ("data.audio",)) == [(("data", "audio"), 300)]
    found = dict(find_audio(message))
    assert found == {("data", "audio"): 300}  # "delta" is not an audio-ish key, and short
    long = base64.b64encode(bytes(900)).decode()
    assert find_audio({"delta": long}) == [(("delta",), 900)]
    assert find_audio({"audio": "not base64!"}) == []


def test_a_declared_path_qualified_by_a_message_type_is_audio_only_in_that_type() -> None:
    # "delta" is audio in one message type and text in others (OpenAI
    # Realtime); a text delta that happens to be valid base64 ("Sure") stays text.
    declared = ("audio.delta:delta", "mic:data.*.audio")
    audio = base64.b64encode(bytes(300)).decode()
    assert find_audio({"type": "audio.delta", "delta": audio}, declared) == [(("delta",), 300)]
    assert find_audio({"type": "transcript.delta", "delta": "Sure"}, declared) == []
    assert find_audio({"type": "transcript.delta", "delta": audio}, declared) == []
    assert find_audio({"type": "mic", "data": [{"audio": audio}]}, declared) == [
        (("data", 0, "audio"), 300)
    ]
    assert find_audio({"delta": audio}, declared) == []  # no type: no qualified path applies
    for policy in ("truncate", "marker"):
        scrub = Scrubber(audio=policy, audio_fields=declared)
        text = json.dumps({"type": "transcript.delta", "delta": "Sure"})
        assert scrub.message_text(text) == (text, ())
        text, (entry,) = scrub.message_text(json.dumps({"type": "audio.delta", "delta": audio}))
        assert json.loads(text)["delta"] == "<audio: 300 bytes>" and entry.size == 300


@pytest.mark.parametrize("policy", ["keep", "truncate", "marker"])
def test_the_audio_policy_applies_to_binary_frames_and_json_audio(policy: str) -> None:
    scrub = Scrubber(audio=policy, audio_fields=("data.audio",))
    pcm = bytes(range(256))
    kept = scrub.binary(pcm)
    assert kept == {"keep": pcm, "truncate": pcm[:64], "marker": b""}[policy]
    text, audio = scrub.message_text(
        json.dumps({"type": "a", "data": {"audio": base64.b64encode(pcm).decode()}})
    )
    if policy == "keep":
        assert audio == () and base64.b64encode(pcm).decode() in text
    else:
        (entry,) = audio
        assert entry.path == ("data", "audio") and entry.size == 256
        assert entry.kept == (pcm[:64] if policy == "truncate" else b"")
        assert json.loads(text)["data"]["audio"] == "<audio: 256 bytes>"


# -- connect(record=...) ----------------------------------------------------------------------


@pytest.mark.network
async def test_connect_record_writes_the_session_and_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    async with serve_simulator("example", api_key=KEY) as (_, config, _sim):
        async with voiceadapters.connect(config, api_key=KEY, record=path) as session:
            await session.send_audio(bytes(640))
            event = await session.next_event(timeout=5)
            assert event is not None and event.type == "session_started"
    kinds = [line.get("k") for line in lines(path)]
    assert kinds[:2] == [None, "ws_open"] and kinds[-1] == "end"
    assert {"send", "recv", "event", "close", "closed"} <= set(kinds)
    ws_open = lines(path)[1]
    assert ws_open["headers"]["Authorization"] == f"Bearer {MARKER}"
    scan(path, [KEY])


@pytest.mark.network
async def test_a_refused_handshake_is_recorded_without_the_key(tmp_path: Path) -> None:
    path = tmp_path / "refused.jsonl"
    async with serve_simulator("vatel", api_key=KEY) as (_, config, _sim):
        with pytest.raises(AuthenticationError):
            await voiceadapters.connect(config, api_key="sk-wrong-key-7777", record=path)
    recorded = lines(path)
    assert [line.get("k") for line in recorded[1:]] == ["http_request", "http_response", "end"]
    assert recorded[2]["status"] == 401
    scan(path, ["sk-wrong-key-7777", KEY])
    report = await replay(load(path), timeout=20)
    assert report.ok and any("as recorded" in note for note in report.notes)


# -- the server on its own: pacing, missing and extra messages ------------------------------------


#: Plugin folders not named after their provider.
_FOLDERS = {"openai": "openai_realtime"}


def _docs(provider: str) -> Path:
    return (
        ROOT
        / "plugins"
        / _FOLDERS.get(provider, provider.replace("-", "_"))
        / "tests"
        / "cassettes"
        / "docs-examples.jsonl"
    )


@pytest.mark.network
async def test_recorded_pace_keeps_the_gaps() -> None:
    cassette = load(_docs("example"))
    started = asyncio.get_running_loop().time()
    report = await replay(cassette, pace="recorded", timeout=20)
    elapsed = asyncio.get_running_loop().time() - started
    assert report.ok, "\n".join(report.lines())
    recorded = cassette.messages()[-1].t - cassette.messages()[0].t
    assert elapsed >= recorded * 0.8


@pytest.mark.network
async def test_a_client_that_sends_nothing_is_reported_and_the_script_goes_on() -> None:
    """The example cassette's server answers the client's audio frame; a
    client that never sends it gets the rest after ``wait_timeout``, and the
    missing message is reported."""
    cassette = load(_docs("example"))
    async with CassetteServer(cassette, wait_timeout=0.2) as server:
        session = await voiceadapters.connect(server.config, api_key="any-key-1234")
        types = []
        async for event in session:
            types.append(event.type)
        await session.close()
        await asyncio.wait_for(server.finished.wait(), 5)
    assert types[0] == "session_started" and types[-1] == "session_ended"
    notes = [str(d) for d in server.report.differences]
    assert any("client message #1" in n and "not received within 0.2 s" in n for n in notes)
    assert any("client message #1" in n and "did not send it" in n for n in notes)


@pytest.mark.network
async def test_extra_and_different_client_messages_are_reported() -> None:
    cassette = load(_docs("example"))
    async with CassetteServer(cassette) as server:
        session = await voiceadapters.connect(server.config, api_key="any-key-1234")
        for size in (320, 640, 640):  # recorded: one frame of 640 bytes
            await session.send_audio(bytes(size))
        async for _ in session:
            pass
        await session.close()
        await asyncio.wait_for(server.finished.wait(), 5)
    found = [str(d) for d in server.report.differences]
    assert found[0].startswith("client message #1 (connection 1, line 5) length")
    assert "(recorded 640, replayed 320)" in found[0]
    assert any("client message #2 (connection 1): not in the recording" in f for f in found)


# -- the command line ----------------------------------------------------------------------------


@pytest.mark.network
def test_cli_record_then_replay_check(tmp_path: Path) -> None:
    """``voiceadapters record`` against a simulator in another process, then
    ``replay --check --strict`` in this one."""
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "voiceadapters",
            "simulate",
            "example",
            "--api-key",
            KEY,
            "--pace",
            "0",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert sim.stdout is not None
        config = sim.stdout.readline().strip()
        wav = tmp_path / "in.wav"
        from voiceadapters.audio import write_wav
        from voiceadapters.testing import speech_sample

        pcm, fmt = speech_sample()
        write_wav(wav, pcm[: fmt.bytes_for(1.0)], fmt)
        cassette = tmp_path / "cli.jsonl"
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "voiceadapters",
                "record",
                config,
                "--cassette",
                str(cassette),
                "--wav",
                str(wav),
                "--fast",
                "--audio",
                "truncate",
            ],
            env={**os.environ, "EXAMPLE_API_KEY": KEY},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    finally:
        sim.terminate()
        sim.wait(10)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"wrote {cassette}" in done.stdout
    assert (
        "to record from the microphone, use `voiceadapters talk CONFIG --record FILE`"
        in done.stderr
    )
    scan(cassette, [KEY])
    assert load(cassette).header["audio"] == "truncate"
    report = tmp_path / "report.json"
    assert (
        main(
            [
                "replay",
                str(cassette),
                "--check",
                "--pace",
                "fast",
                "--strict",
                "--json",
                str(report),
            ]
        )
        == 0
    )
    assert json.loads(report.read_text())["ok"] is True


@pytest.mark.network
def test_cli_replay_check_strict_exits_1_and_prints_the_difference(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    edited = tmp_path / "edited.jsonl"
    edited.write_text(
        _docs("binary-pcm").read_text().replace('agent_disconnected\\"}', 'room_closed\\"}', 1)
    )
    assert main(["replay", str(edited), "--check", "--pace", "fast", "--wait-timeout", "1"]) == 0
    assert main(["replay", str(edited), "--check", "--pace", "fast", "--strict"]) == 1
    out = capsys.readouterr().out
    assert "DIFF  event #4 (session_ended) after server message #4" in out
    assert "provider_reason" in out and "$.reason" in out


@pytest.mark.network
async def test_cli_replay_serves_a_cassette_to_any_client(tmp_path: Path) -> None:
    """``voiceadapters replay FILE`` in a subprocess: it prints the config to
    connect to, serves one session, reports and exits by itself."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "voiceadapters",
        "replay",
        str(_docs("binary-pcm")),
        "--pace",
        "fast",
        "--strict",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    config = (await asyncio.wait_for(proc.stdout.readline(), 30)).decode().strip()
    assert config.startswith("binary-pcm://127.0.0.1:") and "tls=false" in config
    session = await voiceadapters.connect(config, api_key="whatever-key-1")
    types = []
    await session.send_audio(bytes(640))
    async for event in session:
        types.append(event.type)
    await session.close()
    out, _ = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0, out.decode()
    assert types == ["session_started", "agent_ready", "agent_audio", "session_ended"]
    assert "replay matches" in out.decode()


# -- shipped cassettes ---------------------------------------------------------------------------


def shipped() -> list[Path]:
    return sorted(ROOT.glob("plugins/*/tests/cassettes/*.jsonl"))


def test_every_first_party_plugin_ships_a_simulator_and_a_docs_cassette() -> None:
    for provider in PROVIDERS:
        folder = _docs(provider).parent
        sources = {load(p).header.get("source") for p in folder.glob("*.jsonl")}
        assert sources == {"recorded", "hand-made"}, provider
        for path in folder.glob("*.jsonl"):
            header = load(path).header
            assert header["provider"] == provider
            # The event schema the cassette was made with (a later core may
            # have moved on; the replay still compares).
            major, minor = str(header["schema_version"]).split(".")
            assert major == SCHEMA_VERSION.split(".")[0] and minor.isdigit()
            if header["source"] == "hand-made":
                assert "attribution" in header


#: Fields named like credentials that are data: Deepgram's
#: ``FunctionCallRequest.functions[].thought_signature`` is a Gemini function
#: call identifier (its Function Call Request docs page), not a secret;
#: OpenAI Realtime's ``max_output_tokens`` of a session or response is a
#: limit (``"inf"`` or a number; the openai SDK's ``RealtimeResponse``).
NOT_SECRETS = frozenset({"thought_signature", "max_output_tokens"})


def _secret_values(cassette_lines: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """Every value a cassette holds under a credential-looking name."""
    found: list[tuple[str, Any]] = []

    def walk(value: Any, key: str = "") -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(v, str(k))
        elif isinstance(value, list):
            for v in value:
                walk(v, key)
        elif isinstance(value, str) and key and is_secret_name(key) and key not in NOT_SECRETS:
            found.append((key, value))
        if isinstance(value, str) and value.startswith(("ws", "http")) and "?" in value:
            for name, query_value in parse_qsl(urlsplit(value).query):
                if is_secret_name(name):
                    found.append((name, query_value))

    for line in cassette_lines:
        for key in ("url", "headers", "json"):
            walk(line.get(key), key if key != "url" else "")
        if line.get("type") == "text":
            with contextlib.suppress(ValueError):
                walk(json.loads(line["text"]))
    return found


@pytest.mark.parametrize("path", shipped(), ids=lambda p: f"{p.parent.parent.parent.name}/{p.name}")
def test_no_shipped_cassette_holds_a_secret(path: Path) -> None:
    scan(path, [SHIPPED_KEY, KEY, "simulator-key"])
    text = path.read_text()
    assert "eyJ" not in text  # no JWT
    for name, value in _secret_values(lines(path)):
        # The scrubber keeps an Authorization scheme (Deepgram's is "Token").
        allowed = (MARKER, f"Bearer {MARKER}", f"Token {MARKER}", f"Basic {MARKER}")
        assert value in allowed, f"{path.name}: {name}={value[:3]}…"


def test_cli_errors_are_clear_and_leave_no_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["replay", str(tmp_path / "missing.jsonl")]) == 2
    assert "cannot read cassette" in capsys.readouterr().err
    target = tmp_path / "never.jsonl"
    assert main(["record", "nosuchprovider://", "--cassette", str(target)]) == 2
    assert "nosuchprovider" in capsys.readouterr().err
    assert not target.exists()
    with pytest.raises(SystemExit):
        main(["replay", str(_docs("example")), "--listen", "nonsense"])
