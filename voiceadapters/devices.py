"""The audio-device seam of ``voiceadapters talk`` (docs/talk.md#devices).

Two small protocols, so that ``talk`` runs the same with a sound card or
with files:

* :class:`AudioInput` — a microphone: an async iterator of 16-bit PCM frames
  in its :attr:`~AudioInput.format`;
* :class:`AudioOutput` — a speaker: :meth:`~AudioOutput.play` queues PCM and
  returns at once, :meth:`~AudioOutput.clear` drops whatever is queued and
  not yet heard (an interruption), :meth:`~AudioOutput.drain` waits until
  the queue is played.

Implementations: :class:`SoundDeviceInput` / :class:`SoundDeviceOutput`
(PortAudio through ``sounddevice``, the ``talk`` extra) and
:class:`WavFileInput` / :class:`WavFileOutput`, stand-ins backed by WAV
files and paced like a device (real time, or ``speed`` times faster; 0: no
pacing). :func:`open_input` and :func:`open_output` choose one from a device
spec: ``file:PATH``, ``default``, or a PortAudio device index or name.

``sounddevice`` is imported only when a PortAudio device is asked for; when
it or PortAudio (or any device) is missing, :class:`AudioDeviceError` says
what to install or choose.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from .errors import VoiceAdaptersError
from .format import AudioFormat

__all__ = [
    "AudioDeviceError",
    "AudioInput",
    "AudioOutput",
    "SoundDeviceInput",
    "SoundDeviceOutput",
    "WavFileInput",
    "WavFileOutput",
    "open_input",
    "open_output",
]

#: Frame length of every input (the library's frame size).
FRAME_MS = 20

INSTALL_HINT = (
    "install the talk extra: pip install 'voiceadapters[talk]' "
    "(or use files: --input-device file:IN.wav --output-device file:OUT.wav)"
)


class AudioDeviceError(VoiceAdaptersError):
    """An audio device cannot be used: ``sounddevice`` or PortAudio is not
    installed, there is no such device, or a file cannot be read or written.
    The message says what is missing."""


@runtime_checkable
class AudioInput(Protocol):
    """A source of microphone audio."""

    @property
    def format(self) -> AudioFormat:
        """The format of the frames (16-bit PCM)."""
        ...

    def frames(self) -> AsyncIterator[bytes]:
        """Frames of :data:`FRAME_MS` as they are captured; ends when the
        source does (a file), never for a live microphone."""
        ...

    async def aclose(self) -> None: ...


@runtime_checkable
class AudioOutput(Protocol):
    """A sink that plays agent audio."""

    @property
    def format(self) -> AudioFormat:
        """The format :meth:`play` takes (16-bit PCM)."""
        ...

    def play(self, pcm: bytes) -> None:
        """Queue ``pcm`` for playback; returns at once."""
        ...

    def clear(self) -> int:
        """Drop everything queued and not yet played, at once; returns the
        bytes dropped."""
        ...

    async def drain(self, timeout: float | None = None) -> None:
        """Wait until everything queued has been played (at most ``timeout``)."""
        ...

    async def aclose(self) -> None: ...


# -- files ------------------------------------------------------------------------


class WavFileInput:
    """A microphone that "captures" a WAV file (16-bit PCM), in frames of
    :data:`FRAME_MS`, paced in real time (``speed=1``), ``speed`` times
    faster, or not at all (``speed=0``); then ``silence_after`` seconds of
    digital silence, like a user who stops talking."""

    def __init__(self, path: str | Path, *, speed: float = 1.0, silence_after: float = 1.0):
        from .audio import read_wav

        if not Path(path).is_file():
            raise AudioDeviceError(f"cannot read input file {path}: no such file")
        try:
            self._pcm, self._format = read_wav(path)
        except OSError as exc:
            raise AudioDeviceError(
                f"cannot read input file {path}: {exc.strerror or exc}"
            ) from None
        except (ValueError, VoiceAdaptersError) as exc:
            raise AudioDeviceError(f"input file {path} is not a 16-bit PCM WAV: {exc}") from None
        self.path = Path(path)
        self.speed = speed
        self.silence_after = silence_after
        self._closed = False

    @property
    def format(self) -> AudioFormat:
        return self._format

    async def frames(self) -> AsyncIterator[bytes]:
        fmt = self._format
        step = fmt.bytes_for(FRAME_MS / 1000)
        data = self._pcm + bytes(fmt.bytes_for(self.silence_after))
        interval = FRAME_MS / 1000 / self.speed if self.speed > 0 else 0.0
        next_at = time.monotonic()
        for i in range(0, len(data), step):
            if self._closed:
                return
            yield data[i : i + step]
            if interval:
                next_at += interval
                delay = next_at - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
            else:
                await asyncio.sleep(0)

    async def aclose(self) -> None:
        self._closed = True

    def __repr__(self) -> str:
        return f"WavFileInput({str(self.path)!r}, speed={self.speed:g})"


class WavFileOutput:
    """A speaker that "plays" into a WAV file: :meth:`play` queues, a
    playback clock takes :data:`FRAME_MS` from the queue every
    ``FRAME_MS / speed`` (``speed=0``: everything at once, so nothing is ever
    queued) and appends it to :attr:`played`; :meth:`clear` drops the queue.
    The file, written at :meth:`aclose`, holds what was played, in order —
    what a listener would have heard, without the gaps.
    """

    def __init__(self, path: str | Path, fmt: AudioFormat | None = None, *, speed: float = 1.0):
        self.path = Path(path)
        if not self.path.parent.is_dir():
            raise AudioDeviceError(f"cannot write output file {path}: no such directory")
        self._format = fmt or AudioFormat(16000)
        self.speed = speed
        self._queue = bytearray()
        #: Everything played so far.
        self.played = bytearray()
        #: How many times :meth:`clear` dropped something, and how much in all.
        self.clears = 0
        self.cleared_bytes = 0
        self._frame = self._format.bytes_for(FRAME_MS / 1000)
        self._task: asyncio.Task[None] | None = None
        self._idle = asyncio.Event()
        self._idle.set()
        self._wake = asyncio.Event()
        self._closed = False

    @property
    def format(self) -> AudioFormat:
        return self._format

    def play(self, pcm: bytes) -> None:
        if self._closed or not pcm:
            return
        if self.speed <= 0:
            self.played += pcm
            return
        self._queue += pcm
        self._idle.clear()
        self._wake.set()
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._playback())

    def clear(self) -> int:
        dropped = len(self._queue)
        if dropped:
            self.clears += 1
            self.cleared_bytes += dropped
            self._queue.clear()
        self._idle.set()
        return dropped

    async def _playback(self) -> None:
        interval = FRAME_MS / 1000 / self.speed
        next_at = time.monotonic()
        while not self._closed:
            if not self._queue:
                self._idle.set()
                self._wake.clear()
                await self._wake.wait()
                next_at = time.monotonic()
                continue
            chunk = bytes(self._queue[: self._frame])
            del self._queue[: self._frame]
            self.played += chunk
            next_at += interval * len(chunk) / self._frame
            delay = next_at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            if not self._queue:
                self._idle.set()

    async def drain(self, timeout: float | None = None) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._wake.set()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        from .audio import write_wav

        try:
            write_wav(self.path, bytes(self.played), self._format)
        except OSError as exc:
            raise AudioDeviceError(
                f"cannot write output file {self.path}: {exc.strerror or exc}"
            ) from None

    def __repr__(self) -> str:
        return f"WavFileOutput({str(self.path)!r}, speed={self.speed:g})"


# -- PortAudio (sounddevice) -------------------------------------------------------------


def _sounddevice() -> Any:
    """``sounddevice``, or :class:`AudioDeviceError` saying what is missing."""
    try:
        import sounddevice  # type: ignore[import-untyped]
    except ImportError:
        raise AudioDeviceError(
            f"the sounddevice package is not installed; {INSTALL_HINT}"
        ) from None
    except OSError as exc:  # sounddevice raises it when libportaudio cannot be loaded
        raise AudioDeviceError(
            f"sounddevice is installed but the PortAudio library is not ({exc}); install it "
            "(Debian/Ubuntu: apt-get install libportaudio2; Fedora: dnf install portaudio; "
            "macOS and Windows wheels of sounddevice include it), or use files: "
            "--input-device file:IN.wav --output-device file:OUT.wav"
        ) from None
    return sounddevice


def _device_info(sd: Any, device: int | str | None, kind: str) -> dict[str, Any]:
    try:
        info = sd.query_devices(device, kind)
    except (ValueError, sd.PortAudioError) as exc:
        which = "the default" if device is None else repr(device)
        raise AudioDeviceError(
            f"no {kind} audio device ({which}: {exc}); list them with "
            f"`python -m sounddevice` and choose one with --{kind}-device, or use a file "
            f"(--{kind}-device file:PATH.wav)"
        ) from None
    channels = info.get(f"max_{kind}_channels", 0)
    if not channels:
        raise AudioDeviceError(f"audio device {info.get('name')!r} has no {kind} channels")
    return dict(info)


class SoundDeviceInput:
    """The microphone through PortAudio: 16-bit mono frames of
    :data:`FRAME_MS` at the device's default sample rate (the session
    converts them to the provider's)."""

    def __init__(self, device: int | str | None = None) -> None:
        sd = _sounddevice()
        info = _device_info(sd, device, "input")
        self._format = AudioFormat(int(info["default_samplerate"]))
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=250)  # 5 s
        self.overflows = 0
        try:
            self._stream = sd.RawInputStream(
                samplerate=self._format.sample_rate,
                channels=1,
                dtype="int16",
                blocksize=self._format.sample_rate * FRAME_MS // 1000,
                device=device,
                callback=self._callback,
            )
            self._stream.start()
        except sd.PortAudioError as exc:
            raise AudioDeviceError(
                f"cannot open input device {info.get('name')!r}: {exc}"
            ) from None

    def _callback(self, indata: Any, frames: int, timing: Any, status: Any) -> None:
        # PortAudio's thread: hand the frame to the event loop.
        self._loop.call_soon_threadsafe(self._put, bytes(indata))

    def _put(self, frame: bytes) -> None:
        if self._queue.full():
            self.overflows += 1  # the session is not keeping up: drop the oldest
            self._queue.get_nowait()
        self._queue.put_nowait(frame)

    @property
    def format(self) -> AudioFormat:
        return self._format

    async def frames(self) -> AsyncIterator[bytes]:
        while True:
            yield await self._queue.get()

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.stop()
            self._stream.close()


class SoundDeviceOutput:
    """The speaker through PortAudio, at the device's default sample rate
    (mono): :meth:`play` appends to a buffer the audio callback reads from;
    :meth:`clear` empties it, so playback stops within one PortAudio block."""

    def __init__(self, device: int | str | None = None) -> None:
        sd = _sounddevice()
        info = _device_info(sd, device, "output")
        self._format = AudioFormat(int(info["default_samplerate"]))
        self._lock = threading.Lock()
        self._buffer: deque[bytes] = deque()
        self._pending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._loop = asyncio.get_running_loop()
        try:
            self._stream = sd.RawOutputStream(
                samplerate=self._format.sample_rate,
                channels=1,
                dtype="int16",
                blocksize=self._format.sample_rate * FRAME_MS // 1000,
                device=device,
                callback=self._callback,
            )
            self._stream.start()
        except sd.PortAudioError as exc:
            raise AudioDeviceError(
                f"cannot open output device {info.get('name')!r}: {exc}"
            ) from None

    def _callback(self, outdata: Any, frames: int, timing: Any, status: Any) -> None:
        need = len(outdata)
        out = bytearray()
        with self._lock:
            while self._buffer and len(out) < need:
                chunk = self._buffer.popleft()
                take = need - len(out)
                out += chunk[:take]
                if len(chunk) > take:
                    self._buffer.appendleft(chunk[take:])
            self._pending -= len(out)
            empty = not self._buffer
        outdata[:] = bytes(out) + bytes(need - len(out))
        if empty:
            self._loop.call_soon_threadsafe(self._idle.set)

    @property
    def format(self) -> AudioFormat:
        return self._format

    def play(self, pcm: bytes) -> None:
        with self._lock:
            self._buffer.append(pcm)
            self._pending += len(pcm)
        self._idle.clear()

    def clear(self) -> int:
        with self._lock:
            dropped = self._pending
            self._buffer.clear()
            self._pending = 0
        self._idle.set()
        return dropped

    async def drain(self, timeout: float | None = None) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout)

    async def aclose(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.stop()
            self._stream.close()


# -- choosing ---------------------------------------------------------------------------


def _portaudio_device(spec: str | None) -> int | str | None:
    if spec is None or spec in ("", "default"):
        return None
    return int(spec) if spec.isdigit() else spec


def open_input(spec: str | None, *, speed: float = 1.0) -> AudioInput:
    """The input for ``spec``: ``file:PATH`` (a WAV, paced by ``speed``),
    ``default`` / ``None`` (the default microphone), or a PortAudio device
    index or name. Call it from a running event loop."""
    if spec is not None and spec.startswith("file:"):
        return WavFileInput(spec[5:], speed=speed)
    return SoundDeviceInput(_portaudio_device(spec))


def open_output(spec: str | None, fmt: AudioFormat, *, speed: float = 1.0) -> AudioOutput:
    """The output for ``spec`` (as :func:`open_input`); a file is written in
    ``fmt``, a device plays at its own default rate."""
    if spec is not None and spec.startswith("file:"):
        return WavFileOutput(spec[5:], fmt, speed=speed)
    return SoundDeviceOutput(_portaudio_device(spec))
