"""Steady-state WebSocket messages, as the codec and the driver exchange them.

A codec receives :data:`Frame` values (one whole message each: ``str`` for a
text frame, ``bytes`` for a binary frame) and queues :data:`OutFrame` values,
which may also be a :class:`CloseFrame` asking the driver for the closing
handshake, or — on a media connection (a WebRTC room, joined with a
:class:`~voiceadapters.handshake.MediaRequest`) — :class:`TrackAudio`: audio
for the outgoing media track rather than a message. Audio arriving on the
provider's track is not a ``Frame`` either: the connection hands it to
``Receiver.audio_received`` and the driver to ``Codec.receive_track_audio``. The handshake's own values (HTTP requests, the WebSocket to open)
live in :mod:`voiceadapters.handshake`; this module is what flows once the
connection is open.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CloseFrame", "Frame", "OutFrame", "TrackAudio"]


@dataclass(frozen=True, slots=True)
class CloseFrame:
    """Ask the driver to close the WebSocket with ``code`` and ``reason``."""

    code: int = 1000
    reason: str = ""


@dataclass(frozen=True, slots=True)
class TrackAudio:
    """Ask the driver to play ``pcm`` on the media connection's outgoing
    audio track (the microphone): signed 16-bit mono PCM in the codec's
    ``wire_input`` format, the format the connection's track was opened with
    (:attr:`~voiceadapters.handshake.MediaRequest.input_format`)."""

    pcm: bytes

    def __len__(self) -> int:
        return len(self.pcm)


#: A WebSocket message: ``str`` is a text frame, ``bytes`` a binary frame.
Frame = str | bytes
#: What a codec asks the driver to send: a message, the closing handshake, or
#: audio for a media connection's track.
OutFrame = str | bytes | CloseFrame | TrackAudio
