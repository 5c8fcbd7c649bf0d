"""`AudioFormat`: what a buffer of raw PCM bytes means.

Kept apart from :mod:`voiceadapters.audio` so that events (which carry a
format) can be imported without numpy and soxr.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import AudioFormatError

__all__ = ["AudioFormat", "Encoding"]

Encoding = Literal["pcm_s16le"]


class AudioFormat(BaseModel):
    """Raw interleaved PCM: sample rate, channel count and encoding.

    Only signed 16-bit little-endian PCM (``pcm_s16le``) is defined today; it
    is what every covered provider puts on the wire.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    sample_rate: int = Field(gt=0, le=384_000)
    channels: int = Field(default=1, ge=1, le=8)
    encoding: Encoding = "pcm_s16le"

    def __init__(self, sample_rate: int, channels: int = 1, encoding: Encoding = "pcm_s16le"):
        super().__init__(sample_rate=sample_rate, channels=channels, encoding=encoding)

    @property
    def sample_width(self) -> int:
        """Bytes per sample of one channel."""
        return 2

    @property
    def frame_width(self) -> int:
        """Bytes per sample frame (one sample of every channel)."""
        return 2 * self.channels

    @property
    def bytes_per_second(self) -> int:
        return self.sample_rate * self.frame_width

    def bytes_for(self, seconds: float) -> int:
        """Whole-frame byte count for ``seconds`` of audio (rounded down)."""
        return int(self.sample_rate * seconds) * self.frame_width

    def duration(self, nbytes: int) -> float:
        """Seconds of audio in ``nbytes`` bytes."""
        return nbytes / self.bytes_per_second

    def check(self, pcm: bytes | bytearray | memoryview, *, what: str = "audio") -> None:
        """Raise :class:`AudioFormatError` unless ``pcm`` holds whole sample frames."""
        n = len(pcm)
        if n % (2 * self.channels):  # frame_width, inlined: this runs per 20 ms frame
            raise AudioFormatError(
                f"{what} has {n} bytes, which is not a whole number of "
                f"{self.frame_width}-byte sample frames for {self}"
            )

    def __str__(self) -> str:
        ch = "mono" if self.channels == 1 else f"{self.channels} ch"
        return f"{self.encoding} {self.sample_rate} Hz {ch}"

    def __repr__(self) -> str:
        return f"AudioFormat({self.sample_rate}, channels={self.channels})"
