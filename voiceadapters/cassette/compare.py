"""Comparing a replay with its cassette: messages field by field, events in order.

What is compared (docs/cassettes.md#comparing):

* **client messages**, in order, per connection: a text message that is JSON
  is compared value by value (each difference named by its JSON path,
  ``$.data.turn_id``); base64 audio inside it, and binary messages, are
  compared by decoded length only (audio is data, not protocol); a text
  message that is not JSON is compared as text;
* **handshake requests**: method, path, query parameters, the JSON body and
  the headers the recording kept (secrets compare as ``REDACTED`` on both
  sides);
* **events**: type and order; every field the recording has (text, final,
  turn id, reason, code, tool arguments…) exactly, except agent audio,
  compared by length within one 20 ms frame, and time stamps
  (:func:`timing_field`), not compared.

Anything listed in the cassette's ``ignore`` (or the provider's
:attr:`~voiceadapters.provider.Provider.cassette_ignore`) is skipped.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ..frames import Frame
from .format import Message, iter_strings, json_path
from .scrub import find_audio

__all__ = [
    "Difference",
    "ReplayReport",
    "compare_events",
    "compare_message",
    "diff_json",
    "timing_field",
]

_MISSING = object()


@dataclass(frozen=True)
class Difference:
    """One way the replay differed from the cassette."""

    where: str
    """Which message, request or event (``client message #3 (connection 1, line 12)``)."""
    field: str
    """The JSON path or field that differs (``$.data.text``; ``""``: the whole item)."""
    expected: Any = None
    actual: Any = None
    note: str = ""

    def __str__(self) -> str:
        what = f" {self.field}" if self.field else ""
        detail = f": {self.note}" if self.note else ""
        if self.expected is not None or self.actual is not None:
            detail += f" (recorded {_short(self.expected)}, replayed {_short(self.actual)})"
        return f"{self.where}{what}{detail}"

    def to_json(self) -> dict[str, Any]:
        return {
            "where": self.where,
            "field": self.field,
            "expected": _jsonable(self.expected),
            "actual": _jsonable(self.actual),
            "note": self.note,
        }


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
    return value


def _short(value: Any, limit: int = 80) -> str:
    text = (
        json.dumps(value, ensure_ascii=False)
        if not isinstance(value, bytes)
        else f"<{len(value)} bytes>"
    )
    return text if len(text) <= limit else text[:limit] + "…"


@dataclass
class ReplayReport:
    """What a replay found: the differences, and notes that are not failures."""

    differences: list[Difference] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    client_messages: int = 0
    server_messages: int = 0
    events: int = 0

    @property
    def ok(self) -> bool:
        return not self.differences

    def lines(self) -> list[str]:
        """The report as printable lines."""
        out = [f"DIFF  {d}" for d in self.differences]
        out += [f"note  {n}" for n in self.notes]
        verdict = "matches" if self.ok else f"{len(self.differences)} difference(s)"
        out.append(
            f"replay {verdict}: {self.server_messages} server messages sent, "
            f"{self.client_messages} client messages compared, {self.events} events compared"
        )
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "differences": [d.to_json() for d in self.differences],
            "notes": self.notes,
            "server_messages": self.server_messages,
            "client_messages": self.client_messages,
            "events": self.events,
        }


def _pattern_match(path: tuple[str | int, ...], patterns: Iterable[tuple[str, ...]]) -> bool:
    for pattern in patterns:
        if len(pattern) == len(path) and all(
            p == "*" or p == str(k) for k, p in zip(path, pattern, strict=True)
        ):
            return True
    return False


def diff_json(
    expected: Any,
    actual: Any,
    *,
    path: tuple[str | int, ...] = (),
    ignore: Iterable[tuple[str, ...]] = (),
    audio: dict[tuple[str | int, ...], int] | None = None,
) -> list[tuple[str, Any, Any]]:
    """``(json_path, expected, actual)`` for every difference (a missing
    value is reported as ``None`` with a note in the path's place)."""
    ignore = list(ignore)
    audio = audio or {}
    out: list[tuple[str, Any, Any]] = []

    def walk(e: Any, a: Any, p: tuple[str | int, ...]) -> None:
        if _pattern_match(p, ignore):
            return
        if p in audio:
            size = _b64_len(a)
            if size != audio[p]:
                out.append((json_path(p), f"<audio: {audio[p]} bytes>", f"<audio: {size} bytes>"))
            return
        if isinstance(e, dict) and isinstance(a, dict):
            for key in e:
                walk(e[key], a.get(key, _MISSING), (*p, key))
            for key in a:
                if key not in e and not _pattern_match((*p, key), ignore):
                    out.append((json_path((*p, key)), "(absent)", a[key]))
            return
        if isinstance(e, list) and isinstance(a, list):
            for i, item in enumerate(e):
                walk(item, a[i] if i < len(a) else _MISSING, (*p, i))
            for i in range(len(e), len(a)):
                out.append((json_path((*p, i)), "(absent)", a[i]))
            return
        if a is _MISSING:
            out.append((json_path(p), e, "(absent)"))
        elif e != a or type(e) is not type(a):
            out.append((json_path(p), e, a))

    walk(expected, actual, path)
    return out


def _b64_len(value: Any) -> int | None:
    if not isinstance(value, str):
        return None
    try:
        return len(base64.b64decode(value, validate=True))
    except ValueError:
        return None


def _ignore_patterns(ignore: Iterable[str], prefix: str) -> list[tuple[str, ...]]:
    out = []
    for item in ignore:
        head, _, rest = item.partition(".")
        if head == prefix and rest:
            out.append(tuple(rest.split(".")))
    return out


def compare_message(
    expected: Message,
    actual: Frame,
    *,
    audio_fields: Iterable[str] = (),
    ignore: Iterable[str] = (),
) -> list[Difference]:
    """How the client's ``actual`` message differs from the recorded ``expected``."""
    where = expected.label
    if expected.binary or isinstance(actual, bytes):
        if expected.binary != isinstance(actual, bytes):
            kinds = (
                "binary" if expected.binary else "text",
                "binary" if isinstance(actual, bytes) else "text",
            )
            return [Difference(where, "type", kinds[0], kinds[1], "a different kind of message")]
        if len(actual) != expected.size:
            return [
                Difference(where, "length", expected.size, len(actual), "binary message length")
            ]
        return []
    try:
        recorded = json.loads(expected.text)
    except ValueError:
        recorded = _MISSING
    try:
        replayed = json.loads(actual)
    except ValueError:
        replayed = _MISSING
    if recorded is _MISSING or replayed is _MISSING:
        if expected.text != actual:
            return [Difference(where, "text", expected.text, actual)]
        return []
    audio = {a.path: a.size for a in expected.audio}
    if not audio:  # audio kept verbatim: find it again, and compare it by length too
        audio = dict(find_audio(recorded, audio_fields))
    diffs = diff_json(recorded, replayed, ignore=_ignore_patterns(ignore, "send"), audio=audio)
    return [Difference(where, p, e, a) for p, e, a in diffs]


def timing_field(name: str) -> bool:
    """Whether an event field is a time stamp (``t``, ``*_at``, ``*time*``,
    ``*clock*``, ``received*``): it differs on every run, so it is not compared."""
    return (
        name in ("t", "ts")
        or name.endswith("_at")
        or "time" in name
        or "clock" in name
        or name.startswith("received")
    )


def _frame_bytes(event: dict[str, Any]) -> int:
    rate = event.get("sample_rate") or 16000
    channels = event.get("channels") or 1
    return int(rate) * int(channels) * 2 // 50  # 20 ms of 16-bit PCM


def compare_events(
    recorded: list[dict[str, Any]],
    replayed: list[dict[str, Any]],
    *,
    server_messages: dict[tuple[int, int], Message] | None = None,
    limit: int = 20,
) -> list[Difference]:
    """Events in order: type, then every field (audio by length ± one frame).
    A difference names the event and, when the recording says which server
    message preceded it, that message and where the replayed value sits in it."""
    messages = server_messages or {}
    out: list[Difference] = []
    for i in range(max(len(recorded), len(replayed))):
        if len(out) >= limit:
            out.append(Difference("events", "", note=f"stopped after {limit} differences"))
            break
        rec = recorded[i]["event"] if i < len(recorded) else None
        rep = replayed[i]["event"] if i < len(replayed) else None
        source = recorded[i] if i < len(recorded) else replayed[i]
        message = messages.get((source.get("conn", 0), source.get("after", 0)))
        where = f"event #{i + 1}"
        where += f" ({rec['type'] if rec else rep['type'] if rep else '?'})"
        if message is not None:
            where += f" after {message.label}"
        if rec is None:
            out.append(Difference(where, "", note="not in the recording (an extra event)"))
            continue
        if rep is None:
            out.append(Difference(where, "", note="recorded but not produced by the replay"))
            continue
        if rec.get("type") != rep.get("type"):
            out.append(Difference(where, "type", rec.get("type"), rep.get("type")))
            break  # the order is lost: what follows would all differ
        if rec["type"] == "agent_audio":
            size = (rec.get("bytes") or 0, rep.get("bytes") or 0)
            if abs(size[0] - size[1]) > _frame_bytes(rec):
                out.append(
                    Difference(where, "bytes", size[0], size[1], "audio length beyond one frame")
                )
            fields = [k for k in rec if k not in ("type", "bytes", "duration_ms")]
        else:
            fields = [k for k in rec if k != "type"]
        fields = [k for k in fields if not timing_field(k)]
        for name in fields:
            diffs = diff_json(rec.get(name), rep.get(name, _MISSING_FIELD), path=(name,))
            for path, e, a in diffs:
                note = _locate(message, a)
                out.append(Difference(where, path.removeprefix("$."), e, a, note))
    return out


_MISSING_FIELD = None


def _locate(message: Message | None, value: Any) -> str:
    """Where in ``message`` (JSON) the replayed ``value`` came from."""
    if message is None or message.binary or not isinstance(value, str) or not value:
        return ""
    try:
        decoded = json.loads(message.text)
    except ValueError:
        return ""
    exact = [p for p, v in iter_strings(decoded) if v == value]
    partial = [p for p, v in iter_strings(decoded) if value in v or (len(v) > 2 and v in value)]
    found = exact or partial
    if not found:
        return ""
    return f"from the server message's field {json_path(found[0])}"
