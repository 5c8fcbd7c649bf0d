"""The session's audio and event processing, sans I/O.

Between the application and a codec, a session does pure work that has
nothing to do with sockets or the event loop:

* **audio in**: check the application's PCM (whole sample frames, or
  :class:`~voiceadapters.errors.AudioFormatError` before anything is
  consumed) and convert it to the codec's wire input format with a streaming
  soxr converter;
* **audio out**: convert each ``agent_audio`` to the application's output
  format and re-frame it into frames of ``output_frame_ms``; flush the
  converter at the end of every agent turn (``agent_audio_done``, a new turn,
  ``session_ended``) so no tail is lost; clear it only on ``interruption``;
* **fencing**: after ``interruption``, drop any later ``agent_audio`` of the
  interrupted turn (a codec should already do so; this is the safety net).

:class:`AudioPipeline` does exactly that and nothing else, so the
:class:`~voiceadapters.session.Session` (asyncio) and the conformance suite's
codec level (fake clock, no event loop) share one implementation.
"""

from __future__ import annotations

from .audio import Reframer, StreamConverter
from .events import AgentAudio, AgentAudioDone, Event, Interruption, SessionEnded
from .format import AudioFormat

__all__ = ["AudioPipeline"]

#: Where the flushes append: process()'s events, or audio()'s agent_audio only.
_Out = list[Event] | list[AgentAudio]


class AudioPipeline:
    """Application ⇄ wire audio and event post-processing for one session."""

    def __init__(
        self,
        wire_input: AudioFormat,
        input_format: AudioFormat,
        output_format: AudioFormat,
        output_frame_ms: int | None = 20,
    ) -> None:
        self.input_format = input_format
        self.output_format = output_format
        self._in = StreamConverter(input_format, wire_input)
        #: The application's microphone format is the wire's: :meth:`encode`
        #: would return its input unchanged (the session skips the call).
        self.input_passthrough = input_format == wire_input
        self._out: StreamConverter | None = None
        self._frames = (
            Reframer(output_format.bytes_for(output_frame_ms / 1000)) if output_frame_ms else None
        )
        self._turn_id: str | None = None
        #: Agent audio went in since the last flush (the converter may hold a
        #: tail). Read it; only the pipeline sets it.
        self.pending_output = False
        # The pass-through state (see process()): the format object and frame
        # size of agent audio that leaves unchanged, while nothing is held.
        self._pass_format: AudioFormat | None = None
        self._pass_bytes = 0
        self._fenced: set[str] = set()
        #: ``agent_audio`` events dropped because their turn was interrupted.
        self.fenced_audio_events = 0

    # -- application → wire ----------------------------------------------------

    def encode(self, pcm: bytes, *, checked: bool = False) -> bytes:
        """Application PCM → wire PCM (may be empty while the resampler fills).

        Raises :class:`~voiceadapters.errors.AudioFormatError` for partial sample
        frames, unless the caller already checked (``checked=True``).
        """
        if not checked:
            self.input_format.check(pcm, what="send_audio() data")
        return self._in.convert(pcm)

    def max_encoded(self, nbytes: int) -> int:
        """An upper bound of the wire bytes :meth:`encode` can return for
        ``nbytes`` of application audio (the resampler may release up to a few
        milliseconds it was holding)."""
        src, dst = self.input_format, self._in.dst
        if src == dst:
            return nbytes  # pass-through: exact
        frames = nbytes // src.frame_width
        out = frames * dst.sample_rate // src.sample_rate + dst.sample_rate // 25 + 2
        return out * dst.frame_width

    def flush_input(self) -> bytes:
        """The resampler's tail, at the end of the microphone stream."""
        return self._in.flush()

    # -- wire → application ----------------------------------------------------

    def process(self, events: list[Event]) -> list[Event]:
        """Codec events → application events (converted, re-framed, fenced)."""
        if len(events) == 1:
            # The hot path: one frame of agent audio, of the turn in progress,
            # in the format and frame size that pass through unchanged (a
            # provider whose wire format is the application's); _push found
            # that state and any other event or flush leaves it.
            event = events[0]
            if (
                type(event) is AgentAudio
                and event.format is self._pass_format
                and event.turn_id == self._turn_id
                and (self._pass_bytes == 0 or len(event.pcm) == self._pass_bytes)
            ):
                return events
        self._pass_format = None
        out: list[Event] = []
        for event in events:
            if isinstance(event, AgentAudio):
                if event.turn_id is not None and event.turn_id in self._fenced:
                    self.fenced_audio_events += 1
                    continue
                self._push(event, out)
            elif isinstance(event, AgentAudioDone | SessionEnded):
                self._flush(out)
                out.append(event)
            elif isinstance(event, Interruption):
                if event.turn_id is not None:
                    # Later audio of an unnamed turn cannot be told apart from
                    # the next turn's, so only named turns are fenced for good.
                    self._fenced.add(event.turn_id)
                if event.turn_id is None or event.turn_id == self._turn_id:
                    self._clear()
                out.append(event)
            else:
                out.append(event)
        return out

    def audio(self, pcm: bytes, fmt: AudioFormat, turn_id: str | None) -> list[AgentAudio]:
        """The codec's agent audio handed over without an event
        (:attr:`Codec.audio_sink <voiceadapters.codec.Codec.audio_sink>`):
        what :meth:`process` returns for ``[AgentAudio(pcm, fmt, turn_id)]``,
        but the ``agent_audio`` events it returns are always new ones."""
        if turn_id is not None and turn_id in self._fenced:
            self.fenced_audio_events += 1
            return []
        self._pass_format = None
        out: list[AgentAudio] = []
        if turn_id != self._turn_id:
            self._flush(out)
            self._turn_id = turn_id
        conv = self._out
        if conv is None or (conv.src is not fmt and conv.src != fmt):
            self._flush(out)
            conv = self._out = StreamConverter(fmt, self.output_format)
        pcm = conv.convert(pcm)
        self.pending_output = True
        # _emit(pcm, out, final=False) inlined: this runs for every message
        # of agent audio.
        if pcm:
            fmt = self.output_format
            frames = self._frames
            if frames is None:
                out.append(AgentAudio.new(pcm, fmt, turn_id))
            else:
                for chunk in frames.push(pcm):
                    out.append(AgentAudio.new(chunk, fmt, turn_id))
        return out

    def _push(self, event: AgentAudio, out: list[Event]) -> None:
        if event.turn_id != self._turn_id:
            self._flush(out)
            self._turn_id = event.turn_id
        conv = self._out
        # Identity first: codecs pass one format object around; equality of
        # two pydantic models costs more than the rest of this check.
        if conv is None or (conv.src is not event.format and conv.src != event.format):
            self._flush(out)
            conv = self._out = StreamConverter(event.format, self.output_format)
        pcm = conv.convert(event.pcm)
        frames = self._frames
        if pcm is event.pcm and (
            frames is None or (not frames.pending and len(pcm) == frames.frame_bytes)
        ):
            # Already in the output format and frame size (a provider whose
            # wire format is the application's): the codec's event is the
            # answer, and a copy would cost ~1.3 µs per frame for nothing.
            out.append(event)
            if event.turn_id is None or event.turn_id not in self._fenced:
                self._pass_format = event.format
                self._pass_bytes = 0 if frames is None else frames.frame_bytes
        else:
            self._emit(pcm, out, final=False)
        self.pending_output = True

    def end_of_connection(self) -> list[Event]:
        """The connection went and a new one follows (a reconnect): release
        the output converter's tail and forget the turns seen, since the new
        connection's turn ids may repeat the old ones."""
        out = self.flush_output()
        self._turn_id = None
        self._fenced.clear()
        return out

    def flush_output(self) -> list[Event]:
        """Release the output converter's tail now (for providers that never
        mark the end of a turn, after a pause in the agent's audio)."""
        out: list[Event] = []
        self._flush(out)
        return out

    def _flush(self, out: _Out) -> None:
        tail = self._out.flush() if self._out is not None else b""
        self._emit(tail, out, final=True)
        self.pending_output = False
        self._pass_format = None  # the next audio takes the whole path (and sets pending_output)

    def _clear(self) -> None:
        self._pass_format = None
        if self._out is not None:
            self._out.clear()
        if self._frames is not None:
            self._frames.flush(pad=False)

    def _emit(self, pcm: bytes, out: _Out, *, final: bool) -> None:
        fmt, turn = self.output_format, self._turn_id
        if self._frames is None:
            if pcm:
                out.append(AgentAudio.new(pcm, fmt, turn))
            return
        chunks = self._frames.push(pcm) if pcm else []
        if final:
            rest = self._frames.flush(pad=False)
            if rest:
                chunks.append(rest)
        # Plain construction, not model_construct: pydantic validates in Rust
        # (~1.1 µs per event, measured) while model_construct runs in Python (~2.3 µs).
        for c in chunks:
            out.append(AgentAudio.new(c, fmt, turn))
