"""Acceptance: a framework's OpenAI realtime plugin as the bridge's client.

LiveKit Agents' ``livekit-plugins-openai`` (1.2.9, the first release whose
``RealtimeModel`` speaks the GA protocol; 1.2.8 and older speak the beta one:
``OpenAI-Beta: realtime=v1``, ``response.audio.delta``) is driven as it
ships, without a LiveKit room: its ``RealtimeModel(base_url=…, api_key=…)``
and the ``RealtimeSession`` it opens, through their public API only —
``push_audio`` (``rtc.AudioFrame``), the session's events
(``generation_created``, ``input_audio_transcription_completed``,
``input_speech_started``, ``error``, and the raw ``openai_server_event_received``
/ ``openai_client_event_queued``), and for a tool call what the framework's own
``AgentActivity`` does after running a tool: ``update_chat_ctx`` with the
``FunctionCallOutput``, ``interrupt()``, ``update_options(tool_choice="auto")``
and ``await generate_reply()``.

The first target is the OpenAI plugin's own GA simulator, served directly:
it checks the harness against a server that already speaks the protocol.
Then the bridge's OpenAI Realtime front in front of each first-party
provider's simulator: a whole turn (speech in → the user's transcript where
the provider transcribes → agent audio, echo cross-correlation ≥ 0.9 →
``response.done``) for each, a tool round trip for each provider with tools.
What the plugin sends that the bridge refuses (its voice, always; its default
transcription behind a provider without one; its tools) is asserted exactly:
each is a recoverable ``error`` the plugin reports, and the session goes on
(docs/bridge.md, "Clients known to work").

Everything runs on 127.0.0.1 over real sockets; every wait is bounded.
Skipped where the plugin is not installed (``requirements-dev.txt`` has it).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

lk_realtime = pytest.importorskip(
    "livekit.plugins.openai.realtime", reason="needs livekit-plugins-openai (requirements-dev.txt)"
)
rtc = pytest.importorskip("livekit.rtc")
llm = pytest.importorskip("livekit.agents.llm")
lk_types = pytest.importorskip("livekit.agents.types")

from voiceadapters.audio import StreamConverter, best_alignment, pcm_to_array  # noqa: E402
from voiceadapters.format import AudioFormat  # noqa: E402
from voiceadapters.registry import get_provider  # noqa: E402
from voiceadapters.testing import serve_simulator, speech_sample  # noqa: E402

from .conftest import BRIDGE_KEY, PROVIDER_KEY, bridge_in_process  # noqa: E402

pytestmark = pytest.mark.network

KEY = "sk-framework-interop-0123456789"
RATE = 24000  # the plugin's only rate (SAMPLE_RATE in its realtime_model)
FRAME = 480  # samples: 20 ms, as a LiveKit room delivers microphone frames
TIMEOUT = 20.0


def speech_24k() -> bytes:
    """The bundled speech sample at the plugin's 24 kHz."""
    pcm, fmt = speech_sample()
    conv = StreamConverter(fmt, AudioFormat(RATE))
    return conv.convert(pcm) + conv.flush()


async def wait_for(condition: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.01)


@dataclass
class Generation:
    """What one ``generation_created`` event streamed: the framework's view of a response."""

    user_initiated: bool
    text: str = ""
    audio: bytearray = field(default_factory=bytearray)
    modalities: list[str] = field(default_factory=list)
    calls: list[Any] = field(default_factory=list)  # llm.FunctionCall
    task: asyncio.Task[None] | None = None

    @property
    def finished(self) -> bool:
        return self.task is not None and self.task.done()


class FrameworkClient:
    """A ``livekit.plugins.openai.realtime.RealtimeSession``, watched through its events."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.server_events: list[dict[str, Any]] = []
        self.client_events: list[dict[str, Any]] = []
        self.speech_started = 0
        self.transcripts: list[str] = []
        self.generations: list[Generation] = []
        self.errors: list[Any] = []  # llm.RealtimeModelError
        session.on("openai_server_event_received", self.server_events.append)
        session.on("openai_client_event_queued", self.client_events.append)
        session.on("input_speech_started", self._on_speech_started)
        session.on("input_audio_transcription_completed", self._on_transcript)
        session.on("generation_created", self._on_generation)
        session.on("error", self.errors.append)

    def _on_speech_started(self, _event: Any) -> None:
        self.speech_started += 1

    def _on_transcript(self, event: Any) -> None:
        self.transcripts.append(event.transcript)

    def _on_generation(self, event: Any) -> None:
        generation = Generation(user_initiated=event.user_initiated)
        generation.task = asyncio.create_task(self._consume(event, generation))
        self.generations.append(generation)

    async def _consume(self, event: Any, generation: Generation) -> None:
        async def text(message: Any) -> None:
            async for delta in message.text_stream:
                generation.text += delta

        async def audio(message: Any) -> None:
            async for frame in message.audio_stream:
                assert frame.sample_rate == RATE and frame.num_channels == 1
                generation.audio += frame.data.tobytes()

        async def messages() -> None:
            async for message in event.message_stream:
                await asyncio.gather(text(message), audio(message))
                generation.modalities = list(await message.modalities)

        async def functions() -> None:
            async for call in event.function_stream:
                generation.calls.append(call)

        await asyncio.gather(messages(), functions())

    def push(self, pcm: bytes) -> None:
        """The microphone: ``pcm`` (24 kHz) as 20 ms ``rtc.AudioFrame``s, as fast as it goes."""
        step = 2 * FRAME
        for at in range(0, len(pcm), step):
            chunk = pcm[at : at + step]
            self.session.push_audio(
                rtc.AudioFrame(
                    data=chunk,
                    sample_rate=RATE,
                    num_channels=1,
                    samples_per_channel=len(chunk) // 2,
                )
            )

    async def generation(self, index: int, timeout: float = TIMEOUT) -> Generation:
        """Wait until the ``index``-th generation has streamed to its end (``response.done``);
        fail at once on an error the framework deems unrecoverable (a refused connection)."""

        def ready() -> bool:
            fatal = [e for e in self.errors if not e.recoverable]
            assert not fatal, f"the framework gave up: {fatal[0].error!r}"
            return len(self.generations) > index and self.generations[index].finished

        await wait_for(ready, timeout, f"generation {index} to finish")
        generation = self.generations[index]
        assert generation.task is not None
        generation.task.result()  # re-raise what the consumer hit
        return generation

    def server_kinds(self) -> list[str]:
        return [e["type"] for e in self.server_events]

    def server_errors(self) -> list[dict[str, Any]]:
        """The GA ``error`` events received (the framework reports them as ``error``)."""
        return [e["error"] for e in self.server_events if e["type"] == "error"]

    def check_errors(self, refused: Sequence[str]) -> None:
        """The framework reported exactly the refusals of the session fields ``refused``
        (``param``s, in order), as recoverable errors; the only other GA error allowed is
        a ``response.cancel`` with nothing to cancel, which the plugin ignores by design
        (``Cancellation failed…``)."""
        errors = [
            e
            for e in self.server_errors()
            if not (
                e["code"] == "response_cancel_not_active"
                and e["message"].startswith("Cancellation failed")
            )
        ]
        got = [(e["code"], e["param"]) for e in errors]
        assert got == [("unsupported_by_provider", param) for param in refused], errors
        assert len(self.errors) == len(refused) and all(e.recoverable for e in self.errors)


@contextlib.asynccontextmanager
async def framework_session(
    base_url: str, api_key: str, *, tools: list[Any] | None = None
) -> AsyncIterator[FrameworkClient]:
    """The plugin's model pointed at ``base_url``; one session, closed at the end."""
    async with aiohttp.ClientSession() as http:
        model = lk_realtime.RealtimeModel(
            model="gpt-realtime",
            api_key=api_key,
            base_url=base_url,
            http_session=http,
            max_session_duration=None,
            # One attempt, bounded: a refusal fails the test instead of retrying.
            conn_options=lk_types.APIConnectOptions(max_retry=0, timeout=10.0),
        )
        session = model.session()
        client = FrameworkClient(session)
        try:
            if tools:
                await session.update_tools(tools)
            yield client
        finally:
            await asyncio.wait_for(session.aclose(), TIMEOUT)
            for generation in client.generations:
                if generation.task is not None and not generation.task.done():
                    generation.task.cancel()
            await model.aclose()


@llm.function_tool
async def lookup_utterance(seconds: float) -> str:
    """Look up what the user said.

    Args:
        seconds: how long the utterance lasted
    """
    return json.dumps({"framework": "tool-ok", "seconds": seconds})


# -- the whole turn, and a tool round trip --------------------------------------------------


async def run_whole_turn(
    base_url: str, key: str = KEY, *, transcripts: bool = True, refused: Sequence[str] = ()
) -> FrameworkClient:
    """Speech in → (transcript) → agent audio → response done; returns the client."""
    speech = speech_24k()
    async with framework_session(base_url, key) as client:
        # Speech, then 1.5 s of silence: the server's turn detection ends the turn.
        client.push(speech + bytes(2 * int(RATE * 1.5)))
        generation = await client.generation(0)
        if transcripts:
            await wait_for(lambda: client.transcripts, 5, "the user's transcript")
    client.check_errors(refused)
    assert generation.modalities == ["audio", "text"]
    lag, ncc = best_alignment(pcm_to_array(speech), pcm_to_array(bytes(generation.audio)))
    assert ncc >= 0.9, f"echo cross-correlation {ncc:.3f} (lag {lag})"
    kinds = client.server_kinds()
    assert kinds[0] == "session.created"
    assert "session.updated" in kinds and "response.done" in kinds
    done = next(e for e in client.server_events if e["type"] == "response.done")
    assert done["response"]["status"] == "completed"
    sent = [e["type"] for e in client.client_events]
    assert sent[0] == "session.update" and "input_audio_buffer.append" in sent
    return client


async def run_tool_round_trip(
    base_url: str, key: str = KEY, *, refused: Sequence[str] = ()
) -> tuple[FrameworkClient, Generation]:
    """The agent calls ``lookup_utterance``; the framework answers as its AgentActivity does."""
    speech = speech_24k()
    async with framework_session(base_url, key, tools=[lookup_utterance]) as client:
        client.push(speech + bytes(2 * int(RATE * 1.5)))
        first = await client.generation(0)
        assert len(first.calls) == 1, first
        call = first.calls[0]
        assert call.name == "lookup_utterance"
        tool = client.session.tools.function_tools[call.name]
        args, kwargs = llm.utils.prepare_function_arguments(fnc=tool, json_arguments=call.arguments)
        output = await tool(*args, **kwargs)
        chat_ctx = client.session.chat_ctx.copy()
        chat_ctx.items.append(
            llm.FunctionCallOutput(
                call_id=call.call_id, name=call.name, output=output, is_error=False
            )
        )
        await client.session.update_chat_ctx(chat_ctx)  # waits for conversation.item.added
        client.session.interrupt()
        client.session.update_options(tool_choice="auto")
        created = await asyncio.wait_for(client.session.generate_reply(), TIMEOUT)
        assert created.user_initiated  # response.created echoed the request's metadata
        reply = await client.generation(len(client.generations) - 1)
    assert reply.user_initiated and not reply.calls
    assert "tool-ok" in reply.text
    lag, ncc = best_alignment(pcm_to_array(speech), pcm_to_array(bytes(reply.audio)))
    assert ncc >= 0.9, f"echo cross-correlation of the reply {ncc:.3f} (lag {lag})"
    client.check_errors(refused)
    return client, reply


# -- the OpenAI plugin's own GA simulator, directly --------------------------------------------


async def test_the_plugin_runs_a_whole_turn_against_the_ga_simulator() -> None:
    async with serve_simulator("openai", api_key=KEY, pace=0) as (server, _config, sim):
        client = await run_whole_turn(f"http://127.0.0.1:{server.port}/v1")
    assert client.speech_started == 1
    assert client.transcripts and "s of speech]" in client.transcripts[0]
    assert sim.connections[-1].client_events


async def test_the_plugin_runs_a_tool_round_trip_against_the_ga_simulator() -> None:
    async with serve_simulator("openai", api_key=KEY, scenario="tool_call", pace=0) as (
        server,
        _config,
        sim,
    ):
        client, _reply = await run_tool_round_trip(f"http://127.0.0.1:{server.port}/v1")
    (call_id, output) = sim.connections[-1].tool_outputs[-1]
    assert json.loads(output)["framework"] == "tool-ok"
    assert call_id.startswith("call")
    assert client.server_kinds().count("response.done") >= 2


# -- through the bridge, in front of each first-party provider's simulator ---------------------

FIRST_PARTY = ("vatel", "binary-pcm", "nextevi", "example", "deepgram", "openai")
WITH_TOOLS = tuple(p for p in FIRST_PARTY if get_provider(p).capabilities.tool_calls)
#: The plugin always sends a voice (``RealtimeModel(voice=…)``, default ``marin``):
#: refused unless the bridge lets clients choose it (``--client-option voice``).
VOICE = "session.audio.output.voice"
TRANSCRIPTION = "session.audio.input.transcription"


@pytest.mark.parametrize("provider", FIRST_PARTY)
async def test_the_plugin_runs_a_whole_turn_through_the_bridge(provider: str) -> None:
    capabilities = get_provider(provider).capabilities
    async with bridge_in_process(provider=provider, pace=0) as bridge:
        client = await run_whole_turn(
            f"{bridge.url}/v1",
            BRIDGE_KEY,
            transcripts=capabilities.user_transcripts,
            # The plugin asks for input transcription by default (gpt-4o-mini-transcribe).
            refused=[VOICE] if capabilities.user_transcripts else [TRANSCRIPTION, VOICE],
        )
    if capabilities.user_transcripts:
        assert client.transcripts and all(client.transcripts)
    if capabilities.speech_events:
        assert client.speech_started >= 1
    seen = json.dumps(client.server_events)
    assert PROVIDER_KEY not in seen and BRIDGE_KEY not in seen


@pytest.mark.parametrize("provider", WITH_TOOLS)
async def test_the_plugin_runs_a_tool_round_trip_through_the_bridge(provider: str) -> None:
    async with bridge_in_process(provider=provider, scenario="tool_call", pace=0) as bridge:
        client, _reply = await run_tool_round_trip(
            f"{bridge.url}/v1", BRIDGE_KEY, refused=[VOICE, "session.tools"]
        )
    assert client.server_kinds().count("response.done") >= 2
    assert PROVIDER_KEY not in json.dumps(client.server_events)


@pytest.mark.slow
async def test_at_real_time_pace_the_agents_cancel_spares_the_answer_to_its_tool() -> None:
    """The provider speaks in real time, so its answer to the tool result is under way
    when the plugin's agent sends ``response.cancel`` (before ``response.create``); the
    front holds that answer for the ``response.create``, so nothing is cancelled."""
    async with bridge_in_process(provider="openai", scenario="tool_call", pace=1.0) as bridge:
        client, reply = await run_tool_round_trip(
            f"{bridge.url}/v1", BRIDGE_KEY, refused=[VOICE, "session.tools"]
        )
    statuses = [
        e["response"]["status"] for e in client.server_events if e["type"] == "response.done"
    ]
    assert statuses == ["completed", "completed"]
    assert reply.user_initiated


async def test_what_the_plugin_configures_in_later_session_updates_reaches_the_provider() -> None:
    """The plugin sends its options in one ``session.update`` (audio, voice, turn
    detection) and, as its agent starts, the instructions and the tools in two
    more. The provider session opens only once the client stops configuring
    (another event, or a short quiet), so with every option open to clients all
    three reach the provider."""
    options = ("voice", "instructions", "tools")
    async with (
        bridge_in_process(provider="openai", pace=0, client_options=options) as bridge,
        framework_session(f"{bridge.url}/v1", BRIDGE_KEY) as client,
    ):
        await client.session.update_instructions("Be brief.")  # as AgentActivity.start does
        await client.session.update_tools([lookup_utterance])
        await wait_for(
            lambda: bool(bridge.simulator.connections), 5, "the provider session to open"
        )
        await wait_for(
            lambda: bool(bridge.simulator.connections[-1].session.get("tools")),
            5,
            "the tools to reach the provider",
        )
        sent = bridge.simulator.connections[-1].session
    client.check_errors([])  # nothing refused
    assert sent["instructions"] == "Be brief."
    assert sent["audio"]["output"]["voice"] == "marin"
    assert [t["name"] for t in sent["tools"]] == ["lookup_utterance"]
