"""Steady-state WebSocket messages, as the codec and the driver exchange them.

A codec receives :data:`Frame` values (one whole message each: ``str`` for a
text frame, ``bytes`` for a binary frame) and queues :data:`OutFrame` values,
which may also be a :class:`CloseFrame` asking the driver for the closing
handshake. The handshake's own values (HTTP requests, the WebSocket to open)
live in :mod:`voiceadapters.handshake`; this module is what flows once the
connection is open.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CloseFrame", "Frame", "OutFrame"]


@dataclass(frozen=True, slots=True)
class CloseFrame:
    """Ask the driver to close the WebSocket with ``code`` and ``reason``."""

    code: int = 1000
    reason: str = ""


#: A WebSocket message: ``str`` is a text frame, ``bytes`` a binary frame.
Frame = str | bytes
#: What a codec asks the driver to send: a message, or the closing handshake.
OutFrame = str | bytes | CloseFrame
