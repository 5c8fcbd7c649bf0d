"""Resampler figures: cost, added delay, alias rejection and passband flatness.

Everything runs in-process (no sockets) on the project's own converter,
:class:`voiceadapters.audio.StreamConverter`, at each soxr quality, for
16 → 24 kHz and 24 → 16 kHz, in 20 ms frames:

``us_per_frame``
    µs of CPU per 20 ms mono frame through ``StreamConverter.convert``
    (int16 bytes in, int16 bytes out, as a session uses it). The *floor* is
    bare ``soxr.ResampleStream.resample_chunk`` with soxr's own int16 I/O.
``delay_mean_ms`` / ``delay_worst_ms``
    after every frame, *input duration fed so far minus output duration
    produced so far*, over 10 s of audio — the method of the table in
    :mod:`voiceadapters.audio`. It counts the filter's group delay and soxr's
    block-wise batching, which is what a listener waits for.
``alias_rejection_db``
    how far below a full-scale tone its alias lands. Downsampling: tones
    between the new Nyquist frequency plus the transition band and the old
    Nyquist frequency (whose aliases fold into the passband); upsampling: the
    images of passband tones. Measured on soxr's float output (before the
    int16 rounding, whose noise floor would cap the figure near 98 dB), as
    the peak of a Blackman-Harris-windowed spectrum at the alias frequency,
    worst tone reported.
``passband_ripple_db``
    the largest gain deviation (dB) for tones from 100 Hz to 7 kHz (the
    speech band below the 8 kHz Nyquist frequency of 16 kHz audio).
``pause_loss_ms``
    audio lost when the input pauses for 0.25 s mid-stream: the output of
    1 s + pause + 1 s minus that of the same 2 s without the pause (default
    quality and Pipecat only; it takes real time).

When :mod:`pipecat` is importable (installed beside the bench), Pipecat's
``SOXRStreamAudioResampler`` is measured the same way at its defaults (VHQ,
int16, internal state cleared after 0.2 s without input).
"""

from __future__ import annotations

import functools
import math
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import soxr  # type: ignore[import-untyped]

from voiceadapters import AudioFormat
from voiceadapters.audio import DEFAULT_PHASE, DEFAULT_QUALITY, StreamConverter, best_alignment
from voiceadapters.testing import speech_sample

__all__ = ["PIPECAT", "measure_resamplers"]

#: Label of Pipecat's resampler in the figures.
PIPECAT = "pipecat"

_PASS_LO, _PASS_HI = 100.0, 7000.0
#: A pause in the input longer than Pipecat's 0.2 s idle clear.
PAUSE = 0.25
_RATES = ((16000, 24000), (24000, 16000))
#: soxr's qualities, lowest first: every one ``StreamConverter(quality=…)`` accepts.
QUALITIES = ("QQ", "LQ", "MQ", "HQ", "VHQ")
#: libsoxr recipe bits of each phase response (``soxr.h``: SOXR_LINEAR_PHASE,
#: SOXR_MINIMUM_PHASE), as :mod:`voiceadapters.audio` ORs them into the recipe.
_PHASE_BITS = {"linear": 0x00, "minimum": 0x30}

Convert = Callable[[bytes], bytes]


def _tone(rate: int, hz: float, seconds: float, amp: float = 0.9) -> npt.NDArray[np.float64]:
    t = np.arange(int(rate * seconds)) / rate
    return amp * np.sin(2 * math.pi * hz * t)


def _blackman_harris(n: int) -> npt.NDArray[np.float64]:
    """4-term Blackman-Harris window: sidelobes below -92 dB, so a strong tone
    does not leak into the bin of its weak image."""
    k = 2 * math.pi * np.arange(n) / (n - 1)
    return 0.35875 - 0.48829 * np.cos(k) + 0.14128 * np.cos(2 * k) - 0.01168 * np.cos(3 * k)


def _hz(f: float) -> float:
    """``f`` rounded to a multiple of the 4 Hz analysis bin: no scalloping loss."""
    return 4.0 * round(f / 4.0)


def _peak_db(y: npt.NDArray[np.float64], rate: int, hz: float) -> float:
    """Level (dB re. amplitude 1) of the spectral peak near ``hz``."""
    w = _blackman_harris(len(y))
    spec = np.abs(np.fft.rfft(y * w)) / (w.sum() / 2)
    k = round(hz * len(y) / rate)
    lo, hi = max(0, k - 3), min(len(spec), k + 4)
    return float(20 * math.log10(max(spec[lo:hi].max(), 1e-12)))


def _soxr_float(src: int, dst: int, quality: str, phase: str) -> Callable[[Any, bool], Any]:
    """``process(x, last)`` of a float32 soxr stream built as ``StreamConverter``
    builds its own (same quality recipe and phase bits), so that the spectral
    figures see soxr's float output before the int16 rounding.

    ``python-soxr``'s ``ResampleStream`` offers linear phase only; other
    phases go through its extension type, as :mod:`voiceadapters.audio` does.
    """
    if phase != "linear":
        from soxr import soxr_ext  # type: ignore[import-untyped,unused-ignore]

        recipe = getattr(soxr, quality) | _PHASE_BITS[phase]
        args = (src, dst, 1, soxr_ext.SOXR_FLOAT32_I, recipe)
        try:
            stream = soxr_ext.CSoxr(*args, False)  # python-soxr >= 1.0: (…, vr)
        except TypeError:
            stream = soxr_ext.CSoxr(*args)  # python-soxr 0.4 and 0.5
        return stream.process_float32  # type: ignore[no-any-return]
    rs = soxr.ResampleStream(src, dst, 1, dtype="float32", quality=quality)
    return rs.resample_chunk  # type: ignore[no-any-return]


def _stream_float(src: int, dst: int, quality: str, phase: str, x: npt.NDArray[np.float64]) -> Any:
    """``x`` through the converter's soxr stream (float32) in 20 ms chunks, plus the tail."""
    process = _soxr_float(src, dst, quality, phase)
    n = src // 50
    xs = x.astype(np.float32).reshape(-1, 1)
    parts = [process(xs[i : i + n], False) for i in range(0, len(xs), n)]
    parts.append(process(np.zeros((0, 1), np.float32), True))
    return np.concatenate(parts)[:, 0].astype(np.float64)


def _spectral(src: int, dst: int, run: Callable[[npt.NDArray[np.float64]], Any]) -> dict[str, Any]:
    """Alias rejection and passband ripple of ``run`` (float in → float out, ±1 scale)."""
    amp_db = 20 * math.log10(0.9)

    def level(hz: float, at: float) -> float:
        y = run(_tone(src, hz, 0.5))
        mid = y[len(y) // 4 : len(y) // 4 + dst // 4]  # 0.25 s after the filter's start-up
        return _peak_db(mid, dst, at)

    tones = [_hz(f) for f in np.geomspace(_PASS_LO, _PASS_HI, 12)]
    ripple = max(abs(level(f, f) - amp_db) for f in tones)
    if dst < src:
        # Tones whose aliases (dst - f) would land in the passband (<= 7 kHz).
        probes = [_hz(f) for f in np.linspace(dst - _PASS_HI, src / 2 * 0.98, 6)]
        rejection = min(amp_db - level(f, dst - f) for f in probes)
    else:
        # Passband tones whose images (src - f) fall below the output's Nyquist frequency.
        probes = [_hz(f) for f in np.linspace(src - dst / 2 * 0.98, _PASS_HI, 6)]
        rejection = min(amp_db - level(f, src - f) for f in probes)
    return {"alias_rejection_db": rejection, "passband_ripple_db": ripple}


def _cost_us(convert: Convert, src: int, frames: int) -> float:
    x = (_tone(src, 440.0, frames / 50 + 0.1, 0.3) * 32767).astype("<i2").tobytes()
    fb = src // 50 * 2
    chunks = [x[i * fb : (i + 1) * fb] for i in range(frames)]
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for c in chunks:
            convert(c)
        best = min(best, time.perf_counter() - t0)
    return 1e6 * best / frames


def _delay(src: int, dst: int, convert: Convert, seconds: float) -> tuple[float, float]:
    """Mean and worst (input so far − output so far), ms, over ``seconds`` of 20 ms frames."""
    x = (_tone(src, 440.0, seconds, 0.3) * 32767).astype("<i2").tobytes()
    fb = src // 50 * 2
    fed = out = 0
    lags = []
    for i in range(0, len(x) - fb + 1, fb):
        out += len(convert(x[i : i + fb]))
        fed += fb
        lags.append(1000 * (fed / (2 * src) - out / (2 * dst)))
    return float(np.mean(lags)), float(max(lags))


def _ours(src: int, dst: int, quality: str, phase: str) -> dict[str, Any]:
    def make() -> Convert:
        return StreamConverter(
            AudioFormat(src), AudioFormat(dst), quality=quality, phase=phase
        ).convert

    return {"make": make, "float": lambda x: _stream_float(src, dst, quality, phase, x)}


def _ours_convert(src: int, dst: int) -> Convert:
    return StreamConverter(AudioFormat(src), AudioFormat(dst)).convert


def _bare(src: int, dst: int, quality: str) -> Convert:
    rs = soxr.ResampleStream(src, dst, 1, dtype="int16", quality=quality)
    return lambda b: bytes(rs.resample_chunk(np.frombuffer(b, np.int16)).tobytes())


def _pipecat() -> Any:
    """Pipecat's stream resampler class, or ``None`` when it is not installed."""
    try:
        from pipecat.audio.resamplers.soxr_stream_resampler import (  # type: ignore[import-not-found]
            SOXRStreamAudioResampler,
        )
    except Exception:
        return None
    return SOXRStreamAudioResampler


def _pipecat_convert(cls: Any, src: int, dst: int) -> Convert:
    resampler = cls()

    def convert(b: bytes) -> bytes:
        # Pipecat's resample() is a coroutine that never awaits: drive it by hand.
        coro = resampler.resample(b, src, dst)
        try:
            coro.send(None)
        except StopIteration as stop:
            return bytes(stop.value)
        coro.close()
        raise RuntimeError("pipecat resample() suspended")

    return convert


def _speech(rate: int, seconds: float) -> bytes:
    """The bundled speech sample at ``rate``, looped to ``seconds``."""
    pcm, fmt = speech_sample()
    if fmt.sample_rate != rate:
        conv = StreamConverter(fmt, AudioFormat(rate))
        pcm = conv.convert(pcm) + conv.flush()
    n = int(rate * seconds) * 2
    return (pcm * (n // len(pcm) + 1))[:n]


def _pause_loss_ms(make: Callable[[], Convert], src: int, dst: int, pause: float) -> float:
    """Audio (ms) skipped when the input pauses for ``pause`` seconds mid-stream.

    The same 2 s of speech is converted twice in 20 ms frames, once straight
    through and once with a pause after the first second; the output after
    the pause is then located in the uninterrupted output. A converter that
    keeps its state across the pause lines up exactly (0 ms); one that clears
    it (Pipecat's idle clear) has dropped what it held, and the rest of the
    stream comes early by that much.
    """
    x = _speech(src, 2.0)
    fb = src // 50 * 2
    half = len(x) // 2 // fb * fb

    def run(with_pause: bool) -> tuple[npt.NDArray[np.float64], int]:
        convert = make()
        parts: list[bytes] = []
        mark = 0
        for i in range(0, len(x) - fb + 1, fb):
            if i == half:
                mark = sum(len(p) for p in parts) // 2
                if with_pause:
                    time.sleep(pause)
            parts.append(convert(x[i : i + fb]))
        return np.frombuffer(b"".join(parts), "<i2").astype(np.float64), mark

    straight, _ = run(False)
    paused, mark = run(True)
    start = mark + dst // 10  # 100 ms after the pause
    piece = paused[start : start + dst * 3 // 10]
    lag, _ = best_alignment(piece, straight)
    return 1000 * (lag - start) / dst


def measure_resamplers(quick: bool = False) -> dict[str, Any]:
    """Every quality (and Pipecat when importable) at 16↔24 kHz; see the module docstring."""
    seconds = 2.0 if quick else 10.0
    frames = 300 if quick else 2000
    rows: list[dict[str, Any]] = []
    # Every quality at the default (minimum) phase, and the linear-phase
    # filters python-soxr's ResampleStream offers for the two best ones.
    subjects = [(q, DEFAULT_PHASE) for q in QUALITIES] + [("HQ", "linear"), ("VHQ", "linear")]
    for quality, phase in subjects:
        for src, dst in _RATES:
            ours = _ours(src, dst, quality, phase)
            mean, worst = _delay(src, dst, ours["make"](), seconds)
            bare_mean, bare_worst = _delay(src, dst, _bare(src, dst, quality), seconds)
            default = quality == DEFAULT_QUALITY and phase == DEFAULT_PHASE
            row: dict[str, Any] = {
                "subject": f"{quality} {phase}",
                "direction": f"{src // 1000}->{dst // 1000} kHz",
                "default": default,
                "us_per_frame": _cost_us(ours["make"](), src, frames),
                "floor_us_per_frame": _cost_us(_bare(src, dst, quality), src, frames),
                "delay_mean_ms": mean,
                "delay_worst_ms": worst,
                "floor_delay_mean_ms": bare_mean,
                "floor_delay_worst_ms": bare_worst,
            }
            row.update(_spectral(src, dst, ours["float"]))
            row["pause_loss_ms"] = None
            if default:
                row["pause_loss_ms"] = _pause_loss_ms(
                    functools.partial(_ours_convert, src, dst), src, dst, PAUSE
                )
            rows.append(row)
    pipecat = _pipecat()
    pipecat_note = "pipecat-ai is not installed (optional); not measured"
    if pipecat is not None:
        pipecat_note = "Pipecat SOXRStreamAudioResampler at its defaults (VHQ, int16 I/O)"
        for src, dst in _RATES:
            mean, worst = _delay(src, dst, _pipecat_convert(pipecat, src, dst), seconds)

            def run(x: npt.NDArray[np.float64], src: int = src, dst: int = dst) -> Any:
                conv = _pipecat_convert(pipecat, src, dst)
                b = (x * 32767).astype("<i2").tobytes()
                fb = src // 50 * 2
                out = b"".join(conv(b[i : i + fb]) for i in range(0, len(b), fb))
                return np.frombuffer(out, "<i2").astype(np.float64) / 32768

            row = {
                "subject": PIPECAT,
                "direction": f"{src // 1000}->{dst // 1000} kHz",
                "default": False,
                "us_per_frame": _cost_us(_pipecat_convert(pipecat, src, dst), src, frames),
                "floor_us_per_frame": _cost_us(_bare(src, dst, "VHQ"), src, frames),
                "delay_mean_ms": mean,
                "delay_worst_ms": worst,
                "floor_delay_mean_ms": None,
                "floor_delay_worst_ms": None,
            }
            row.update(_spectral(src, dst, run))
            row["pause_loss_ms"] = _pause_loss_ms(
                functools.partial(_pipecat_convert, pipecat, src, dst), src, dst, PAUSE
            )
            rows.append(row)
    return {"rows": rows, "pipecat": pipecat is not None, "pipecat_note": pipecat_note}
