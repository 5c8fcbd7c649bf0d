"""Bounded records of what a simulator received and said.

A simulator connection records what reached it (user audio, control messages,
frame sizes) and its agent what it spoke, so that tests can compare them with
what a client sent and received. A session that streams for an hour must not
keep an hour of audio, so each record keeps only its most recent ``limit``
bytes or items, and counts everything it was ever given in ``total``.

Both types are the built-in ones (:class:`RecentBytes` is a
:class:`bytearray`, :class:`RecentList` a :class:`list`), so a test reads them
as before — ``bytes(conn.received_audio) == sent``, ``conn.invalid == []`` —
as long as the session stayed under the limit, which ``dropped == 0`` proves.
Only appends are trimmed (``+=``, :meth:`~RecentBytes.extend`,
:meth:`~RecentList.append`); other in-place edits keep what they are given.
"""

from __future__ import annotations

import gc
import sys
import types
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, SupportsIndex, TypeVar

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer
    from typing_extensions import Self

__all__ = ["RecentBytes", "RecentList", "held_bytes"]

T = TypeVar("T")


def _check_limit(limit: int) -> int:
    if limit < 0:
        raise ValueError(f"a record limit must be >= 0, not {limit}")
    return limit


class RecentBytes(bytearray):
    """A :class:`bytearray` that keeps the most recent ``limit`` bytes appended.

    ``total`` counts every byte ever appended; ``dropped`` how many of them
    are no longer held (the oldest).
    """

    __slots__ = ("limit", "total")

    def __init__(self, limit: int, data: ReadableBuffer = b"") -> None:
        super().__init__()
        self.limit = _check_limit(limit)
        self.total = 0
        self += data

    @property
    def dropped(self) -> int:
        return self.total - len(self)

    def __iadd__(self, value: ReadableBuffer) -> Self:  # type: ignore[override]
        size = memoryview(value).nbytes
        super().__iadd__(value)
        self.total += size
        self._trim()
        return self

    def extend(self, iterable_of_ints: Iterable[SupportsIndex], /) -> None:
        before = len(self)
        super().extend(iterable_of_ints)
        self.total += len(self) - before
        self._trim()

    def append(self, item: SupportsIndex, /) -> None:
        super().append(item)
        self.total += 1
        self._trim()

    def _trim(self) -> None:
        # Deleting from the front of a bytearray only moves its start pointer
        # (CPython), so trimming each append costs no copy of what is kept.
        excess = len(self) - self.limit
        if excess > 0:
            del self[:excess]

    def __repr__(self) -> str:
        return f"RecentBytes(limit={self.limit}, held={len(self)}, total={self.total})"


class RecentList(list[T]):
    """A :class:`list` that keeps the most recent ``limit`` items appended.

    ``total`` counts every item ever appended; ``dropped`` how many of them
    are no longer held (the oldest).
    """

    __slots__ = ("limit", "total")

    def __init__(self, limit: int, items: Iterable[T] = ()) -> None:
        super().__init__()
        self.limit = _check_limit(limit)
        self.total = 0
        self.extend(items)

    @property
    def dropped(self) -> int:
        return self.total - len(self)

    def append(self, item: T, /) -> None:
        super().append(item)
        self.total += 1
        self._trim()

    def extend(self, items: Iterable[T], /) -> None:
        before = len(self)
        super().extend(items)
        self.total += len(self) - before
        self._trim()

    def __iadd__(self, items: Iterable[T]) -> Self:  # type: ignore[override,misc]
        self.extend(items)
        return self

    def _trim(self) -> None:
        excess = len(self) - self.limit
        if excess > 0:
            del self[:excess]


def held_bytes(root: object, *, skip: tuple[type, ...] = ()) -> int:
    """Bytes reachable from ``root`` (a simulator connection, say), each object
    counted once; classes, modules, functions and instances of ``skip`` (the
    simulator, which all its connections share) are not followed. What the
    record caps are measured with (tests, ``tools/simulator_memory.py``)."""
    seen: set[int] = set()
    stack: list[Any] = [root]
    total = 0
    not_followed = (type, types.ModuleType, types.FunctionType, *skip)
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, not_followed):
            continue
        seen.add(id(obj))
        total += sys.getsizeof(obj)
        stack.extend(gc.get_referents(obj))
    return total
