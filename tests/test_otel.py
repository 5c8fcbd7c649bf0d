"""OpenTelemetry spans (docs/metrics.md#opentelemetry), both ways.

Each case runs in a fresh interpreter: the tracer provider is process-wide,
and "absent" must mean that nothing imported ``opentelemetry``. With it:
the SDK's in-memory exporter collects the spans of one session against the
Vatel simulator on 127.0.0.1. Without it: an import hook makes
``opentelemetry`` unimportable, and the same session runs, exports nothing
and imports nothing of it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

pytestmark = pytest.mark.network

SESSION = textwrap.dedent(
    """
    import asyncio, json, math, sys
    import numpy as np
    import voiceadapters
    from voiceadapters.runner import stream_recording
    from voiceadapters.testing import serve_simulator

    KEY = "otel-test-key-0123456789"

    async def session():
        t = np.arange(int(0.3 * 16000)) / 16000
        pcm = (0.3 * 32767 * np.sin(2 * math.pi * 440 * t)).astype("<i2").tobytes()
        async with serve_simulator("vatel", api_key=KEY) as (_, config, _sim):
            s = await voiceadapters.connect(config, api_key=KEY)
            await stream_recording(s, pcm, realtime=False, idle_timeout=0.5, max_duration=20)
            return s.metrics

    """
)

WITH_SDK = SESSION + textwrap.dedent(
    """
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    metrics = asyncio.run(session())
    spans = [
        {
            "name": s.name,
            "parent": s.parent.span_id if s.parent else None,
            "id": s.context.span_id,
            "trace": s.context.trace_id,
            "start": s.start_time,
            "end": s.end_time,
            "attributes": dict(s.attributes or {}),
        }
        for s in exporter.get_finished_spans()
    ]
    print(json.dumps({"spans": spans, "turns": len(metrics.turns)}))
    """
)

WITHOUT = (
    textwrap.dedent(
        """
    import sys

    class NoOpenTelemetry:
        def find_spec(self, name, path=None, target=None):
            if name == "opentelemetry" or name.startswith("opentelemetry."):
                raise ImportError(f"{name} is blocked by the test")
            return None

    sys.meta_path.insert(0, NoOpenTelemetry())
    """
    )
    + SESSION
    + textwrap.dedent(
        """
    from voiceadapters import otel
    metrics = asyncio.run(session())
    loaded = sorted(m for m in sys.modules if m.startswith("opentelemetry"))
    print(json.dumps({"enabled": otel.enabled(), "loaded": loaded, "turns": len(metrics.turns)}))
    """
    )
)


def _run(script: str) -> dict[str, object]:
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_a_session_exports_its_spans_when_opentelemetry_is_installed() -> None:
    pytest.importorskip("opentelemetry.sdk")
    result = _run(WITH_SDK)
    spans = result["spans"]
    assert isinstance(spans, list)
    by_name: dict[str, list[dict[str, object]]] = {}
    for span in spans:
        by_name.setdefault(span["name"], []).append(span)
    (root,) = by_name["voiceadapters.session"]
    assert root["parent"] is None
    assert root["attributes"]["voiceadapters.provider"] == "vatel"  # type: ignore[index]
    assert "otel-test-key" not in json.dumps(spans), "no key in any span"
    for name in (
        "voiceadapters.connect.token_request",
        "voiceadapters.connect.websocket_open",
        "voiceadapters.connect.session_started",
    ):
        (span,) = by_name[name]
        assert span["parent"] == root["id"] and span["trace"] == root["trace"]
        assert root["start"] <= span["start"] <= span["end"] <= root["end"]  # type: ignore[operator]
    turns = by_name["voiceadapters.turn"]
    assert len(turns) == result["turns"] == 1
    attributes = turns[0]["attributes"]
    assert isinstance(attributes, dict)
    assert attributes["voiceadapters.end_of_speech"] == "user_speech_stopped"
    assert attributes["voiceadapters.response_ms"] >= 0


def test_without_opentelemetry_nothing_is_imported_and_the_session_runs() -> None:
    result = _run(WITHOUT)
    assert result == {"enabled": False, "loaded": [], "turns": 1}


def test_importing_the_library_does_not_import_opentelemetry() -> None:
    script = (
        "import sys, voiceadapters, voiceadapters.session, voiceadapters.metrics, "
        "voiceadapters.otel; print([m for m in sys.modules if m.startswith('opentelemetry')])"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_voiceadapters_otel_0_turns_the_spans_off() -> None:
    pytest.importorskip("opentelemetry.sdk")
    out = subprocess.run(
        [sys.executable, "-c", WITH_SDK],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "VOICEADAPTERS_OTEL": "0"},
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1])["spans"] == []
