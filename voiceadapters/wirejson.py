"""Decoding a peer's JSON frame without trusting it, for codecs and simulators.

Whatever a provider (or, for a simulator, a client) sends, decoding it never
raises anything but :class:`MalformedJSON`, and what it returns is safe to
keep, render and re-encode anywhere (``repr``, ``json.dumps``, pydantic,
``print``). Every codec reads frames through
:meth:`voiceadapters.codec.Codec._parse_json_object` and every simulator
through :meth:`voiceadapters.simulator.base.SimulatorConnection.parse_json`,
both built on :func:`decode`.

What is decided here, once for every plugin:

* **Depth.** A value nested deeper than :data:`MAX_DEPTH` (64) arrays and
  objects is malformed (``malformed_json``): Python's decoder raises
  ``RecursionError`` at about 1000 levels, and ``repr``, ``json.dumps`` and
  pydantic's serializer fail on a few hundred, so a deep frame that decoded
  would crash whatever rendered it later. No provider message comes near 64.
* **Encoding.** A binary frame must be UTF-8 (``malformed_frame`` otherwise);
  a leading byte-order mark is ignored (RFC 8259 §8.1 lets a parser do so).
  A lone UTF-16 surrogate (``"\\ud800"``, legal JSON, but no character: a
  streamed emoji cut in half, say) cannot be encoded as UTF-8, so it would
  break the first ``print`` of the text: each one is replaced with U+FFFD
  and counted, and the caller reports the count.
* **Numbers.** ``NaN``, ``Infinity`` and ``-Infinity`` (not JSON, RFC 8259 §6,
  but what Python's ``json.dumps`` writes by default) and numbers too large
  for a float (``1e400``) decode to ``None``: a field holding one reads as
  absent. An integer of more than 4300 digits is malformed (Python's limit
  on integer conversion); smaller huge integers decode as integers, and
  :func:`voiceadapters.fields.number` reads them as absent.
* **Size** is the transport's to bound (``WebSocketRequest.max_size``,
  16 MiB by default; the simulator server's 64 MiB): decoding is linear in
  the frame, and every message built from a frame shows a bounded
  :func:`excerpt` of it, never the whole.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MalformedJSON",
    "bounded",
    "decode",
    "dumps_excerpt",
    "excerpt",
    "scrub",
]

#: Arrays and objects nested deeper than this make a frame malformed.
MAX_DEPTH = 64

_SURROGATE = re.compile("[\ud800-\udfff]")


class MalformedJSON(ValueError):
    """A frame that is not acceptable JSON. ``code`` is the ``provider_error``
    code a codec reports (``malformed_json`` or ``malformed_frame``)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(code, message)
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return self.message


def _finite(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


# parse_constant sees NaN/Infinity/-Infinity, parse_float every float literal
# (the C scanner is kept; only floats pay a Python call).
_DECODER = json.JSONDecoder(parse_constant=lambda _: None, parse_float=_finite)


def excerpt(text: str | bytes, limit: int = 120) -> str:
    """``repr`` of at most ``limit`` characters (bytes) of ``text``, with the
    total length when it was cut: safe to put in a message for any size."""
    if len(text) <= limit:
        return repr(text)
    unit = "bytes" if isinstance(text, bytes) else "characters"
    return f"{text[:limit]!r}… ({len(text)} {unit})"


def bounded(text: str, limit: int = 2000) -> str:
    """``text`` itself up to ``limit`` characters, else its start and how much
    was left out (for a peer's own words in an event: an error message)."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}… ({len(text) - limit} more characters)"


def scrub(text: str) -> str:
    """``text`` with each lone surrogate replaced by U+FFFD: peer text (a URL
    path, a query value) made safe to send back in a UTF-8 frame."""
    return _SURROGATE.sub("\ufffd", text)


def dumps_excerpt(value: Any, limit: int = 300) -> str:
    """Compact JSON of a decoded ``value`` cut to ``limit`` characters (values
    from :func:`decode` always encode; anything else falls back to ``repr``)."""
    try:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False)
    except (ValueError, TypeError, RecursionError):
        text = repr(value)
    return text[:limit]


def decode(frame: str | bytes, *, max_depth: int = MAX_DEPTH) -> tuple[Any, int]:
    """``(value, surrogates replaced)`` of a JSON text frame (or a UTF-8
    binary frame); raises :class:`MalformedJSON` and nothing else."""
    if isinstance(frame, bytes | bytearray):
        try:
            text = bytes(frame).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise MalformedJSON(
                "malformed_frame",
                f"binary frame of {len(frame)} bytes is not UTF-8 (byte {exc.start})",
            ) from None
    else:
        text = frame
    if text.startswith("\ufeff"):
        text = text[1:]
    try:
        value = _DECODER.decode(text)
    except RecursionError:
        raise MalformedJSON(
            "malformed_json", f"frame is nested deeper than {max_depth} levels: {excerpt(text)}"
        ) from None
    except ValueError as exc:  # JSONDecodeError, and the 4300-digit integer limit
        raise MalformedJSON(
            "malformed_json", f"frame is not JSON ({exc}): {excerpt(text)}"
        ) from None
    # The common frame (every audio chunk) has neither a non-ASCII character
    # nor a backslash, so none of its strings can hold a non-ASCII character
    # (a lone surrogate among them): two scans in C (~0.1 µs for 1.3 kB)
    # spare the walk its check of every string.
    if text.isascii() and "\\" not in text:
        # A text can nest no deeper than it has brackets (those inside
        # strings count too, which only over-estimates): two more scans in
        # C, and an audio frame, whose base64 holds none, skips the walk.
        fits = text.count("{") + text.count("[") <= max_depth
        too_deep, suspicious = (False if fits else _too_deep(value, max_depth)), False
    else:
        too_deep, suspicious = _inspect(value, max_depth)
    if too_deep:
        raise MalformedJSON(
            "malformed_json", f"frame is nested deeper than {max_depth} levels: {excerpt(text)}"
        )
    # A lone surrogate is not ASCII, and str.isascii() costs nothing: only a
    # message with a non-ASCII string is searched and repaired.
    return _repair(value) if suspicious else (value, 0)


def _inspect(value: Any, limit: int) -> tuple[bool, bool]:
    """``(nested deeper than limit, holds a non-ASCII string)``, in one walk
    over the containers (a frame of audio has one or two)."""
    if isinstance(value, str):
        return False, not value.isascii()
    if not isinstance(value, dict | list):
        return False, False
    suspicious = False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True, suspicious
        if isinstance(item, dict):
            for key in item:
                if not key.isascii():
                    suspicious = True
                    break
            children = item.values()
        else:
            children = item
        for child in children:
            if isinstance(child, str):
                if not suspicious and not child.isascii():
                    suspicious = True
            elif isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False, suspicious


def _too_deep(value: Any, limit: int) -> bool:
    """Whether ``value`` nests deeper than ``limit``: :func:`_inspect` without
    the strings, for a frame known to hold no non-ASCII character.

    JSON decodes to exact dicts and lists, and the kinds of a container's
    children are gathered in C first: most containers of a frame hold only
    scalars, and then there is nothing to walk.
    """
    if type(value) is not dict and type(value) is not list:
        return False
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if type(item) is dict else item
        kinds = set(map(type, children))
        if dict in kinds or list in kinds:
            for child in children:
                if type(child) is dict or type(child) is list:
                    stack.append((child, depth + 1))
    return False


def _repair(value: Any) -> tuple[Any, int]:
    """``value`` with every lone surrogate replaced by U+FFFD, and how many.
    Recursion is bounded: ``value`` passed the depth check."""
    if isinstance(value, str):
        return _SURROGATE.subn("\ufffd", value)
    if isinstance(value, list):
        total = 0
        items = []
        for item in value:
            fixed, n = _repair(item)
            items.append(fixed)
            total += n
        return (items, total) if total else (value, 0)
    if isinstance(value, dict):
        total = 0
        pairs = {}
        for key, item in value.items():
            fixed_key, k = _SURROGATE.subn("\ufffd", key)
            fixed, n = _repair(item)
            pairs[fixed_key] = fixed
            total += k + n
        return (pairs, total) if total else (value, 0)
    return value, 0
