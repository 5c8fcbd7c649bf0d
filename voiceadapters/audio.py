"""Audio plumbing: streaming format conversion, exact re-framing, WAV I/O, metrics.

Every provider wants 16-bit PCM, but not at the same rate (16 kHz in,
24 kHz out is common) nor in the same frame size, and callers hand us
whatever their microphone or file produced. This module is the one place
that bridges those differences, and it is on the per-20-ms-frame hot path,
so it is small and allocation-light.

Resampling and its latency
--------------------------
:class:`StreamConverter` keeps one soxr stream for the life of a stream. A
resampler is a filter with memory: resampling each chunk on its own
(``soxr.resample`` per chunk) would reset that memory every 20 ms, producing
clicks at every frame edge and the wrong number of samples. The price of a
streaming filter is latency: soxr holds input back until it has enough to
compute output, and it works in internal blocks, so output comes out in
bursts. Measured with soxr 1.1 (libsoxr 0.1.3) by feeding 10 s of audio in
20 ms frames through :class:`StreamConverter` and, after every frame, taking
*input duration fed so far minus output duration produced so far* (ms,
mean / worst over the stream, the same in both directions 16 ↔ 24 kHz)::

    quality   minimum phase    linear phase    alias rejection (min. phase)
    LQ         9.69 / 18.75    11.21 / 20.00   110 dB
    MQ        16.45 / 32.65    21.37 / 37.67   117 dB
    HQ        15.72 / 30.75    21.30 / 36.57   139 dB
    VHQ       34.44 / 68.75    42.40 / 76.25   169 dB

The figures include soxr's block-wise batching (the first 20 ms frame of
every quality but ``QQ`` produces no output at all), so they change with the
frame size; all of it comes out at :meth:`StreamConverter.flush`. (The
``QQ`` cubic interpolator adds ~0.1 ms but aliases audibly; it is accepted
but not recommended.)

The default is ``HQ`` at **minimum phase**. A linear-phase filter delays
every frequency by half its length; a minimum-phase filter with the same
magnitude response (the same passband, flat to 7 kHz within 0.0001 dB, and
139 dB of alias rejection) puts its energy first and delays speech ~5.6 ms
less each way, which a conversation hears twice per turn. Its phase is not
linear near the band edge, which no listener and no speech recogniser
notices; ``phase="linear"`` is there for the rest. ``HQ`` rather than
``MQ``: no more delay for a filter specified to 20-bit rather than 16-bit
precision. ``LQ`` is quicker still but its early roll-off is audible on
speech (a 7 kHz tone loses 12.8 dB at 16 kHz); ``VHQ`` doubles the delay for
precision far beyond what 16-bit audio carries. CPU is not the deciding
factor: creating an ``HQ`` stream takes ~25 µs and converting one 20 ms mono
frame ~7 µs for every quality.

The price is paid at set-up: libsoxr designs a minimum-phase filter when a
stream starts and after every flush or clear, ~0.65 ms of CPU (linear:
~0.03 ms), once per direction per session and once per agent turn; per
frame both cost the same. Streams are made on first use, so an idle session
holds none.

``python-soxr``'s ``ResampleStream`` only offers linear phase; minimum phase
goes through its extension type, which takes the whole libsoxr recipe. If a
future release changes that type, the converter falls back to linear phase
with a warning (and a test fails, so CI notices).

Why float32 inside, not soxr's int16 I/O
----------------------------------------
With ``dtype="int16"`` libsoxr applies TPDF dither to its 16-bit output. That
makes digital silence come out as ±1 LSB noise (so "is the reply silent?"
checks break), and because the dither sequence depends on where the chunk
boundaries fall, a chunked stream differs from a one-shot conversion of the
same audio by up to 2 LSB. :class:`StreamConverter` therefore feeds soxr
float32 (int16 values are exact in float32, so nothing is lost) and rounds
the result back to int16 itself. The output is then *bit-identical* however
the input is chunked (at linear phase also equal to
``numpy.rint(soxr.resample(x.astype(float32), ...))`` for the concatenated
input), and has exactly as many samples as a one-shot ``soxr.resample`` once
:meth:`StreamConverter.flush` has run. The extra cost is ~2 µs per frame.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import soxr  # type: ignore[import-untyped]
from pydantic import ValidationError

from .errors import AudioFormatError, ConfigError
from .format import AudioFormat

__all__ = [
    "DEFAULT_PHASE",
    "DEFAULT_QUALITY",
    "RESAMPLER_DELAY_MS",
    "EchoSimilarity",
    "Reframer",
    "StreamConverter",
    "array_to_pcm",
    "best_alignment",
    "echo_similarity",
    "is_wav",
    "parse_wav_bytes",
    "pcm_to_array",
    "read_wav",
    "resampler_delay_ms",
    "rms_dbfs",
    "wav_bytes",
    "write_wav",
]

DEFAULT_QUALITY: Final = "HQ"
"""soxr quality used unless told otherwise; see the module docstring for why."""

_QUALITIES: Final = ("QQ", "LQ", "MQ", "HQ", "VHQ")

DEFAULT_PHASE: Final = "minimum"
"""Phase response of the resampling filter unless told otherwise; see the module docstring."""

#: libsoxr recipe bits of each phase response (``soxr.h``: SOXR_LINEAR_PHASE,
#: SOXR_MINIMUM_PHASE), OR-ed into the quality recipe.
_PHASES: Final = {"linear": 0x00, "minimum": 0x30}
#: The delay a :class:`StreamConverter` adds, ``(mean, worst)`` ms, by
#: ``(quality, phase)``: the module docstring's table (20 ms frames, 16 ↔ 24
#: kHz, soxr 1.1), which the bench's ``resampler_delay_*`` figures re-measure.
#: ``QQ`` is ~0.1 ms at either phase.
RESAMPLER_DELAY_MS: Final[dict[tuple[str, str], tuple[float, float]]] = {
    ("QQ", "minimum"): (0.1, 0.1),
    ("QQ", "linear"): (0.1, 0.1),
    ("LQ", "minimum"): (9.69, 18.75),
    ("LQ", "linear"): (11.21, 20.00),
    ("MQ", "minimum"): (16.45, 32.65),
    ("MQ", "linear"): (21.37, 37.67),
    ("HQ", "minimum"): (15.72, 30.75),
    ("HQ", "linear"): (21.30, 36.57),
    ("VHQ", "minimum"): (34.44, 68.75),
    ("VHQ", "linear"): (42.40, 76.25),
}


def resampler_delay_ms(
    src: AudioFormat,
    dst: AudioFormat,
    *,
    quality: str = DEFAULT_QUALITY,
    phase: str = DEFAULT_PHASE,
) -> tuple[float, float]:
    """``(mean, worst)`` ms of delay a :class:`StreamConverter` from ``src``
    to ``dst`` adds (:data:`RESAMPLER_DELAY_MS`); ``(0.0, 0.0)`` when the
    sample rates are equal (nothing is held back)."""
    if src.sample_rate == dst.sample_rate:
        return (0.0, 0.0)
    return RESAMPLER_DELAY_MS[(quality, phase)]


_I16: Final = np.dtype("<i2")
# numpy scalars of soxr's output dtype: a Python float would be converted to
# an array scalar on every ufunc call (measured: 1.99 µs → 1.66 µs per frame).
_I16_MIN: Final = np.float32(-32768.0)
_I16_MAX: Final = np.float32(32767.0)


# --------------------------------------------------------------------------- conversion


class StreamConverter:
    """Convert a stream of raw PCM bytes from one :class:`AudioFormat` to another.

    Feed it chunks of any size (whole sample frames) with :meth:`convert`; at
    the end of a stream (an agent turn, a file) call :meth:`flush` to get the
    resampler's tail, or :meth:`clear` to drop it (after an interruption, the
    rest of the turn must not be heard). Either leaves the converter ready
    for the next stream, so one converter serves a whole session.

    Channels: mono to N duplicates the sample, N to mono averages. Other
    channel changes (2 to 4, say) have no single right answer and are
    refused. The channel change happens on whichever side of the resampler
    has fewer channels, so soxr never filters redundant copies.

    ``quality`` (``"QQ"`` … ``"VHQ"``) and ``phase`` (``"minimum"`` or
    ``"linear"``) choose soxr's filter; the module docstring has the delay
    each combination adds and why the defaults are ``HQ`` and minimum phase.
    """

    __slots__ = (
        "_clear",
        "_down",
        "_dst",
        "_empty",
        "_frame_width",
        "_process",
        "_same",
        "_src",
        "_stream",
        "_up",
    )

    def __init__(
        self,
        src: AudioFormat,
        dst: AudioFormat,
        *,
        quality: str = DEFAULT_QUALITY,
        phase: str = DEFAULT_PHASE,
    ) -> None:
        if quality not in _QUALITIES:
            raise ConfigError(
                f"unknown resampling quality {quality!r}; expected one of {', '.join(_QUALITIES)}"
            )
        if phase not in _PHASES:
            raise ConfigError(
                f"unknown resampling phase {phase!r}; expected one of {', '.join(_PHASES)}"
            )
        if src.channels != dst.channels and 1 not in (src.channels, dst.channels):
            raise AudioFormatError(
                f"cannot convert {src.channels} channels to {dst.channels}: only mono to N "
                f"(duplicate) and N to mono (average) channel changes are defined"
            )
        self._src = src
        self._frame_width = src.frame_width
        self._dst = dst
        # Channel count soxr works on: the smaller side, see class docstring.
        work = min(src.channels, dst.channels)
        self._down = src.channels if dst.channels < src.channels else 0
        self._up = dst.channels if dst.channels > src.channels else 0
        self._same = src == dst  # nothing to do: bytes pass straight through
        self._process: Any = None
        self._clear: Any = None
        self._empty: npt.NDArray[np.float32] = np.zeros((0, work), dtype=np.float32)
        # The soxr stream is made on first use: a minimum-phase HQ stream
        # holds ~29 KiB (measured, RSS per idle session), which a session
        # that has not sent or received audio yet does not need.
        self._stream: tuple[int, int, int, str, str] | None = (
            (src.sample_rate, dst.sample_rate, work, quality, phase)
            if src.sample_rate != dst.sample_rate
            else None
        )

    @property
    def src(self) -> AudioFormat:
        """Format of the bytes given to :meth:`convert`."""
        return self._src

    @property
    def dst(self) -> AudioFormat:
        """Format of the bytes returned."""
        return self._dst

    def convert(self, pcm: bytes) -> bytes:
        """Convert ``pcm`` (whole ``src`` sample frames) and return what is ready.

        While resampling, the output lags the input (see the module
        docstring); the lag comes out at :meth:`flush`. Partial frames raise
        :class:`AudioFormatError` before anything is consumed, so the caller
        can fix the chunk and retry.
        """
        if len(pcm) % self._frame_width:  # cached: this runs per 20 ms frame
            self._src.check(pcm, what="audio to convert")
        if self._same or not pcm:
            return pcm
        # Always (frames, channels), mono included: soxr takes 2-D input as
        # is, while 1-D input costs it an axis insertion and a squeeze
        # (measured: 4.85 against 5.24 µs per 20 ms frame at 16 → 24 kHz).
        x = np.frombuffer(pcm, dtype=_I16).reshape(-1, self._src.channels)
        process = self._process
        if process is None:
            if self._stream is None:  # a channel change only
                if self._down:
                    return _round_to_i16(x.mean(axis=1, dtype=np.float32)).tobytes()
                return np.repeat(x, self._up).tobytes()
            process, self._clear = _soxr_stream(*self._stream)
            self._process = process
        xf = x.mean(axis=1, dtype=np.float32, keepdims=True) if self._down else x.astype(np.float32)
        return self._emit(process(xf, False))

    def flush(self) -> bytes:
        """Return the resampler's remaining output and reset for a new stream.

        After ``flush`` the stream's total output has exactly the sample
        count of a one-shot ``soxr.resample`` of everything fed since the
        last reset. Without resampling there is nothing held back and this
        returns ``b""``.
        """
        if self._process is None:
            return b""
        tail = self._process(self._empty, True)
        # soxr refuses input after ``last=True`` until cleared.
        self._clear()
        return self._emit(tail)

    def clear(self) -> None:
        """Drop everything held back, producing no output, and reset for a new stream."""
        if self._clear is not None:
            self._clear()

    def _emit(self, y: npt.NDArray[np.float32]) -> bytes:
        """Round soxr's float output to int16 bytes, duplicating channels if upmixing."""
        if not y.size:
            return b""
        out = _round_to_i16(y)
        if self._up:
            out = np.repeat(out, self._up)
        return out.tobytes()

    def __repr__(self) -> str:
        return f"StreamConverter({self._src!r} -> {self._dst!r})"


def _soxr_stream(src: int, dst: int, channels: int, quality: str, phase: str) -> tuple[Any, Any]:
    """``(process, clear)`` of a float32 soxr stream: ``process(x, last)``
    takes and returns C-contiguous ``(frames, channels)`` arrays.

    ``python-soxr`` exposes only linear-phase presets through
    ``ResampleStream``; its extension type ``soxr_ext.CSoxr`` takes the whole
    libsoxr quality recipe, phase bits included. Minimum phase uses it, and
    falls back to linear phase (with a warning) if a future ``python-soxr``
    changes that type; a test keeps watch so that CI notices.
    """
    if phase != "linear":
        try:
            from soxr import soxr_ext

            recipe = getattr(soxr, quality) | _PHASES[phase]
            args = (src, dst, channels, soxr_ext.SOXR_FLOAT32_I, recipe)
            try:
                stream = soxr_ext.CSoxr(*args, False)  # python-soxr >= 1.0: (…, vr)
            except TypeError:
                stream = soxr_ext.CSoxr(*args)  # python-soxr 0.4 and 0.5
            return stream.process_float32, stream.clear
        except (ImportError, AttributeError, TypeError) as exc:
            _warn_phase_fallback(phase, exc)
    stream = soxr.ResampleStream(src, dst, channels, dtype="float32", quality=quality)
    return stream.resample_chunk, stream.clear


def _warn_phase_fallback(phase: str, exc: Exception) -> None:
    import logging

    logging.getLogger("voiceadapters.audio").warning(
        "this python-soxr has no %s-phase streams (%s); resampling with linear phase "
        "(about 6 ms more delay each way)",
        phase,
        type(exc).__name__,
    )


def _round_to_i16(y: npt.NDArray[np.floating[Any]]) -> npt.NDArray[np.int16]:
    """Round to nearest (ties to even) and saturate, instead of the wrap-around of a bare cast.

    Runs two or three times per 20 ms frame pair of a resampled session, so
    it calls the ufuncs in place: ``np.clip`` gives the same result but goes
    through Python-level wrappers first (measured on a 20 ms frame: 2.25 µs
    with ``minimum``/``maximum``, 3.16 µs with ``np.clip``, 1.43 µs with the
    ``clip`` ufunc itself, :func:`_clip_ufunc`).
    """
    y = np.rint(y, out=y)  # soxr hands us a fresh array: round it in place
    if _CLIP is not None:
        _CLIP(y, _I16_MIN, _I16_MAX, out=y)
    else:
        np.minimum(y, _I16_MAX, out=y)
        np.maximum(y, _I16_MIN, out=y)
    return y.astype(_I16)


def _clip_ufunc() -> Any:
    """The ``clip`` ufunc under ``np.clip``, or ``None``: called directly it
    saturates in one C call (measured on a 20 ms frame: 1.43 µs for this
    function against 2.1 µs with ``minimum`` and ``maximum``). It is not
    public NumPy API (``numpy._core.umath`` in 2.x, ``numpy.core.umath``
    before), hence the lookup and the fallback to ``minimum``/``maximum``;
    tests/test_audio.py holds the output bit-identical to ``np.clip`` of
    the rounded float path, overshoot past full scale included."""
    import importlib

    for name in ("numpy._core.umath", "numpy.core.umath"):
        try:
            clip = getattr(importlib.import_module(name), "clip", None)
        except ImportError:
            continue
        if isinstance(clip, np.ufunc):
            return clip
    return None


_CLIP: Any = _clip_ufunc()


# --------------------------------------------------------------------------- re-framing


class Reframer:
    """Cut a byte stream into frames of exactly ``frame_bytes`` bytes.

    Providers want fixed-size frames (say 20 ms), callers deliver whatever
    their source produces and the resampler emits bursts. The concatenation
    of every frame returned by :meth:`push` plus :meth:`flush` is always
    exactly the input, except for the zero padding ``flush(pad=True)`` adds.
    """

    __slots__ = ("_frame_bytes", "_rest")

    def __init__(self, frame_bytes: int) -> None:
        if frame_bytes <= 0 or frame_bytes % 2:
            raise AudioFormatError(
                f"frame size must be a positive even number of bytes (16-bit samples), "
                f"got {frame_bytes}"
            )
        self._frame_bytes = frame_bytes
        # The remainder is kept as immutable bytes, not a bytearray: it is
        # always shorter than a frame, so joining it to the next chunk is one
        # small copy, and whole frames are plain slices (measured in the
        # steady state of a resampled stream, one 20 ms frame in and out:
        # 0.31 µs against 1.07 µs with a bytearray and memoryview slices).
        self._rest = b""

    @property
    def frame_bytes(self) -> int:
        """Size of every frame :meth:`push` returns."""
        return self._frame_bytes

    @property
    def pending(self) -> int:
        """Bytes held back, waiting to complete a frame (always < ``frame_bytes``)."""
        return len(self._rest)

    def push(self, data: bytes) -> list[bytes]:
        """Add ``data``; return every complete frame now available, oldest first."""
        fb = self._frame_bytes
        if self._rest:
            data = self._rest + data
        elif type(data) is not bytes:
            data = bytes(data)  # frames are always bytes, whatever came in
        n = len(data)
        if n < fb:
            self._rest = data
            return []
        if n < 2 * fb:  # the common case: at most one frame per chunk
            self._rest = data[fb:]
            return [data if n == fb else data[:fb]]
        whole = n - n % fb
        self._rest = data[whole:]
        return [data[i : i + fb] for i in range(0, whole, fb)]

    def flush(self, *, pad: bool) -> bytes | None:
        """Return and forget the held-back remainder (``None`` if there is none).

        With ``pad=True`` the remainder is completed with zero bytes (digital
        silence) to one full frame, for transports that only accept whole
        frames; otherwise it is returned as-is.
        """
        out = self._rest
        if not out:
            return None
        self._rest = b""
        if pad:
            out += bytes(self._frame_bytes - len(out))
        return out

    def __repr__(self) -> str:
        return f"Reframer(frame_bytes={self._frame_bytes}, pending={len(self._rest)})"


# --------------------------------------------------------------------------- WAV

_WAVE_FORMAT_PCM: Final = 0x0001
_WAVE_FORMAT_EXTENSIBLE: Final = 0xFFFE
# KSDATAFORMAT_SUBTYPE_PCM: {00000001-0000-0010-8000-00aa00389b71}, little-endian on disk.
_SUBTYPE_PCM: Final = bytes.fromhex("0100000000001000800000aa00389b71")
_FORMAT_NAMES: Final = {
    0x0002: "Microsoft ADPCM",
    0x0003: "IEEE float",
    0x0006: "A-law",
    0x0007: "mu-law",
    0x0011: "IMA ADPCM",
    0x0055: "MPEG Layer 3",
}
_STREAMING_SIZES: Final = (0, 0xFFFFFFFF)


def is_wav(data: bytes) -> bool:
    """Whether ``data`` starts like a RIFF/WAVE file (cheap sniffing; no validation)."""
    return len(data) >= 12 and data[:4] == b"RIFF" and data[8:12] == b"WAVE"


def parse_wav_bytes(data: bytes) -> tuple[bytes, AudioFormat]:
    """Parse an in-memory 16-bit PCM WAV file into ``(pcm, format)``.

    Walks the RIFF chunks instead of assuming the 44-byte canonical header,
    because real files carry ``LIST``/``fact``/``bext`` chunks and
    ``WAVE_FORMAT_EXTENSIBLE`` headers. WAVs written while streaming (for
    example by a TTS endpoint that cannot know the length up front) carry a
    data size of 0 or 0xFFFFFFFF; the data is then taken to be the rest of
    the blob. The RIFF size field is ignored for the same reason.

    Raises :class:`AudioFormatError` saying what is wrong: not RIFF/WAVE,
    truncated, missing ``fmt `` or ``data`` chunk, not PCM, not 16-bit, or
    a data chunk that is not a whole number of sample frames.
    """
    return _parse_wav(data, "WAV data")


def _parse_wav(data: bytes, what: str) -> tuple[bytes, AudioFormat]:
    n = len(data)
    if n < 12:
        if b"RIFF".startswith(data[:4]):
            raise AudioFormatError(
                f"{what} is truncated: {n} bytes, shorter than the 12-byte RIFF/WAVE header"
            )
        raise AudioFormatError(f"{what} is not a WAV file (no RIFF/WAVE header)")
    if not is_wav(data):
        raise AudioFormatError(
            f"{what} is not a WAV file: starts with {data[:4]!r}...{data[8:12]!r}, "
            f"expected b'RIFF'...b'WAVE'"
        )
    fmt: AudioFormat | None = None
    pcm: bytes | None = None
    pos = 12
    while pos + 8 <= n and (fmt is None or pcm is None):
        cid, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if cid == b"data":
            if size in _STREAMING_SIZES:
                pcm = data[body:]
                pos = n
                continue
            if body + size > n:
                raise AudioFormatError(
                    f"{what} is truncated: the data chunk declares {size} bytes "
                    f"but only {n - body} follow"
                )
            pcm = data[body : body + size]
        else:
            if body + size > n:
                raise AudioFormatError(
                    f"{what} is truncated: the {_chunk_name(cid)} chunk declares {size} bytes "
                    f"but only {n - body} follow"
                )
            if cid == b"fmt ":
                fmt = _parse_fmt(data[body : body + size], what)
        pos = body + size + (size & 1)  # chunks are padded to an even length
    if fmt is None or pcm is None:
        if 0 < n - pos < 8:
            raise AudioFormatError(
                f"{what} is truncated: {n - pos} stray bytes at offset {pos} where an "
                f"8-byte chunk header should be"
            )
        if fmt is None:
            raise AudioFormatError(f"{what} has no 'fmt ' chunk, so its sample format is unknown")
        raise AudioFormatError(f"{what} has no 'data' chunk")
    if len(pcm) % fmt.frame_width:
        raise AudioFormatError(
            f"{what} has a data chunk of {len(pcm)} bytes, which is not a whole number of "
            f"{fmt.frame_width}-byte sample frames for {fmt}"
        )
    return pcm, fmt


def _chunk_name(cid: bytes) -> str:
    return repr(cid.decode("latin-1"))


def _parse_fmt(body: bytes, what: str) -> AudioFormat:
    if len(body) < 16:
        raise AudioFormatError(f"{what} has a 'fmt ' chunk of {len(body)} bytes; at least 16")
    tag, channels, rate, _byte_rate, _block_align, bits = struct.unpack_from("<HHIIHH", body)
    if tag == _WAVE_FORMAT_EXTENSIBLE:
        if len(body) < 40:
            raise AudioFormatError(
                f"{what} declares WAVE_FORMAT_EXTENSIBLE but its 'fmt ' chunk has only "
                f"{len(body)} bytes (needs 40)"
            )
        if body[24:40] != _SUBTYPE_PCM:
            sub = struct.unpack_from("<H", body, 24)[0]
            raise AudioFormatError(
                f"{what} is WAVE_FORMAT_EXTENSIBLE with sub-format "
                f"{_format_name(sub)}; only PCM is supported"
            )
    elif tag != _WAVE_FORMAT_PCM:
        raise AudioFormatError(
            f"{what} is encoded as format tag {_format_name(tag)}; only uncompressed 16-bit PCM "
            f"(format tag 1) is supported"
        )
    if bits != 16:
        raise AudioFormatError(
            f"{what} has {bits}-bit samples; only 16-bit PCM is supported "
            f"(convert it first, e.g. `sox in.wav -b 16 out.wav`)"
        )
    try:
        return AudioFormat(rate, channels)
    except ValidationError as exc:
        raise AudioFormatError(
            f"{what} declares an unsupported layout: {rate} Hz, {channels} channels"
        ) from exc


def _format_name(tag: int) -> str:
    name = _FORMAT_NAMES.get(tag)
    return f"{tag:#06x} ({name})" if name else f"{tag:#06x}"


def read_wav(path: str | os.PathLike[str]) -> tuple[bytes, AudioFormat]:
    """Read a 16-bit PCM WAV file into ``(pcm, format)``.

    Same parser (and the same tolerance) as :func:`parse_wav_bytes`; errors,
    including an unreadable file, are :class:`AudioFormatError` naming the path.
    """
    where = f"WAV file {os.fspath(path)!r}"
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AudioFormatError(f"{where} cannot be read: {exc.strerror or exc}") from exc
    return _parse_wav(data, where)


def wav_bytes(pcm: bytes, fmt: AudioFormat) -> bytes:
    """Build a canonical 44-byte-header PCM WAV file in memory."""
    fmt.check(pcm, what="audio to write as WAV")
    n = len(pcm)
    if n > 0xFFFFFFFF - 36:
        raise AudioFormatError(f"{n} bytes of audio do not fit in a WAV file (4 GiB limit)")
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + n,
        b"WAVE",
        b"fmt ",
        16,
        _WAVE_FORMAT_PCM,
        fmt.channels,
        fmt.sample_rate,
        fmt.bytes_per_second,
        fmt.frame_width,
        16,
        b"data",
        n,
    )
    return header + pcm


def write_wav(path: str | os.PathLike[str], pcm: bytes, fmt: AudioFormat) -> None:
    """Write ``pcm`` as a 16-bit PCM WAV file (canonical 44-byte header)."""
    Path(path).write_bytes(wav_bytes(pcm, fmt))


# --------------------------------------------------------------------------- numeric helpers


def pcm_to_array(pcm: bytes) -> npt.NDArray[np.int16]:
    """View 16-bit little-endian PCM bytes as a read-only int16 array (no copy).

    Multichannel audio stays interleaved; ``.reshape(-1, channels)`` it.
    """
    if len(pcm) % 2:
        raise AudioFormatError(
            f"audio has {len(pcm)} bytes, which is not a whole number of 2-byte samples"
        )
    return np.frombuffer(pcm, dtype=_I16)


def array_to_pcm(a: npt.ArrayLike) -> bytes:
    """Encode samples as 16-bit little-endian PCM bytes.

    Integer arrays are sample values and are saturated to the int16 range.
    Floating-point arrays follow the usual audio convention of ±1.0 full
    scale: they are scaled by 32768, rounded and saturated, so
    ``array_to_pcm(0.5 * np.sin(...))`` is a half-scale sine.
    """
    arr = np.asarray(a)
    if arr.dtype == _I16:
        return arr.tobytes()
    if np.issubdtype(arr.dtype, np.floating):
        return _round_to_i16(arr.astype(np.float64) * 32768.0).tobytes()
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        clipped: npt.NDArray[np.int16] = np.clip(arr, -32768, 32767).astype(_I16)
        return clipped.tobytes()
    raise TypeError(f"cannot encode an array of {arr.dtype} as PCM")


def rms_dbfs(pcm: bytes) -> float:
    """RMS level of 16-bit PCM in dB relative to full scale (32768); ``-inf`` if silent.

    Full scale is a full-scale *square* wave, so a full-scale sine reads
    about -3.01 dBFS. All channels count together.
    """
    x = pcm_to_array(pcm)
    if not x.size:
        return -math.inf
    xf = x.astype(np.float64)
    ms = float(np.dot(xf, xf)) / x.size
    if ms == 0.0:
        return -math.inf
    return 10.0 * math.log10(ms / (32768.0 * 32768.0))


def best_alignment(reference: npt.ArrayLike, signal: npt.ArrayLike) -> tuple[int, float]:
    """Find where ``reference`` occurs in ``signal``: return ``(lag, ncc)``.

    ``lag`` is the delay of ``signal`` relative to ``reference`` in samples:
    ``signal[n + lag]`` lines up with ``reference[n]`` (negative when the
    signal starts inside the reference). It maximises the cross-correlation
    normalised by the total energies, computed with one FFT, which is the
    lag that puts the most of ``reference`` on matching audio; normalising
    per overlap instead would let a few chance samples at the very edges
    score 1.0.

    ``ncc`` is the normalised dot product ``sum(a*b) / sqrt(sum(a²) sum(b²))``
    over the overlap at that lag (no mean removal): 1.0 for an exact scaled
    copy, near 0 for unrelated audio, 0.0 if either side is silent or there
    is no overlap. This is how "the echoed utterance matches the input"
    is proved in the tests.
    """
    ref = np.asarray(reference, dtype=np.float64)
    sig = np.asarray(signal, dtype=np.float64)
    if ref.ndim != 1 or sig.ndim != 1:
        raise ValueError("best_alignment needs 1-D (mono) arrays")
    r, s = ref.size, sig.size
    if not r or not s:
        return 0, 0.0
    nfft = 1 << (r + s - 2).bit_length()  # >= r + s - 1: no circular wrap-around
    spec = np.fft.rfft(sig, nfft) * np.conj(np.fft.rfft(ref, nfft))
    corr = np.fft.irfft(spec, nfft)
    # corr[k] = sum_n sig[n + k] * ref[n]; negative k wrap to the end.
    lags_corr = np.concatenate((corr[nfft - (r - 1) :], corr[:s]))
    lag = int(np.argmax(lags_corr)) - (r - 1)
    if lag >= 0:
        m = min(r, s - lag)
        a, b = ref[:m], sig[lag : lag + m]
    else:
        m = min(r + lag, s)
        a, b = ref[-lag : -lag + m], sig[:m]
    denom = math.sqrt(float(np.dot(a, a)) * float(np.dot(b, b)))
    if denom == 0.0:
        return lag, 0.0
    return lag, float(np.dot(a, b)) / denom


@dataclass(frozen=True, slots=True)
class EchoSimilarity:
    """How closely an echo matches its reference (:func:`echo_similarity`)."""

    #: Waveform lag and normalized cross-correlation (:func:`best_alignment`).
    lag: int
    ncc: float
    #: Pearson correlation of the 20 ms energy envelopes (dB), after alignment.
    envelope: float
    #: Mean cosine similarity of the 20 ms magnitude spectra over the
    #: reference's voiced frames, after alignment.
    spectral: float
    #: The largest local time shift the alignment used on a voiced frame, in seconds.
    warp: float


#: Frame of :func:`echo_similarity` (seconds) and its envelope floor and
#: voiced range, in dB below the reference's loudest frame.
_ECHO_FRAME = 0.02
_ECHO_FLOOR_DB = 50.0
_ECHO_VOICED_DB = 30.0


def _frame_features(
    x: npt.NDArray[np.float64], n: int, floor: float | None
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.float64]]:
    frames = x[: x.size // n * n].reshape(-1, n)
    level = 10.0 * np.log10(np.mean(frames * frames, axis=1) / (32768.0 * 32768.0) + 1e-12)
    if floor is not None:
        level = np.maximum(level, floor)
    spectra = np.abs(np.fft.rfft(frames * np.hanning(n), axis=1))
    return level, spectra


def echo_similarity(
    reference: npt.ArrayLike, signal: npt.ArrayLike, sample_rate: int, *, max_warp: float = 0.1
) -> EchoSimilarity:
    """Compare an echo by what a lossy codec keeps: energy envelope and spectrum.

    A codec like Opus keeps what is heard (the spectrum and the loudness over
    time) but not the phase, and a receiver's jitter buffer may stretch or
    squeeze time by a few tens of milliseconds when packets arrive late
    (libwebrtc NetEq's expand and accelerate), so a single-lag waveform
    correlation (:func:`best_alignment`, still reported as ``ncc``) says
    little there. This function:

    1. finds the lag of ``signal`` against ``reference`` by cross-correlating
       their 10 ms RMS envelopes (no phase involved);
    2. cuts 20 ms frames (Hann-windowed magnitude spectra, energy in dBFS
       floored 50 dB below the reference's loudest frame) over the
       reference's whole extent, the signal's missing part counting as
       silence;
    3. aligns the frames by dynamic time warping limited to ``max_warp``
       seconds either way (cost: the level difference, plus one minus the
       spectral cosine on the reference's voiced frames, those within 30 dB
       of its loudest);
    4. reports ``envelope``, the Pearson correlation of the aligned levels,
       and ``spectral``, the mean spectral cosine over the voiced frames
       (1.0 for a copy; silence or unrelated audio score far lower).

    Audio that is missing, truncated, or shifted by more than ``max_warp``
    cannot be warped away. Both arrays are mono samples at ``sample_rate``.
    """
    ref = np.asarray(reference, dtype=np.float64)
    sig = np.asarray(signal, dtype=np.float64)
    if ref.ndim != 1 or sig.ndim != 1:
        raise ValueError("echo_similarity needs 1-D (mono) arrays")
    if sample_rate <= 0:
        raise ValueError("sample_rate must be positive")
    lag, ncc = best_alignment(ref, sig)
    n = max(1, round(sample_rate * _ECHO_FRAME))
    if ref.size < n or sig.size == 0:
        return EchoSimilarity(lag, ncc, 0.0, 0.0, 0.0)
    # 1. The envelope lag, in 10 ms steps.
    hop = max(1, n // 2)

    def rms(x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        f = x[: x.size // hop * hop].reshape(-1, hop)
        out: npt.NDArray[np.float64] = np.sqrt(np.mean(f * f, axis=1))
        return out

    er, es = rms(ref), rms(sig)
    if not er.size or not es.size or not er.any() or not es.any():
        return EchoSimilarity(lag, ncc, 0.0, 0.0, 0.0)
    corr = np.correlate(es - es.mean(), er - er.mean(), mode="full")  # lags -(len(er)-1)..
    env_lag = (int(np.argmax(corr)) - (er.size - 1)) * hop
    if abs(lag - env_lag) <= hop:
        env_lag = lag  # the waveform's lag is the finer one when they agree
    # 2. Frames over the reference's extent, with max_warp of margin.
    radius = max(0, round(max_warp / _ECHO_FRAME))
    margin = radius * n
    start = env_lag - margin
    width = ref.size // n * n + 2 * margin
    seg = np.zeros(width)
    lo, hi = max(0, start), min(sig.size, start + width)
    if hi > lo:
        seg[lo - start : hi - start] = sig[lo:hi]
    ref_level, ref_spec = _frame_features(ref, n, None)
    top = float(ref_level.max())
    floor = top - _ECHO_FLOOR_DB
    ref_level = np.maximum(ref_level, floor)
    sig_level, sig_spec = _frame_features(seg, n, floor)
    voiced = ref_level > top - _ECHO_VOICED_DB
    norms_r = np.linalg.norm(ref_spec, axis=1)
    norms_s = np.linalg.norm(sig_spec, axis=1)
    # 3. Banded dynamic time warping: reference frame i meets signal frame
    # i + k, k in [0, 2 * radius] (k == radius: no shift).
    frames, band = ref_level.size, 2 * radius + 1
    cos = np.zeros((frames, band))
    for k in range(band):
        j = np.arange(frames) + k
        dot = np.sum(ref_spec * sig_spec[j], axis=1)
        den = norms_r * norms_s[j]
        cos[:, k] = np.divide(dot, den, out=np.zeros(frames), where=den > 0)
    level_cost = np.abs(
        ref_level[:, None] - sig_level[np.arange(frames)[:, None] + np.arange(band)]
    )
    cost = level_cost / _ECHO_FLOOR_DB + np.where(voiced[:, None], 1.0 - cos, 0.0)
    acc = np.full((frames, band), np.inf)
    back = np.zeros(
        (frames, band), dtype=np.int8
    )  # 0: diagonal, 1: from (i-1, k+1), 2: from (i, k-1)
    acc[0] = np.cumsum(cost[0])  # the first reference frame may absorb a late start
    back[0, 1:] = 2
    for i in range(1, frames):
        diag = acc[i - 1]
        up = np.concatenate((acc[i - 1, 1:], [np.inf]))  # signal stood still
        row = np.minimum(diag, up)
        choice = np.where(up < diag, 1, 0).astype(np.int8)
        row = row + cost[i]
        for k in range(1, band):  # signal ran ahead (sequential within the row)
            ahead = row[k - 1] + cost[i, k]
            if ahead < row[k]:
                row[k] = ahead
                choice[k] = 2
        acc[i], back[i] = row, choice
    # Backtrack: the matched shift of each reference frame.
    match = np.full(frames, -1, dtype=np.int64)
    i, k = frames - 1, int(np.argmin(acc[-1]))
    while i >= 0:
        if match[i] < 0:
            match[i] = k
        step = back[i, k]
        if step == 2 and k > 0:
            k -= 1
            continue
        if step == 1:
            k += 1
        i -= 1
    idx = np.arange(frames)
    aligned_level = sig_level[idx + match]
    if ref_level.std() > 0 and aligned_level.std() > 0:
        envelope = float(np.corrcoef(ref_level, aligned_level)[0, 1])
    else:
        envelope = 0.0
    spectral = float(np.mean(cos[idx, match][voiced])) if voiced.any() else 0.0
    shifts = np.abs(match - radius)[voiced]  # in silence any shift fits
    warp = float(shifts.max()) * _ECHO_FRAME if shifts.size else 0.0
    return EchoSimilarity(lag, ncc, envelope, spectral, warp)
