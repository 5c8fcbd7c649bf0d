"""G.711 μ-law (``audio/pcmu``) and A-law (``audio/pcma``) ⇄ 16-bit PCM.

The Realtime API carries G.711 at 8 kHz, one byte per sample (ITU-T
Recommendation G.711, 1988, tables 1a/1b and 2a/2b). The codec works in
16-bit PCM like every codec, so it expands what the server sends and
compresses what the application sends. Both directions are table lookups
(numpy), built on first use from the segment formulas of the recommendation:
μ-law with the bias 0x84 (132) and the clip at 32635; A-law on 13-bit
magnitudes with the even-bit inversion 0x55.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Law", "compress", "expand"]

Law = Literal["pcmu", "pcma"]

_ULAW_BIAS = 0x84
_ULAW_CLIP = 32635


def _ulaw_decode(code: int) -> int:
    u = ~code & 0xFF
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + _ULAW_BIAS) << exponent) - _ULAW_BIAS
    return -magnitude if u & 0x80 else magnitude


def _ulaw_encode(sample: int) -> int:
    sign = 0x80 if sample < 0 else 0
    magnitude = min(-sample if sign else sample, _ULAW_CLIP) + _ULAW_BIAS
    exponent = 7
    while exponent > 0 and not magnitude & (0x4000 >> (7 - exponent)):
        exponent -= 1
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _alaw_decode(code: int) -> int:
    a = code ^ 0x55
    segment = (a >> 4) & 0x07
    value = (a & 0x0F) << 4
    if segment == 0:
        value += 8
    else:
        value = (value + 0x108) << (segment - 1)
    return value if a & 0x80 else -value


_ALAW_SEGMENT_ENDS = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def _alaw_encode(sample: int) -> int:
    value = sample >> 3  # 13-bit
    if value >= 0:
        mask = 0xD5
    else:
        mask = 0x55
        value = -value - 1
    segment = next((i for i, end in enumerate(_ALAW_SEGMENT_ENDS) if value <= end), 8)
    if segment >= 8:
        return 0x7F ^ mask
    code = segment << 4
    code |= (value >> 1) & 0x0F if segment < 2 else (value >> segment) & 0x0F
    return code ^ mask


@lru_cache(maxsize=2)
def _expand_table(law: Law) -> npt.NDArray[np.int16]:
    import numpy as np

    decode = _ulaw_decode if law == "pcmu" else _alaw_decode
    return np.array([decode(code) for code in range(256)], dtype="<i2")


@lru_cache(maxsize=2)
def _compress_table(law: Law) -> npt.NDArray[np.uint8]:
    import numpy as np

    encode = _ulaw_encode if law == "pcmu" else _alaw_encode
    # Indexed by the sample's 16 bits read as unsigned.
    return np.array([encode(u - 65536 if u >= 32768 else u) for u in range(65536)], dtype=np.uint8)


def expand(data: bytes, law: Law) -> bytes:
    """G.711 bytes → 16-bit little-endian PCM (two bytes per input byte)."""
    import numpy as np

    out: bytes = _expand_table(law)[np.frombuffer(data, dtype=np.uint8)].tobytes()
    return out


def compress(pcm: bytes, law: Law) -> bytes:
    """16-bit little-endian PCM (whole samples) → G.711 bytes."""
    import numpy as np

    out: bytes = _compress_table(law)[np.frombuffer(pcm, dtype="<u2")].tobytes()
    return out
