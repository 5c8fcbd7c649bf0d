"""The cassettes this plugin ships replay green (docs/cassettes.md): two
recorded from the simulator (tools/record_cassettes.py: ``echo`` and
``tool_call``), one hand-made from Deepgram's documented examples
(tools/make_doc_cassettes.py).

Each is served on 127.0.0.1 by a real CassetteServer and the plugin's
adapter runs against it: same events (type, order, text, audio length within
a frame), same client messages. The JSON messages of every cassette, both
ways, are also judged by the vendor's SDK models (as test_sdk_interop.py
judges the simulator's), so the hand-made one cannot drift from the
protocol either."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest
from pydantic import BaseModel

from voiceadapters.cassette import load, replay

CASSETTES = sorted((Path(__file__).parent / "cassettes").glob("*.jsonl"))


def test_the_plugin_ships_cassettes() -> None:
    assert {load(p).header["source"] for p in CASSETTES} == {"recorded", "hand-made"}


@pytest.mark.network
@pytest.mark.parametrize("path", CASSETTES, ids=lambda p: p.name)
def test_a_shipped_cassette_replays_green(path: Path) -> None:
    cassette = load(path)
    assert cassette.provider == "deepgram"
    report = asyncio.run(replay(cassette, timeout=30))
    assert report.ok, "\n".join(report.lines())
    assert report.events == len(cassette.events())


def _undeclared(model: BaseModel, path: str = "") -> list[str]:
    """Fields of ``model`` (recursively) its class does not declare (the SDK's
    models accept extras, so validation alone would not catch a typo)."""
    found = [f"{path}{name}" for name in (model.model_extra or {})]
    for name in type(model).model_fields:
        value = getattr(model, name)
        items = value if isinstance(value, list | tuple) else [value]
        for item in items:
            if isinstance(item, BaseModel):
                found += _undeclared(item, f"{path}{name}.")
    return found


@pytest.mark.parametrize("path", CASSETTES, ids=lambda p: p.name)
def test_every_message_of_a_shipped_cassette_fits_the_sdk_models(path: Path) -> None:
    pytest.importorskip("deepgram", reason="needs deepgram-sdk (requirements-dev.txt)")
    from deepgram.agent.v1 import types as dg

    server: dict[str, type[BaseModel]] = {
        "Welcome": dg.AgentV1Welcome,
        "SettingsApplied": dg.AgentV1SettingsApplied,
        "ConversationText": dg.AgentV1ConversationText,
        "UserStartedSpeaking": dg.AgentV1UserStartedSpeaking,
        "FunctionCallRequest": dg.AgentV1FunctionCallRequest,
        "AgentStartedSpeaking": dg.AgentV1AgentStartedSpeaking,
        "AgentAudioDone": dg.AgentV1AgentAudioDone,
        "Warning": dg.AgentV1Warning,
    }
    client: dict[str, type[BaseModel]] = {
        "Settings": dg.AgentV1Settings,
        "KeepAlive": dg.AgentV1KeepAlive,
        "FunctionCallResponse": dg.AgentV1SendFunctionCallResponse,
    }
    judged = 0
    for line in load(path).lines:
        if line.get("k") not in ("send", "recv") or line.get("type") != "text":
            continue
        message = json.loads(line["text"])
        models = server if line["k"] == "recv" else client
        model = models[message["type"]].model_validate(message)
        assert _undeclared(model) == [], f"line {line}: fields the SDK does not declare"
        judged += 1
    assert judged >= 5
