"""The cassette format: one JSON object per line (JSON Lines), versioned.

The full specification, with examples, is ``docs/cassettes.md``; this module
is its one implementation (reading, writing, and the pieces both sides share:
rebuilding a message whose audio was truncated or replaced by a marker).

A cassette is::

    {"cassette": "voiceadapters-cassette", "version": 1, ...header...}
    {"k": "http_request", "t": 0.0012, ...}
    {"k": "http_response", "t": 0.0101, "status": 200, ...}
    {"k": "ws_open", "t": 0.0113, "conn": 1, "url": "ws://…?token=REDACTED", ...}
    {"k": "recv", "t": 0.0150, "conn": 1, "n": 1, "type": "text", "text": "{…}"}
    {"k": "event", "t": 0.0151, "conn": 1, "after": 1, "event": {"type": "session_started", …}}
    {"k": "send", "t": 0.0203, "conn": 1, "n": 1, "type": "binary", "bytes": 640, "binary": "…"}
    {"k": "close", "t": 3.1, "conn": 1, "code": 1000, "reason": ""}
    {"k": "closed", "t": 3.1, "conn": 1, "code": 1000, "reason": ""}

Unknown keys are ignored (a later minor change may add some); an unknown
``k`` is skipped; a different major ``version`` is refused with
:class:`CassetteError`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import VoiceAdaptersError

__all__ = [
    "AUDIO_POLICIES",
    "FORMAT_NAME",
    "FORMAT_VERSION",
    "MARKER",
    "TRUNCATE_BYTES",
    "AudioField",
    "Cassette",
    "CassetteError",
    "Connection",
    "Message",
    "load",
    "parse_lines",
]

#: The ``cassette`` field of every header.
FORMAT_NAME = "voiceadapters-cassette"
#: Major version of the format: a reader refuses any other.
FORMAT_VERSION = 1
#: What replaces every secret (and the value of every secret-looking field).
MARKER = "REDACTED"
#: ``audio=truncate`` keeps this many bytes at the start of every audio payload.
TRUNCATE_BYTES = 64
#: The audio policies of ``record(audio=…)``.
AUDIO_POLICIES = ("keep", "truncate", "marker")


class CassetteError(VoiceAdaptersError):
    """A cassette file is unreadable: not JSON Lines, no header, another
    format version, a line missing a field it needs."""


@dataclass(frozen=True)
class AudioField:
    """An audio payload inside a JSON text message: at ``path`` (keys and
    indices from the message's root), ``size`` bytes once decoded from base64;
    ``kept`` is what the cassette kept of it (all of it, a prefix, or nothing)."""

    path: tuple[str | int, ...]
    size: int
    kept: bytes = b""

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": list(self.path), "bytes": self.size}
        if self.kept:
            out["kept"] = base64.b64encode(self.kept).decode("ascii")
        return out

    @classmethod
    def from_json(cls, data: Any, where: str) -> AudioField:
        if not isinstance(data, dict) or not isinstance(data.get("path"), list):
            raise CassetteError(f"{where}: an audio entry needs a 'path' list")
        size = data.get("bytes")
        if not isinstance(size, int) or size < 0:
            raise CassetteError(f"{where}: an audio entry needs a 'bytes' count")
        kept = _b64(data.get("kept", ""), where)
        return cls(tuple(data["path"]), size, kept)


def json_path(path: Iterable[str | int]) -> str:
    """``("data", "audio")`` → ``$.data.audio``; indices as ``[0]``."""
    out = "$"
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else f".{part}"
    return out


def _b64(value: Any, where: str) -> bytes:
    if not isinstance(value, str):
        raise CassetteError(f"{where}: base64 data must be a string")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise CassetteError(f"{where}: invalid base64 data") from None


@dataclass(frozen=True)
class Message:
    """One WebSocket message of a cassette (``send``: client → provider,
    ``recv``: provider → client)."""

    direction: str
    conn: int
    n: int
    t: float
    binary: bool
    text: str = ""
    data: bytes = b""
    #: Binary messages: the size on the wire (``data`` may be a prefix or empty).
    size: int = 0
    audio: tuple[AudioField, ...] = ()
    line: int = 0

    @property
    def label(self) -> str:
        """``server message #3 (connection 1, line 12)``."""
        who = "client" if self.direction == "send" else "server"
        return f"{who} message #{self.n} (connection {self.conn}, line {self.line})"

    def payload(self) -> str | bytes:
        """The message as it goes on the wire at replay: a truncated or
        marked audio payload is padded with silence (zero bytes) to its
        recorded length, so the adapter sees audio of the same length."""
        if self.binary:
            return self.data + bytes(self.size - len(self.data))
        if not self.audio:
            return self.text
        message = json.loads(self.text)
        for audio in self.audio:
            value = base64.b64encode(audio.kept + bytes(audio.size - len(audio.kept)))
            _set_path(message, audio.path, value.decode("ascii"))
        return json.dumps(message)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "k": self.direction,
            "t": round(self.t, 6),
            "conn": self.conn,
            "n": self.n,
        }
        if self.binary:
            out["type"] = "binary"
            out["bytes"] = self.size
            if self.data:
                out["binary"] = base64.b64encode(self.data).decode("ascii")
        else:
            out["type"] = "text"
            out["text"] = self.text
            if self.audio:
                out["audio"] = [a.to_json() for a in self.audio]
        return out


def _set_path(obj: Any, path: tuple[str | int, ...], value: Any) -> None:
    for part in path[:-1]:
        obj = obj[part]
    obj[path[-1]] = value


@dataclass
class Connection:
    """One WebSocket of a cassette, its lines in order."""

    conn: int
    open: dict[str, Any]
    lines: list[dict[str, Any]] = field(default_factory=list)

    @property
    def messages(self) -> list[Message]:
        return [line["_message"] for line in self.lines if "_message" in line]

    def sent(self) -> list[Message]:
        return [m for m in self.messages if m.direction == "send"]

    def received(self) -> list[Message]:
        return [m for m in self.messages if m.direction == "recv"]


@dataclass
class Cassette:
    """A parsed cassette."""

    header: dict[str, Any]
    lines: list[dict[str, Any]]
    path: Path | None = None

    @property
    def provider(self) -> str:
        return str(self.header.get("provider", ""))

    @property
    def config(self) -> str:
        return str(self.header.get("config", ""))

    @property
    def ignore(self) -> tuple[str, ...]:
        value = self.header.get("ignore", [])
        return tuple(str(v) for v in value) if isinstance(value, list) else ()

    def http_steps(self) -> list[tuple[dict[str, Any], dict[str, Any] | None]]:
        """``(request, response)`` pairs in order (``None``: no answer recorded)."""
        steps: list[tuple[dict[str, Any], dict[str, Any] | None]] = []
        for line in self.lines:
            if line["k"] == "http_request":
                steps.append((line, None))
            elif line["k"] == "http_response" and steps and steps[-1][1] is None:
                steps[-1] = (steps[-1][0], line)
        return steps

    def connections(self) -> list[Connection]:
        """Every WebSocket, in the order it was opened."""
        conns: dict[int, Connection] = {}
        for line in self.lines:
            k = line["k"]
            if k == "ws_open":
                conns[line["conn"]] = Connection(line["conn"], line)
            elif k in ("send", "recv", "close", "closed", "abort") and line.get("conn") in conns:
                conns[line["conn"]].lines.append(line)
        return list(conns.values())

    def events(self) -> list[dict[str, Any]]:
        """The normalized events the adapter produced while recording (or,
        in a hand-made cassette, the events the author expects)."""
        return [line for line in self.lines if line["k"] == "event"]

    def messages(self) -> list[Message]:
        return [line["_message"] for line in self.lines if "_message" in line]


def _message(line: dict[str, Any], number: int) -> Message:
    where = f"line {number}"
    for key in ("conn", "n"):
        if not isinstance(line.get(key), int):
            raise CassetteError(f"{where}: a {line['k']!r} line needs an integer {key!r}")
    t = line.get("t", 0.0)
    if not isinstance(t, int | float):
        raise CassetteError(f"{where}: 't' must be a number of seconds")
    kind = line.get("type")
    if kind == "binary":
        data = _b64(line.get("binary", ""), where)
        size = line.get("bytes", len(data))
        if not isinstance(size, int) or size < len(data):
            raise CassetteError(f"{where}: 'bytes' must be an integer >= the kept data")
        return Message(
            line["k"], line["conn"], line["n"], float(t), True, data=data, size=size, line=number
        )
    if kind == "text":
        text = line.get("text")
        if not isinstance(text, str):
            raise CassetteError(f"{where}: a text message needs a 'text' string")
        audio = tuple(AudioField.from_json(a, where) for a in line.get("audio", []))
        if audio:
            try:
                json.loads(text)
            except ValueError:
                raise CassetteError(f"{where}: a message with audio entries must be JSON") from None
        return Message(
            line["k"], line["conn"], line["n"], float(t), False, text=text, audio=audio, line=number
        )
    raise CassetteError(f"{where}: 'type' must be 'text' or 'binary', not {kind!r}")


def parse_lines(lines: Iterable[str], *, path: Path | None = None) -> Cassette:
    """Parse a cassette from its lines (blank lines are skipped)."""
    header: dict[str, Any] | None = None
    body: list[dict[str, Any]] = []
    name = str(path) if path is not None else "cassette"
    for number, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except json.JSONDecodeError as exc:
            raise CassetteError(f"{name}, line {number}: not JSON ({exc.msg})") from None
        if not isinstance(line, dict):
            raise CassetteError(f"{name}, line {number}: each line must be a JSON object")
        if header is None:
            if line.get("cassette") != FORMAT_NAME:
                raise CassetteError(
                    f"{name}: the first line must be the header "
                    f'({{"cassette": "{FORMAT_NAME}", "version": {FORMAT_VERSION}, …}})'
                )
            version = line.get("version")
            if version != FORMAT_VERSION:
                raise CassetteError(
                    f"{name}: cassette format version {version!r}; this voiceadapters "
                    f"reads version {FORMAT_VERSION}"
                )
            header = line
            continue
        kind = line.get("k")
        if not isinstance(kind, str):
            raise CassetteError(f"{name}, line {number}: a line needs a 'k' (kind) string")
        line["_line"] = number
        if kind in ("send", "recv"):
            try:
                line["_message"] = _message(line, number)
            except CassetteError as exc:
                raise CassetteError(f"{name}, {exc}") from None
        elif kind in ("ws_open", "close", "closed", "abort") and not isinstance(
            line.get("conn"), int
        ):
            raise CassetteError(f"{name}, line {number}: a {kind!r} line needs an integer 'conn'")
        body.append(line)
    if header is None:
        raise CassetteError(f"{name}: empty (no header line)")
    return Cassette(header, body, path)


def load(path: str | Path) -> Cassette:
    """Read the cassette at ``path``; raises :class:`CassetteError`."""
    path = Path(path)
    try:
        with path.open(encoding="utf-8") as f:
            return parse_lines(f, path=path)
    except OSError as exc:
        raise CassetteError(f"cannot read cassette {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise CassetteError(f"{path}: not UTF-8 text") from None


def iter_strings(
    value: Any, path: tuple[str | int, ...] = ()
) -> Iterator[tuple[tuple[str | int, ...], str]]:
    """Every string inside a decoded JSON value, with its path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_strings(item, (*path, key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from iter_strings(item, (*path, i))
