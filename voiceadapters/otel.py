"""OpenTelemetry spans of a session, when ``opentelemetry-api`` is installed.

Install the extra (``pip install "voiceadapters[otel]"``) and configure a
tracer provider as usual (``opentelemetry-sdk``, an exporter); each session
then produces, when it ends, one trace (docs/metrics.md#opentelemetry):

``voiceadapters.session``
    from the first handshake step to the end; attributes ``voiceadapters.provider``,
    ``voiceadapters.config`` (the config string, keys masked), the turn count
    and the median response time.
``voiceadapters.connect.token_request``, ``voiceadapters.connect.websocket_open``,
``voiceadapters.connect.session_started``, ``voiceadapters.connect.agent_ready``
    children of the session span, one per step of each connection that ran it.
``voiceadapters.turn``
    one per agent turn, from the end of the user's speech (or the first
    agent audio, when unknown) to the end of the turn; attributes
    ``voiceadapters.turn_id``, ``voiceadapters.response_ms``,
    ``voiceadapters.end_of_speech``, ``voiceadapters.interrupted``…

The spans are made from :class:`~voiceadapters.metrics.SessionMetrics` once
the session is over, with the recorded start and end times, so nothing
runs per frame or per event even when OpenTelemetry is installed. Without
it, :func:`enabled` is false and nothing is imported (the import is tried
once per process). ``VOICEADAPTERS_OTEL=0`` turns the spans off.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .config import ProviderConfig
    from .metrics import SessionMetrics

__all__ = ["enabled", "export_session"]

_tracer: Any = None
_checked = False


def _get_tracer() -> Any:
    global _tracer, _checked
    if not _checked:
        _checked = True
        if os.environ.get("VOICEADAPTERS_OTEL", "1").strip().lower() in ("0", "false", "no", "off"):
            return None
        try:
            from opentelemetry import trace
        except ImportError:
            return None
        from . import __version__

        _tracer = trace.get_tracer("voiceadapters", __version__)
    return _tracer


def enabled() -> bool:
    """Whether sessions export spans: ``opentelemetry-api`` is importable and
    ``VOICEADAPTERS_OTEL`` is not ``0`` (decided once per process)."""
    return _get_tracer() is not None


def export_session(metrics: SessionMetrics, config: ProviderConfig) -> None:
    """Export ``metrics`` of an ended session as spans (module docstring)."""
    tracer = _get_tracer()
    if tracer is None:
        return
    from opentelemetry import trace

    # Monotonic → wall-clock nanoseconds, one offset for the whole trace.
    offset = time.time() - time.monotonic()

    def ns(t: float) -> int:
        return int((t + offset) * 1e9)

    now = time.monotonic()
    conns = [c for c in (metrics.connect, *metrics.reconnects) if c is not None]
    starts = [c.started for c in conns if c.started is not None]
    start = min(starts) if starts else now
    lat = sorted(metrics.latencies())
    session = tracer.start_span(
        "voiceadapters.session",
        start_time=ns(start),
        attributes={
            "voiceadapters.provider": metrics.provider,
            "voiceadapters.config": config.to_string(),
            "voiceadapters.turns": len(metrics.turns),
            **({"voiceadapters.response_ms_median": lat[len(lat) // 2] * 1000} if lat else {}),
        },
    )
    context = trace.set_span_in_context(session)
    for conn in conns:
        for name, begin, end in conn.spans():
            tracer.start_span(
                f"voiceadapters.connect.{name}", context=context, start_time=ns(begin)
            ).end(end_time=ns(end))
    for turn in metrics.turns:
        begin = turn.speech_ended if turn.speech_ended is not None else turn.first_audio
        attributes: dict[str, Any] = {
            "voiceadapters.turn_id": turn.turn_id or "",
            "voiceadapters.interrupted": turn.interrupted,
            "voiceadapters.audio_ms": turn.audio_seconds * 1000,
            "voiceadapters.duration_ms": turn.duration * 1000,
        }
        if turn.response_latency is not None:
            attributes["voiceadapters.response_ms"] = turn.response_latency * 1000
            attributes["voiceadapters.end_of_speech"] = turn.end_of_speech or ""
        if turn.interruption_to_silence is not None:
            attributes["voiceadapters.interruption_to_silence_ms"] = (
                turn.interruption_to_silence * 1000
            )
        tracer.start_span(
            "voiceadapters.turn", context=context, start_time=ns(begin), attributes=attributes
        ).end(end_time=ns(max(begin, turn.end)))
    session.end(end_time=ns(now))
