"""G.711 μ-law and A-law (ITU-T G.711, 1988, Tables 2a and 1a) for the fronts.

Twilio Media Streams carry ``audio/x-mulaw`` at 8 kHz, mono, no header
(protocols: Twilio's *WebSocket messages* page); OpenAI Realtime clients may
choose ``audio/pcmu`` (μ-law) or ``audio/pcma`` (A-law), 8 kHz mono, in
``session.update`` (the GA ``RealtimeAudioFormats``). The conversion is not
hand-written: it is ``audioop``'s C implementation, from the standard library
up to Python 3.12 and from `audioop-lts <https://pypi.org/project/audioop-lts/>`_
(the maintained port of the same module) on 3.13 and later, where PEP 594
removed it from the standard library. ``bridge/tests/test_g711.py`` checks it
against the G.711 table's reference values and measures it.
"""

from __future__ import annotations

import sys
import warnings

if sys.version_info >= (3, 13):  # pragma: no cover - depends on the interpreter
    import audioop
else:
    # 3.11 and 3.12 warn that audioop goes away in 3.13 (PEP 594); from then
    # on the same module comes from audioop-lts (see the pyproject).
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import audioop

__all__ = ["alaw_to_pcm16", "pcm16_to_alaw", "pcm16_to_ulaw", "ulaw_to_pcm16"]


def ulaw_to_pcm16(data: bytes) -> bytes:
    """μ-law bytes → 16-bit little-endian PCM, one sample per byte."""
    return audioop.ulaw2lin(data, 2)


def pcm16_to_ulaw(pcm: bytes) -> bytes:
    """16-bit little-endian PCM (an even number of bytes) → μ-law bytes."""
    return audioop.lin2ulaw(pcm, 2)


def alaw_to_pcm16(data: bytes) -> bytes:
    """A-law bytes → 16-bit little-endian PCM, one sample per byte."""
    return audioop.alaw2lin(data, 2)


def pcm16_to_alaw(pcm: bytes) -> bytes:
    """16-bit little-endian PCM (an even number of bytes) → A-law bytes."""
    return audioop.lin2alaw(pcm, 2)
