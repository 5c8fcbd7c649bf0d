"""Reading fields of a provider's JSON messages, for codecs.

A provider message of a known type whose field is missing or of the wrong
type is *peer misbehaviour*: the codec reports it as a non-fatal
``provider_error`` ``malformed_message`` naming the message type and the field,
and goes on (design §2). These helpers check one value each and raise
:class:`MalformedField` when it does not fit; a codec catches it around its
handler for the message and calls :meth:`voiceadapters.codec.Codec._malformed`.

They take the *value* (already looked up), so a codec that reads fields from
two places (a nested ``data`` object or the top level, say) looks them up its
own way and still checks them the same way.

:func:`number` never raises: a score or a confidence that is not a finite
number in range is treated as absent, and a 400-digit integer (which
``float()`` cannot convert) is absent too rather than an ``OverflowError``.

:func:`base64_data` decodes an audio field; what is not strict base64
raises ``ValueError`` (``binascii.Error``), which a codec reports as
``malformed_audio`` and skips the chunk.
"""

from __future__ import annotations

import base64
import binascii
import math
import sys
from typing import Any

__all__ = ["MalformedField", "base64_data", "boolean", "number", "optional_string", "string"]


class MalformedField(Exception):
    """A field of a known message is missing or of the wrong type."""

    def __init__(self, field: str, expected: str) -> None:
        super().__init__(field, expected)
        self.field = field
        self.expected = expected

    def __str__(self) -> str:
        return f"field {self.field!r} must be {self.expected}"


def string(value: Any, field: str) -> str:
    """``value`` if it is a ``str``; else :class:`MalformedField` (a missing field too)."""
    if not isinstance(value, str):
        raise MalformedField(field, "a string")
    return value


def optional_string(value: Any, field: str, default: str | None = None) -> str | None:
    """``value`` if it is a ``str``, ``default`` if it is ``None`` (absent or null);
    anything else raises :class:`MalformedField`."""
    if value is None:
        return default
    if not isinstance(value, str):
        raise MalformedField(field, "a string")
    return value


def boolean(value: Any, field: str, default: bool) -> bool:
    """``value`` if it is a ``bool``, ``default`` if it is ``None``; anything
    else (``1``, ``"true"``) raises :class:`MalformedField`."""
    if value is None:
        return default
    if not isinstance(value, bool):
        raise MalformedField(field, "a boolean")
    return value


def number(value: Any) -> float | None:
    """``value`` as a finite ``float`` if it is an ``int`` or ``float`` (not a
    ``bool``), else ``None``: a number too large for a float, ``NaN`` and
    infinities count as absent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        result = float(value)
    except OverflowError:
        return None
    return result if math.isfinite(result) else None


if sys.version_info >= (3, 11):

    def base64_data(text: str) -> bytes:
        """The bytes of ``text``, strict base64 (RFC 4648 §4: the standard
        alphabet, ``=`` padding only at the end, nothing else — no whitespace);
        anything else raises :class:`binascii.Error` (a ``ValueError``), as a
        non-ASCII ``text`` raises ``ValueError``.

        For audio fields (every 20 ms of agent audio): on Python 3.11+ one C
        call, ``binascii.a2b_base64(strict_mode=True)``, which accepts and
        refuses exactly what ``base64.b64decode(validate=True)`` does (a test
        compares them) without its Python wrapper and regular expression.
        """
        return binascii.a2b_base64(text, strict_mode=True)

else:  # pragma: no cover - Python 3.10

    def base64_data(text: str) -> bytes:
        """The bytes of ``text``, strict base64 (the same contract as on 3.11+)."""
        return base64.b64decode(text, validate=True)
