"""Fuzz a provider plugin: hostile input must never raise.

``python -m voiceadapters_conformance.fuzz PROVIDER --inputs N`` drives the
plugin's two peer-facing paths with hostile input and reports every
exception that escapes (exit status 1 if any did):

codec
    After a real handshake against the plugin's simulator, in memory
    (:class:`voiceadapters.testing.CodecPair`), each input goes to
    ``receive_frame`` — a frame from :class:`~voiceadapters_conformance.mutations.Mutator`
    — or, for a few, ``receive_closed`` with any close code or
    ``handle_timer``; for a plugin with an HTTP step, 3 % go to a fresh
    codec's ``receive_http_response`` (the simulator's recorded token
    response, its status or body mutated), which may raise only the typed
    :class:`~voiceadapters.errors.TokenRequestError`. Nothing may escape, every event must be a valid event
    that renders (``repr``, :func:`~voiceadapters.events.event_to_log`, UTF-8
    JSON), and ``session_ended`` must come once and last. A session that
    ended is replaced by a fresh one.
simulator
    Each input goes to a connection's ``receive_frame`` (mutated client
    frames), ``receive_closed`` or ``handle_timer``, or to the simulator's
    ``handle_http`` / ``open_websocket`` with a mutated
    :class:`~voiceadapters.simulator.base.SimRequest`. Nothing may escape,
    and everything it answers must be something a host can send (text it
    can encode as UTF-8, an :class:`~voiceadapters.handshake.HttpResponse`).

The seeds are recorded, not written: every scenario of the plugin's
simulator runs a session with the bundled speech sample (plus a text input,
an interrupt and tool results where the plugin has them, and a refused
key), and every frame each side sent is a seed. A run is a function of
``--seed``; the same seed finds the same thing again.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import random
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from voiceadapters.audio import StreamConverter
from voiceadapters.codec import Codec
from voiceadapters.commands import EndTurn, Interrupt, ReportPlayed, SendText, SendToolResult
from voiceadapters.config import ProviderConfig, parse_config, resolve_config
from voiceadapters.errors import VoiceAdaptersError
from voiceadapters.events import (
    AgentAudio,
    AgentAudioDone,
    AgentReady,
    AgentText,
    Emotion,
    Interruption,
    ProviderError,
    SessionEnded,
    SessionStarted,
    ToolCall,
    UnknownMessage,
    Usage,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
    event_to_log,
)
from voiceadapters.frames import CloseFrame
from voiceadapters.handshake import HttpRequest, HttpResponse, WebSocketRequest
from voiceadapters.provider import Provider
from voiceadapters.registry import registry
from voiceadapters.simulator.base import (
    DropConnection,
    SimRequest,
    Simulator,
    SimulatorConnection,
)
from voiceadapters.testing import CodecPair, speech_sample

from .mutations import Mutator, Seed

__all__ = ["Finding", "Recording", "Report", "fuzz_codec", "fuzz_simulator", "main", "record"]

#: The API key the simulators accept in a fuzz run.
FUZZ_KEY = "fuzz-key-0000"

_EVENTS = (
    SessionStarted,
    AgentReady,
    SessionEnded,
    UserSpeechStarted,
    UserSpeechStopped,
    UserTranscript,
    AgentText,
    AgentAudio,
    AgentAudioDone,
    Interruption,
    ToolCall,
    Usage,
    Emotion,
    ProviderError,
    UnknownMessage,
)

_OWN_CODE = re.compile(r"[a-z]+_[a-z_]+")

#: Close codes a peer can send (RFC 6455 §7.4), and none at all.
_CLOSE_CODES: tuple[int | None, ...] = (None, 1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008)
_CLOSE_CODES += (1011, 1012, 1013, 3000, 4000, 4001, 4002, 4003, 4004, 4009, 4500, 4999)


@dataclass
class Finding:
    """One kind of escaped exception (or broken output): where, and the
    first input that caused it."""

    target: str
    what: str
    where: str
    example: str
    count: int = 1

    def __str__(self) -> str:
        return f"{self.target}: {self.what} at {self.where} ({self.count}x), e.g. {self.example}"


@dataclass
class Report:
    """The outcome of one run on one path."""

    provider: str
    target: str
    inputs: int = 0
    seconds: float = 0.0
    sessions: int = 0
    #: Events a codec produced; frames and responses a simulator answered with.
    outputs: int = 0
    by_input: dict[str, int] = field(default_factory=dict)
    #: What the inputs reached, for the codec path: event types and the
    #: plugin's ``provider_error`` codes (``provider_error:malformed_wav``).
    reached: dict[str, int] = field(default_factory=dict)
    findings: dict[tuple[str, str], Finding] = field(default_factory=dict)

    @property
    def exceptions(self) -> int:
        return sum(f.count for f in self.findings.values())

    def summary(self) -> str:
        rate = self.inputs / self.seconds if self.seconds else 0.0
        kinds = ", ".join(f"{k} {v}" for k, v in sorted(self.by_input.items()))
        return (
            f"{self.provider} {self.target}: {self.inputs} inputs in {self.seconds:.1f} s "
            f"({rate:,.0f}/s), {self.sessions} sessions, {self.outputs} outputs, "
            f"{self.exceptions} exceptions escaped [{kinds}]"
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "provider": self.provider,
            "target": self.target,
            "inputs": self.inputs,
            "seconds": round(self.seconds, 2),
            "sessions": self.sessions,
            "outputs": self.outputs,
            "inputs_by_kind": dict(sorted(self.by_input.items())),
            "reached": dict(sorted(self.reached.items())),
            "exceptions": self.exceptions,
            "findings": [str(f) for f in self.findings.values()],
        }

    def _count(self, kind: str) -> None:
        self.inputs += 1
        self.by_input[kind] = self.by_input.get(kind, 0) + 1

    def _found(self, what: str, where: str, example: str) -> None:
        # Printable whatever the input held (a lone surrogate, say).
        what, example = (t.encode("utf-8", "backslashreplace").decode() for t in (what, example))
        key = (what.split(":")[0], where)
        if key in self.findings:
            self.findings[key].count += 1
        else:
            self.findings[key] = Finding(self.target, what, where, example)


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return "?"
    last = frames[-1]
    return f"{last.filename.rsplit('/', 2)[-1]}:{last.lineno} in {last.name}"


def _excerpt(value: Any, limit: int = 160) -> str:
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


# -- recording the seeds ---------------------------------------------------------------


@dataclass
class Recording:
    """What both sides sent in real sessions: the seeds of a run."""

    server_frames: list[str | bytes] = field(default_factory=list)
    client_frames: list[str | bytes] = field(default_factory=list)
    http_requests: list[SimRequest] = field(default_factory=list)
    ws_requests: list[SimRequest] = field(default_factory=list)
    #: The simulator's answers to the codec's HTTP steps (token responses).
    http_responses: list[HttpResponse] = field(default_factory=list)

    def seeds(self, frames: list[str | bytes], per_kind: int = 6) -> list[Seed]:
        """At most ``per_kind`` distinct frames of each message type (and of
        binary frames), so that audio does not crowd out the rest."""
        kept: dict[str, list[Seed]] = {}
        for frame in frames:
            seed = Seed.of(frame)
            if isinstance(frame, bytes):
                kind = "binary"
            elif isinstance(seed.value, dict):
                kind = str(seed.value.get("type", seed.value.get("event")))
            else:
                kind = "text"
            bucket = kept.setdefault(kind, [])
            if len(bucket) < per_kind and all(s.frame != frame for s in bucket):
                bucket.append(seed)
        return [seed for bucket in kept.values() for seed in bucket]


def _config(provider: Provider, simulator: Simulator, api_key: str) -> ProviderConfig:
    text = provider.simulator_config("127.0.0.1", 443, simulator)
    return resolve_config(parse_config(text), provider, api_key=api_key, environ={})


def _open_pair(provider: Provider, simulator: Simulator, api_key: str = FUZZ_KEY) -> CodecPair:
    pair = CodecPair(provider.make_codec(_config(provider, simulator, api_key)), simulator)
    pair.advance(1.0)  # opening messages that come on a timer (binary-pcm's connected)
    return pair


def record(provider: Provider | str) -> Recording:
    """Run every scenario of ``provider``'s simulator once (module docstring)."""
    provider = registry.get(provider) if isinstance(provider, str) else provider
    rec = Recording()
    pcm, fmt = speech_sample()
    caps = provider.capabilities
    wire = StreamConverter(fmt, provider.wire_input).convert(pcm)
    silence = bytes(provider.wire_input.bytes_per_second)
    chunk = provider.wire_input.bytes_per_second // 50
    half = wire[: len(wire) // 2 & ~1]
    for scenario in provider.scenarios:
        # Real-time pacing on the fake clock, so that the agent is still
        # speaking when the user talks again (a barge-in) or interrupts.
        simulator = provider.make_simulator(api_key=FUZZ_KEY, scenario=scenario, pace=1.0)
        pair = CodecPair(
            provider.make_codec(_config(provider, simulator, FUZZ_KEY)),
            simulator,
            open_connection=False,
        )
        try:
            pair.handshake()
            pair.advance(1.0)
            for audio in (wire, silence, half, silence, silence):
                if not pair.ended:
                    pair.stream_audio(audio, chunk)
            for event in list(pair.events):
                if isinstance(event, ToolCall) and caps.tool_calls and not pair.ended:
                    pair.send(SendToolResult(call_id=event.call_id, output='{"ok": true}'))
            if caps.text_input and not pair.ended:
                pair.send(SendText(text="hello there"))
                pair.advance(0.5)
            if not pair.ended:
                # Advisory: every codec takes it; the ones that can, truncate on barge-in.
                pair.send(ReportPlayed(turn_id=None, seconds=0.3))
            if caps.client_interrupt and not pair.ended:
                pair.send(Interrupt())
            if caps.manual_turns and not pair.ended:
                pair.stream_audio(half, chunk)
                pair.send(EndTurn())
            if not pair.ended:
                pair.advance(30.0)  # idle warnings and hang-ups come after a silence
        except VoiceAdaptersError:
            pass
        _keep(rec, pair)
    # A refused key: the error frames (or HTTP answers) of a refusal.
    simulator = provider.make_simulator(api_key=FUZZ_KEY, pace=0.0)
    pair = CodecPair(
        provider.make_codec(_config(provider, simulator, "wrong-key-0000")),
        simulator,
        open_connection=False,
    )
    with contextlib.suppress(VoiceAdaptersError):
        pair.handshake()
    _keep(rec, pair)
    return rec


def _keep(rec: Recording, pair: CodecPair) -> None:
    rec.server_frames += [f for f in pair.server_frames if isinstance(f, str | bytes)]
    rec.client_frames += [f for f in pair.client_frames if isinstance(f, str | bytes)]
    rec.http_responses += pair.http_responses
    for step in pair.handshake_steps:
        if isinstance(step, HttpRequest):
            rec.http_requests.append(SimRequest.from_http(step))
        elif isinstance(step, WebSocketRequest):
            rec.ws_requests.append(SimRequest.from_websocket(step))


# -- the codec path ------------------------------------------------------------------------


def _check_events(codec: Codec, report: Report, example: str) -> bool:
    """Check what the last input produced; returns whether the session ended."""
    # Typed as object: the check is of what a plugin really returns.
    events: list[object] = list(codec.events_received())
    report.outputs += len(events)
    ended = False
    for event in events:
        if not isinstance(event, _EVENTS):
            report._found(f"not an event: {type(event).__name__}", "codec", example)
            continue
        if ended:
            report._found(f"{event.type} after session_ended", "codec", example)
        if isinstance(event, SessionEnded):
            ended = True
        kind: str = event.type
        if isinstance(event, ProviderError):
            # The plugin's own codes (snake case) by name; the peer's, whatever
            # the mutations made of them, together.
            own = _OWN_CODE.fullmatch(event.code) is not None
            kind = f"provider_error:{event.code if own else '(the provider’s code)'}"
        report.reached[kind] = report.reached.get(kind, 0) + 1
        try:
            repr(event)
            json.dumps(event_to_log(event), ensure_ascii=False).encode("utf-8")
        except Exception as exc:
            report._found(
                f"{event.type} does not render: {type(exc).__name__}: {exc}"[:200],
                _where(exc),
                example,
            )
    frames: list[object] = list(codec.frames_to_send())
    for frame in frames:
        if not isinstance(frame, str | bytes | CloseFrame):
            report._found(f"codec sent {type(frame).__name__}", "codec", example)
    return ended or codec.ended


def _next_frame(i: int, sweep: Iterator[str | bytes], mutator: Mutator) -> tuple[str | bytes, str]:
    """Every other input from the sweep while it lasts, the rest drawn at random.

    Runs outside the ``try`` around the target: a bug of the mutator is not
    the target's."""
    frame = next(sweep, None) if i % 2 == 0 else None
    if frame is not None:
        return frame, "swept"
    return mutator.frame(), "random"


def _fuzz_token_step(
    provider: Provider,
    rec: Recording,
    mutator: Mutator,
    rng: random.Random,
    report: Report,
) -> None:
    """A fresh codec's HTTP step answered with a mutated recorded response: it
    may raise only its typed errors (``TokenRequestError``), and the step that
    follows must render."""
    base = rng.choice(rec.http_responses)
    body = base.body
    op = rng.randrange(4)
    if op == 0:
        status = rng.choice((200, 200, 201, 204, 301, 400, 401, 403, 404, 429, 500, 503, 0, 999))
        response = HttpResponse(status, body, base.headers)
    else:
        frame = mutator.frame() if op < 3 or not body else body[: rng.randrange(len(body))]
        data = frame.encode("utf-8", "surrogatepass") if isinstance(frame, str) else frame
        response = HttpResponse(200, data, base.headers)
    example = f"receive_http_response(HttpResponse({response.status}, {_excerpt(response.body)}))"
    report._count("http")
    simulator = provider.make_simulator(api_key=FUZZ_KEY, pace=0.0)
    codec = provider.make_codec(_config(provider, simulator, FUZZ_KEY))
    try:
        if not isinstance(codec.handshake_step(), HttpRequest):
            return
        try:
            codec.receive_http_response(response)
        except VoiceAdaptersError:
            return  # a typed refusal: what connect() raises
        step = codec.handshake_step()
        if step is not None:
            repr(step)
            str(step).encode("utf-8")
            if isinstance(step, HttpRequest | WebSocketRequest):
                step.reveal_url().encode("utf-8")
    except Exception as exc:
        report._found(f"{type(exc).__name__}: {exc}"[:200], _where(exc), example)


def fuzz_codec(
    provider: Provider | str,
    inputs: int,
    *,
    seed: int = 0,
    huge: bool = True,
    recording: Recording | None = None,
    progress: Callable[[Report], None] | None = None,
) -> Report:
    """Feed ``inputs`` hostile inputs to ``provider``'s codec (module docstring)."""
    chosen = registry.get(provider) if isinstance(provider, str) else provider
    rec = recording or record(chosen)
    rng = random.Random(seed)
    mutator = Mutator(rec.seeds(rec.server_frames), rng, huge=huge)
    report = Report(chosen.name, "codec")
    sweep = mutator.sweep()
    pair: CodecPair | None = None
    now = 0.0
    start = time.perf_counter()
    for i in range(inputs):
        if pair is None or pair.codec.ended:
            pair = _open_pair(chosen, chosen.make_simulator(api_key=FUZZ_KEY, pace=0.0))
            pair.codec.events_received()
            pair.codec.frames_to_send()
            now = pair.now
            report.sessions += 1
        codec = pair.codec
        roll = rng.random()
        if roll > 0.97 and rec.http_responses:
            _fuzz_token_step(chosen, rec, mutator, rng, report)
            continue
        try:
            if roll < 0.006:
                code = rng.choice(_CLOSE_CODES)
                reason = rng.choice(("", "bye", "x" * 123, "\ufffd", "\x00"))
                example = f"receive_closed({code}, {reason[:10]!r})"
                report._count("close")
                codec.receive_closed(code, reason)
            elif roll < 0.03:
                now += rng.choice((0.0, 0.001, 1.0, 10.0, 31.0, 3600.0))
                example = f"handle_timer(+{now - pair.now:g})"
                report._count("timer")
                codec.handle_timer(now)
            else:
                frame, kind = _next_frame(i, sweep, mutator)
                example = f"receive_frame({_excerpt(frame)})"
                report._count(kind)
                codec.receive_frame(frame)
        except Exception as exc:
            report._found(f"{type(exc).__name__}: {exc}"[:200], _where(exc), example)
            pair = None
            continue
        if _check_events(codec, report, example):
            pair = None
        if progress is not None and (i + 1) % 100_000 == 0:
            report.seconds = time.perf_counter() - start
            progress(report)
    report.seconds = time.perf_counter() - start
    return report


# -- the simulator path ------------------------------------------------------------------


def _mutate_request(request: SimRequest, mutator: Mutator, rng: random.Random) -> SimRequest:
    def weird() -> str:
        value = mutator._value()
        return value if isinstance(value, str) else json.dumps(value)

    op = rng.randrange(7)
    if op == 0:
        return replace(request, method=rng.choice(("GET", "POST", "PUT", "", "get", "\x00")))
    if op == 1:
        path = rng.choice(("", "/", "//", "/..", request.path + "/x", request.path[:-1]))
        return replace(request, path=path + rng.choice(("", "\ud800", "%00", "\U0001f600")))
    if op == 2:
        query = dict(request.query)
        if query and rng.random() < 0.5:
            del query[rng.choice(list(query))]
        else:
            query[rng.choice([*query, "token", "api_key", "x"])] = weird()
        return replace(request, query=query)
    if op == 3:
        headers = dict(request.headers)
        key = rng.choice([*headers, "authorization", "content-type"])
        if rng.random() < 0.3:
            headers.pop(key, None)
        else:
            headers[key] = rng.choice(
                ("Bearer", "Bearer ", "bearer " + FUZZ_KEY, "Basic x", "Bearer \x00", weird())
            )
        return replace(request, headers=headers)
    if op in (4, 5):
        frame = mutator.frame()
        body = frame.encode("utf-8", "surrogatepass") if isinstance(frame, str) else frame
        return replace(request, body=body)
    return replace(request, body=rng.randbytes(rng.randrange(64)))


def _check_out(out: list[Any], report: Report, example: str) -> None:
    report.outputs += len(out)
    for item in out:
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError as exc:
                report._found(f"unsendable text: {exc}"[:200], "simulator", example)
        elif not isinstance(item, bytes | CloseFrame | DropConnection):
            report._found(f"simulator sent {type(item).__name__}", "simulator", example)


def fuzz_simulator(
    provider: Provider | str,
    inputs: int,
    *,
    seed: int = 0,
    huge: bool = True,
    recording: Recording | None = None,
) -> Report:
    """Feed ``inputs`` hostile inputs to ``provider``'s simulator (module docstring)."""
    chosen = registry.get(provider) if isinstance(provider, str) else provider
    rec = recording or record(chosen)
    rng = random.Random(seed)
    mutator = Mutator(rec.seeds(rec.client_frames), rng, huge=huge)
    report = Report(chosen.name, "simulator")
    sweep = mutator.sweep()
    pair: CodecPair | None = None
    connection: SimulatorConnection | None = None
    simulator: Simulator | None = None
    now = 0.0
    # Scenarios that refuse every session (a token error) have no connection to feed.
    scenarios = list(chosen.scenarios)
    start = time.perf_counter()
    for i in range(inputs):
        if pair is None or connection is None or connection.closed:
            pair = connection = None
            while scenarios and connection is None:
                scenario = rng.choice(scenarios)
                simulator = chosen.make_simulator(api_key=FUZZ_KEY, scenario=scenario, pace=0.0)
                try:
                    pair = _open_pair(chosen, simulator)
                except VoiceAdaptersError:
                    pair = None
                if pair is None or pair.server.closed:
                    scenarios.remove(scenario)
                else:
                    connection = pair.server
            if pair is None or connection is None:
                report._found("no scenario keeps a session open", "simulator", "")
                break
            connection.frames_to_send()
            now = pair.now
            report.sessions += 1
        assert simulator is not None
        roll = rng.random()
        try:
            if roll < 0.01:
                code = rng.choice(_CLOSE_CODES)
                example = f"receive_closed({code})"
                report._count("close")
                connection.receive_closed(code, now)
            elif roll < 0.05:
                now += rng.choice((0.0, 0.02, 1.0, 10.0, 3600.0))
                example = "handle_timer"
                report._count("timer")
                connection.handle_timer(now)
            elif roll < 0.15 and (rec.http_requests or rec.ws_requests):
                base = rng.choice(rec.http_requests + rec.ws_requests)
                request = _mutate_request(base, mutator, rng)
                example = f"{request!r} body={_excerpt(request.body, 60)}"
                if base in rec.http_requests and rng.random() < 0.7:
                    report._count("http")
                    answer: Any = simulator.handle_http(request, now)
                else:
                    report._count("websocket")
                    answer = simulator.open_websocket(request, now)
                report.outputs += 1
                if not isinstance(answer, HttpResponse | SimulatorConnection):
                    report._found(f"answered {type(answer).__name__}", "simulator", example)
                elif isinstance(answer, SimulatorConnection):
                    answer.opened(now)
                    _check_out(answer.frames_to_send(), report, example)
            else:
                frame, kind = _next_frame(i, sweep, mutator)
                example = f"receive_frame({_excerpt(frame)})"
                report._count(kind)
                connection.receive_frame(frame, now)
        except Exception as exc:
            report._found(f"{type(exc).__name__}: {exc}"[:200], _where(exc), example)
            pair = None
            continue
        _check_out(connection.frames_to_send(), report, example)
        if len(simulator.connections) > 64:
            pair = None  # a fresh simulator now and then: connections accumulate
    report.seconds = time.perf_counter() - start
    return report


# -- the command ---------------------------------------------------------------------------


def _print(report: Report) -> None:
    print(report.summary(), flush=True)
    for finding in report.findings.values():
        print(f"  {finding}", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m voiceadapters_conformance.fuzz",
        description="Feed a provider plugin's codec and simulator hostile input; "
        "exit 1 if any exception escapes.",
    )
    parser.add_argument("provider", metavar="PROVIDER", nargs="+")
    parser.add_argument("--inputs", type=int, default=100_000, help="codec inputs per provider")
    parser.add_argument(
        "--simulator-inputs",
        type=int,
        default=None,
        help="simulator inputs per provider (default: a tenth of --inputs)",
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-huge", action="store_true", help="no multi-megabyte frames")
    parser.add_argument("--report", metavar="FILE", help="write the figures as JSON")
    args = parser.parse_args(argv)
    sim_inputs = args.simulator_inputs if args.simulator_inputs is not None else args.inputs // 10
    reports: list[Report] = []
    for name in args.provider:
        provider = registry.get(name)
        rec = record(provider)
        print(
            f"{provider.name}: {len(rec.seeds(rec.server_frames))} server and "
            f"{len(rec.seeds(rec.client_frames))} client seed frames",
            file=sys.stderr,
        )
        huge = not args.no_huge
        codec_report = fuzz_codec(
            provider,
            args.inputs,
            seed=args.seed,
            huge=huge,
            recording=rec,
            progress=lambda r: print("  " + r.summary(), file=sys.stderr, flush=True),
        )
        _print(codec_report)
        simulator_report = fuzz_simulator(
            provider, sim_inputs, seed=args.seed, huge=huge, recording=rec
        )
        _print(simulator_report)
        reports += [codec_report, simulator_report]
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump([r.to_json() for r in reports], f, indent=2)
            f.write("\n")
    return 1 if any(r.exceptions for r in reports) else 0


if __name__ == "__main__":
    sys.exit(main())
