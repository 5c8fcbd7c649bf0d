"""Checks on cassette files: no secret inside (what the tests and the
re-recording tool run on every cassette they write or ship)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

__all__ = ["find_secrets"]


def find_secrets(path: str | Path, values: Iterable[str]) -> list[str]:
    """Which of ``values`` (keys, tokens) occur in the file at ``path``:
    as they are, URL-encoded, or base64-encoded (a binary frame). Values
    shorter than 4 characters are not looked for. Returns the values found,
    masked to their first two characters (a report must not leak them)."""
    text = Path(path).read_bytes()
    found = []
    for value in values:
        if len(value) < 4:
            continue
        forms = {value, quote(value, safe=""), quote_plus(value)}
        forms.add(base64.b64encode(value.encode()).decode("ascii").rstrip("="))
        if any(form.encode() in text for form in forms):
            found.append(value[:2] + "…")
    return found


async def record_simulator(
    provider: str,
    path: str | Path,
    *,
    api_key: str,
    scenario: str | None = None,
    audio: str = "marker",
    seconds: float | None = None,
    comment: str | None = None,
    idle_timeout: float = 0.5,
) -> tuple[str, ...]:
    """Record a session with ``provider``'s simulator (served on 127.0.0.1,
    agent audio as fast as possible) to the cassette at ``path``: the bundled
    speech sample (its first ``seconds``, when given) streamed faster than
    real time, then a second of silence; the session ends once nothing has
    arrived for ``idle_timeout`` seconds (longer for a scenario that
    reconnects: the reconnect's backoff is quiet). Returns every secret the
    recorder scrubbed (the key and the tokens the simulator issued), for a
    scan."""
    from ..runner import stream_recording
    from ..session import connect
    from ..testing import serve_simulator, speech_sample
    from .record import Recorder

    pcm, fmt = speech_sample()
    if seconds is not None:
        pcm = pcm[: fmt.bytes_for(seconds)]
    async with serve_simulator(provider, api_key=api_key, scenario=scenario) as (_, config, _sim):
        recorder = Recorder(path, audio=audio, comment=comment)
        session = await connect(
            config, api_key=api_key, input_format=fmt, output_format=fmt, record=recorder
        )
        await stream_recording(session, pcm, realtime=False, idle_timeout=idle_timeout)
    return (api_key, *recorder.secrets)
