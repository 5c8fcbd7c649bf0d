"""G.711 μ-law (ITU-T G.711 Table 2a) and A-law (Table 1a) through audioop / audioop-lts, checked
against the ITU's reference coder, ITU-T G.191 (Software Tool Library)
``g711.c`` — ``ulaw_compress`` and ``ulaw_expand``, written out here from it —
on every 16-bit input and every code word.

Decoding is identical. Encoding is identical for every non-negative sample;
for negative samples audioop folds the sign as ``-(x >> 2)`` where G.191
uses ``(~x) >> 2``, one 14-bit step apart, so at the 508 negative inputs
that sit exactly on a decision level the code word is the neighbouring one
(one quantisation step, never more). That is within G.711's tolerance and
is what Python's audioop has always produced.
"""

from __future__ import annotations

import time

import numpy as np

from voiceadapters_bridge.g711 import alaw_to_pcm16, pcm16_to_alaw, pcm16_to_ulaw, ulaw_to_pcm16


def reference_expand(code: int) -> int:
    """G.191 ``ulaw_expand`` for one code word, as a 16-bit sample."""
    sign = -1 if code < 0x80 else 1
    mantissa = ~code & 0x0F
    exponent = (~code >> 4) & 0x07
    step = 4 << (exponent + 1)
    value = (0x80 << exponent) + step * mantissa + step // 2 - 4 * 33
    return sign * value


def reference_compress(x: int) -> int:
    """G.191 ``ulaw_compress`` for one 16-bit sample."""
    absno = ((~x) >> 2) + 33 if x < 0 else (x >> 2) + 33
    absno = min(absno, 0x1FFF)
    i, segno = absno >> 6, 1
    while i:
        segno += 1
        i >>= 1
    high = 8 - segno
    low = 0x0F - ((absno >> segno) & 0x0F)
    out = (high << 4) | low
    return out | 0x80 if x >= 0 else out


def test_decoding_matches_the_reference_for_every_code_word() -> None:
    codes = bytes(range(256))
    decoded = np.frombuffer(ulaw_to_pcm16(codes), dtype="<i2")
    assert [int(v) for v in decoded] == [reference_expand(c) for c in codes]
    # The table's ends: 0x00 and 0x80 the loudest, 0xFF and 0x7F zero.
    assert (decoded[0x00], decoded[0x80], decoded[0xFF], decoded[0x7F]) == (-32124, 32124, 0, 0)


def test_encoding_matches_the_reference_for_every_16_bit_sample() -> None:
    samples = range(-32768, 32768)
    encoded = pcm16_to_ulaw(np.arange(-32768, 32768, dtype="<i2").tobytes())
    differ = [(x, encoded[x + 32768], reference_compress(x)) for x in samples]
    differ = [(x, got, ref) for x, got, ref in differ if got != ref]
    assert all(x < 0 for x, _, _ in differ), "a non-negative sample differs"
    assert all(abs(got - ref) == 1 for _, got, ref in differ), "more than one step apart"
    assert len(differ) == 508


def test_a_code_word_survives_a_round_trip() -> None:
    codes = bytes(c for c in range(256) if c != 0x7F)  # 0x7F is "negative zero": 0 → 0xFF
    assert pcm16_to_ulaw(ulaw_to_pcm16(codes)) == codes


def test_cost_per_20_ms_frame() -> None:
    """Not a benchmark: prints what one Twilio frame costs each way."""
    frame = (np.sin(np.arange(160) / 5) * 12000).astype("<i2").tobytes()
    ulaw = pcm16_to_ulaw(frame)
    n = 20000
    started = time.perf_counter()
    for _ in range(n):
        pcm16_to_ulaw(frame)
    encode = (time.perf_counter() - started) / n
    started = time.perf_counter()
    for _ in range(n):
        ulaw_to_pcm16(ulaw)
    decode = (time.perf_counter() - started) / n
    print(f"μ-law per 160-sample frame: encode {encode * 1e6:.2f} µs, decode {decode * 1e6:.2f} µs")
    assert encode < 1e-3 and decode < 1e-3


def reference_alaw_expand(code: int) -> int:
    """G.191 ``alaw_expand`` for one code word (ITU-T G.711 Table 1a), as a 16-bit sample."""
    ix = (code ^ 0x55) & 0x7F  # even-bit inversion, sign off
    exponent, mantissa = ix >> 4, ix & 0x0F
    if exponent > 0:
        mantissa += 16
    value = (mantissa << 4) + 0x08
    if exponent > 1:
        value <<= exponent - 1
    return value if code > 127 else -value


def test_alaw_decoding_matches_the_reference_for_every_code_word() -> None:
    codes = bytes(range(256))
    decoded = np.frombuffer(alaw_to_pcm16(codes), dtype="<i2")
    assert [int(v) for v in decoded] == [reference_alaw_expand(c) for c in codes]
    assert max(decoded) == 32256 and min(decoded) == -32256


def test_an_alaw_code_word_survives_a_round_trip() -> None:
    codes = bytes(range(256))
    assert pcm16_to_alaw(alaw_to_pcm16(codes)) == codes
