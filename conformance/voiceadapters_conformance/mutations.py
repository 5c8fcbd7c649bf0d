"""Hostile frames for the fuzz harness (:mod:`voiceadapters_conformance.fuzz`).

Structure-aware: a :class:`Mutator` starts from *seed* frames (valid
messages recorded from a real session of the plugin with its simulator) and
changes them the ways a broken or malicious peer would, knowing they are
JSON: drop, duplicate or retype a field at any path, swap the message type
for another known one (so every handler meets every other handler's
fields), nest deeply, grow huge, and encode badly (lone surrogates, NUL, a
byte-order mark, invalid UTF-8 in a binary frame, number literals no float
holds). Audio inside a message is mutated as audio: a base64 field is
decoded, damaged (odd lengths, flipped bytes, WAV headers whose rate,
channels, sample width, format tag or chunk sizes lie) and re-encoded. Byte-level damage (truncation, flipped characters), odd, empty and
huge binary frames and wholly random frames complete it.

Everything is drawn from one :class:`random.Random`, so a run is a function
of its seed. :meth:`Mutator.sweep` first walks every field path of every
seed with every value of :data:`VALUES`; :meth:`Mutator.frame` draws at random.
"""

from __future__ import annotations

import base64
import binascii
import json
import random
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["RAW_TOKENS", "VALUES", "Mutator", "Seed", "paths"]

Frame = str | bytes
Path = tuple[str | int, ...]

#: Values put in place of a field: every JSON type, edges of each.
VALUES: tuple[Any, ...] = (
    None,
    True,
    False,
    0,
    -1,
    1,
    0.5,
    -0.0,
    2**31,
    2**63,
    -(2**63) - 1,
    10**30,
    10**400,
    1.5e308,
    "",
    "a",
    "0",
    "null",
    "true",
    "AAAA",
    "not base64!",
    "RIFF\x00\x00\x00\x00WAVE",
    "\x00",
    "\ufeff",
    "\ud800",
    "\udc00\ud800",
    "\U0001f600",
    "\u202e\u0301",
    "x" * 10_000,
    [],
    {},
    [[]],
    [None],
    [1, "a", None],
    {"": None},
    {"type": None},
)

#: Literal JSON text spliced in where a value goes: what ``json.dumps`` of a
#: Python value cannot write (non-finite and huge numbers, bad escapes).
RAW_TOKENS: tuple[str, ...] = (
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1E-400",
    "9" * 400,
    "-" + "9" * 400,
    "1" * 4301,
    "0." + "1" * 5000,
    '"\\ud800"',
    '"\\udfff\\ud800x"',
    '"\\u0000"',
    '"\\x"',
    '"\\u12"',
    "01",
    "+1",
    ".5",
    "tru",
    "[" * 70 + "]" * 70,
    "[" * 1100 + "]" * 1100,
    '{"a":' * 70 + "1" + "}" * 70,
)

_MARK = "\x00fuzz-raw\x00"


@dataclass(frozen=True)
class Seed:
    """A recorded valid frame; ``value`` is its JSON when it is a JSON text frame."""

    frame: Frame
    value: Any = None

    @property
    def is_json(self) -> bool:
        return isinstance(self.frame, str) and isinstance(self.value, dict | list)

    @classmethod
    def of(cls, frame: Frame) -> Seed:
        if isinstance(frame, str):
            try:
                return cls(frame, json.loads(frame))
            except ValueError:
                return cls(frame)
        return cls(bytes(frame))


def paths(value: Any, prefix: Path = ()) -> Iterator[Path]:
    """Every path to a value inside ``value`` (not the root), depth first, to
    a depth of 12 (what lies below is deep nesting the mutator made itself)."""
    if len(prefix) >= 12:
        return
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*prefix, key)
            yield from paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:8]):  # the first items stand for the rest
            yield (*prefix, index)
            yield from paths(item, (*prefix, index))


def _parent(root: Any, path: Path) -> Any:
    node = root
    for key in path[:-1]:
        node = node[key]
    return node


def _is_base64(value: Any) -> bool:
    if not isinstance(value, str) or len(value) < 8 or len(value) % 4:
        return False
    try:
        base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _copy(value: Any) -> Any:
    # JSON values only: a round trip is the fastest deep copy.
    return json.loads(json.dumps(value))


class Mutator:
    """Draws hostile frames from ``seeds`` with ``rng`` (module docstring).

    ``huge`` allows the rare multi-megabyte frame (off in quick runs)."""

    def __init__(self, seeds: list[Seed], rng: random.Random, *, huge: bool = True) -> None:
        self.rng = rng
        self.huge = huge
        self.seeds = seeds
        self.json_seeds = [s for s in seeds if s.is_json]
        self.binary_seeds = [s for s in seeds if isinstance(s.frame, bytes)]
        self.types = sorted(
            {
                s.value[key]
                for s in self.json_seeds
                if isinstance(s.value, dict)
                for key in ("type", "event")
                if isinstance(s.value.get(key), str)
            }
        )

    # -- the systematic part -------------------------------------------------

    def sweep(self) -> Iterator[Frame]:
        """Every seed with each of its field paths set to each value of
        :data:`VALUES` and :data:`RAW_TOKENS`, then removed, and each base64
        field damaged as audio 16 times; each seed's type swapped for every
        known type."""
        for seed in self.json_seeds:
            for path in list(paths(seed.value)):
                for value in VALUES:
                    yield self._encode(self._set(seed.value, path, _copy(value)))
                for token in RAW_TOKENS:
                    yield self._encode(self._set(seed.value, path, _MARK), raw=token)
                yield self._encode(self._delete(seed.value, path))
                if _is_base64(_parent(seed.value, path)[path[-1]]):
                    for _ in range(16):  # audio: damaged as audio
                        root = _copy(seed.value)
                        node = _parent(root, path)
                        node[path[-1]] = self._payload(node[path[-1]])
                        yield self._encode(root)
            if isinstance(seed.value, dict):
                for kind in self.types:
                    for key in ("type", "event"):
                        if key in seed.value:
                            yield self._encode(self._set(seed.value, (key,), kind))

    # -- the random part ---------------------------------------------------------

    def frame(self) -> Frame:
        """One hostile frame, drawn at random."""
        roll = self.rng.random()
        if self.json_seeds and roll < 0.55:
            return self._structural()
        if self.seeds and roll < 0.70:
            return self._textual()
        if roll < 0.80:
            return self._encoding()
        if roll < 0.90:
            return self._binary()
        return self._random()

    def _structural(self) -> Frame:
        rng = self.rng
        seed = rng.choice(self.json_seeds)
        value = _copy(seed.value)
        raw: str | None = None
        nested = False
        for _ in range(rng.choice((1, 1, 1, 2, 3, 5))):
            all_paths = list(paths(value))
            op = rng.random()
            if not all_paths or op < 0.08:
                value = self._swap_root(value, nested)
                nested = True
                continue
            path = rng.choice(all_paths)
            if op < 0.40:
                value = self._set(value, path, self._value(), copy=False)
            elif op < 0.50 and raw is None:
                value = self._set(value, path, _MARK, copy=False)
                raw = rng.choice(RAW_TOKENS)
            elif op < 0.62:
                value = self._delete(value, path, copy=False)
            elif op < 0.72 and self.types:
                target = _parent(value, path)
                if isinstance(target, dict):
                    target[rng.choice(("type", "event"))] = rng.choice(self.types)
            elif op < 0.76:
                node = _parent(value, path)
                node[path[-1]] = self._payload(node[path[-1]])
            elif op < 0.80:
                node = _parent(value, path)
                item = node[path[-1]]
                node[path[-1]] = [item] if rng.random() < 0.5 else {"value": item}
            elif op < 0.88 and not nested:
                nested = True  # once: json.dumps must still encode the result
                node = _parent(value, path)
                node[path[-1]] = self._nest(node[path[-1]])
            else:
                node = _parent(value, path)
                if isinstance(node, dict):
                    # Fields moved between the top level and "data" (both
                    # NextEVI dialects, Vatel's envelope) or added unknown.
                    node[rng.choice(("data", "x-extra", "metadata", "error"))] = _copy(
                        node.get(path[-1])
                    )
        text = self._encode(value, raw=raw)
        if self.rng.random() < 0.05 and text.startswith("{") and isinstance(value, dict):
            # A duplicate key: JSON objects may repeat names (RFC 8259 §4); the last wins.
            key = rng.choice(list(value) or ["type"])
            text = "{" + json.dumps(key) + ":" + json.dumps(self._value()) + "," + text[1:]
        return text

    def _payload(self, value: Any) -> Any:
        """A base64 field's bytes damaged (module docstring); else a hostile WAV."""
        rng = self.rng
        data = b""
        if isinstance(value, str) and len(value) >= 4:
            try:
                data = base64.b64decode(value, validate=True)
            except (binascii.Error, ValueError):
                data = b""
        roll = rng.random()
        if data and roll < 0.3:
            cut = rng.randrange(len(data) + 1)
            data = data[: cut | 1] if rng.random() < 0.5 else data[:cut]
        elif data and roll < 0.5:
            damaged = bytearray(data)
            for _ in range(rng.randrange(1, 5)):
                damaged[rng.randrange(len(damaged))] = rng.getrandbits(8)
            data = bytes(damaged)
        else:
            data = self._wav(data[44:] if data[:4] == b"RIFF" else data)
        text = base64.b64encode(data).decode("ascii")
        if rng.random() < 0.1:
            text = text.rstrip("=") + rng.choice(("", "=", "===", "!", " "))
        return text

    def _wav(self, pcm: bytes) -> bytes:
        """A WAV file around ``pcm`` whose header may lie about anything."""
        rng = self.rng
        rate = rng.choice((0, 1, 7, 8000, 16000, 24000, 44100, 384000, 10**6, 2**32 - 1))
        channels = rng.choice((0, 1, 1, 2, 3, 255, 65535))
        bits = rng.choice((0, 8, 16, 16, 24, 32, 65535))
        tag = rng.choice((1, 1, 3, 0xFFFE, 0))
        block = (channels * bits // 8) & 0xFFFF
        fmt = struct.pack("<HHIIHH", tag, channels, rate, (rate * block) & 0xFFFFFFFF, block, bits)
        fmt_size = rng.choice((16, 16, 18, 6, 0, 0xFFFFFFFF))
        data_size = rng.choice((len(pcm), len(pcm), len(pcm) + 1, 0, 0xFFFFFFFF))
        body = b"WAVE" + b"fmt " + struct.pack("<I", fmt_size) + fmt
        if rng.random() < 0.2:
            body += b"LIST" + struct.pack("<I", rng.choice((4, 0xFFFFFFF0))) + b"INFO"
        body += b"data" + struct.pack("<I", data_size) + pcm
        riff = rng.choice((len(body), 0, 0xFFFFFFFF))
        wav = b"RIFF" + struct.pack("<I", riff) + body
        return wav[: rng.randrange(12, len(wav) + 1)] if rng.random() < 0.2 else wav

    def _swap_root(self, value: Any, nested: bool) -> Any:
        rng = self.rng
        roll = rng.random()
        if roll < 0.3:
            return [value]
        if roll < 0.5 and isinstance(value, dict):
            return list(value.values())
        if roll < 0.7 and not nested:
            return self._nest(value)
        return self._value()

    def _nest(self, value: Any) -> Any:
        depth = self.rng.choice((2, 10, 63, 64, 65, 100, 500))
        for _ in range(depth):
            value = [value] if self.rng.random() < 0.5 else {"a": value}
        return value

    def _value(self) -> Any:
        rng = self.rng
        roll = rng.random()
        if roll < 0.85:
            value = rng.choice(VALUES)
            # A copy: later mutations change containers in place.
            return _copy(value) if isinstance(value, list | dict) else value
        if roll < 0.9 and self.huge and rng.random() < 0.05:
            return "x" * rng.choice((1 << 20, 3 << 20))
        if roll < 0.95:
            return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(1, 8)))
        return self._random_value(3)

    def _random_value(self, depth: int) -> Any:
        rng = self.rng
        kind = rng.randrange(7 if depth > 0 else 5)
        if kind == 0:
            return None
        if kind == 1:
            return rng.random() < 0.5
        if kind == 2:
            return rng.randrange(-(2**70), 2**70)
        if kind == 3:
            return rng.uniform(-1e6, 1e6)
        if kind == 4:
            return "".join(chr(rng.randrange(0x20, 0x3000)) for _ in range(rng.randrange(12)))
        if kind == 5:
            return [self._random_value(depth - 1) for _ in range(rng.randrange(4))]
        return {
            rng.choice(("type", "data", "text", "id", "a", "")): self._random_value(depth - 1)
            for _ in range(rng.randrange(4))
        }

    def _encode(self, value: Any, *, raw: str | None = None) -> str:
        # ensure_ascii picks between "\ud800" escapes and raw surrogates in the str.
        text = json.dumps(value, ensure_ascii=self.rng.random() < 0.6)
        if raw is not None:
            text = text.replace(json.dumps(_MARK), raw, 1)
        return text

    def _set(self, root: Any, path: Path, value: Any, *, copy: bool = True) -> Any:
        root = _copy(root) if copy else root
        _parent(root, path)[path[-1]] = value
        return root

    def _delete(self, root: Any, path: Path, *, copy: bool = True) -> Any:
        root = _copy(root) if copy else root
        del _parent(root, path)[path[-1]]
        return root

    def _textual(self) -> Frame:
        rng = self.rng
        seed = rng.choice(self.seeds)
        frame = seed.frame
        text = frame if isinstance(frame, str) else frame.decode("latin-1")
        n = len(text)
        op = rng.randrange(8)
        if op == 0 and n:
            text = text[: rng.randrange(n)]
        elif op == 1 and n:
            i = rng.randrange(n)
            text = text[:i] + chr(rng.randrange(0x80)) + text[i + 1 :]
        elif op == 2 and n:
            i, j = sorted((rng.randrange(n), rng.randrange(n)))
            text = text[:i] + text[j:]
        elif op == 3 and n:
            i, j = sorted((rng.randrange(n), rng.randrange(n)))
            text = text[:j] + text[i:j] + text[j:]
        elif op == 4:
            text = "\ufeff" + text
        elif op == 5:
            depth = rng.choice((65, 1000, 5000, 200_000))
            text = "[" * depth + text + "]" * depth
        elif op == 6:
            text = text + rng.choice(("x", "}", "]", ",", "\x00", " {}", text))
        else:
            text = rng.choice((" ", "\t\n", "\x00")) + text + rng.choice(("", " ", "\n"))
        return text

    def _encoding(self) -> Frame:
        rng = self.rng
        base = (
            rng.choice(self.json_seeds).frame
            if self.json_seeds
            else json.dumps(self._random_value(3))
        )
        assert isinstance(base, str)
        op = rng.randrange(7)
        if op == 0:  # JSON, sent as a binary frame
            return base.encode("utf-8")
        if op == 1:  # binary frame with invalid UTF-8 inside
            data = bytearray(base.encode("utf-8", "surrogatepass"))
            for _ in range(rng.randrange(1, 4)):
                data.insert(rng.randrange(len(data) + 1), rng.choice((0x80, 0xC0, 0xFF, 0xED)))
            return bytes(data)
        if op == 2:  # a raw lone surrogate in the text itself
            i = rng.randrange(len(base) + 1)
            return base[:i] + chr(rng.randrange(0xD800, 0xE000)) + base[i:]
        if op == 3:
            return base.replace('"', '"\x00', 1)
        if op == 4:
            return "\ufeff" + base
        if op == 5:
            return base.encode("utf-16")
        return rng.choice(("", " ", "null", "true", "0", '""', "[]", "{}", "NaN", "\x00"))

    def _binary(self) -> Frame:
        rng = self.rng
        roll = rng.random()
        if self.binary_seeds and roll < 0.5:
            data = rng.choice(self.binary_seeds).frame
            assert isinstance(data, bytes)
            cut = rng.randrange(len(data) + 1) if data else 0
            return data[:cut] if rng.random() < 0.5 else data[: cut | 1]
        if roll < 0.6:
            return b""
        if roll < 0.7:
            return rng.choice((b"\x00", b"\xff", b"RIFF", b"RIFF\x00\x00\x00\x00WAVEfmt "))
        if roll < 0.72 and self.huge:
            size = rng.choice((1 << 20, (1 << 20) + 1, 4 << 20))
            return bytes(rng.getrandbits(8) for _ in range(64)) * (size // 64) + b"\x01" * (
                size % 64
            )
        return rng.randbytes(rng.choice((1, 2, 3, 639, 640, 641, 4095, 4096, 65537)))

    def _random(self) -> Frame:
        rng = self.rng
        roll = rng.random()
        if roll < 0.4:
            return json.dumps(self._random_value(4), ensure_ascii=rng.random() < 0.5)
        if roll < 0.7:
            return "".join(chr(rng.randrange(0x110000)) for _ in range(rng.randrange(64)))
        return rng.randbytes(rng.randrange(256))
