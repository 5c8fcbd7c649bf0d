"""Bounded per-turn memory for codecs: interrupted turns, text so far.

A codec remembers a little about recent agent turns: which turns were
interrupted (so their late audio is dropped, the "fence"), or the text a
turn has reached (so ``agent_text.delta`` can be computed). A well-behaved
provider finishes a turn long before many others start; the bounds only keep
a misbehaving one from growing a codec without limit. The oldest entry is
forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["TURN_MEMORY", "TurnFence", "TurnMemory"]

#: How many turns each structure remembers by default.
TURN_MEMORY = 32

V = TypeVar("V")


class TurnMemory(Generic[V]):
    """A mapping turn id → value that keeps the ``limit`` most recently set turns."""

    __slots__ = ("_items", "limit")

    def __init__(self, limit: int = TURN_MEMORY) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self._items: OrderedDict[str, V] = OrderedDict()

    def __contains__(self, turn_id: object) -> bool:
        return turn_id in self._items

    def __len__(self) -> int:
        return len(self._items)

    def get(self, turn_id: str, default: V) -> V:
        return self._items.get(turn_id, default)

    def set(self, turn_id: str, value: V) -> None:
        """Remember ``value`` for ``turn_id`` (as the newest turn)."""
        self._items.pop(turn_id, None)
        self._items[turn_id] = value
        if len(self._items) > self.limit:
            self._items.popitem(last=False)

    def pop(self, turn_id: str, default: V) -> V:
        return self._items.pop(turn_id, default)


class TurnFence:
    """The set of interrupted turns whose later audio must not reach the
    application (the ``limit`` most recent ones)."""

    __slots__ = ("_turns",)

    def __init__(self, limit: int = TURN_MEMORY) -> None:
        self._turns: TurnMemory[None] = TurnMemory(limit)

    def add(self, turn_id: str) -> None:
        self._turns.set(turn_id, None)

    def __contains__(self, turn_id: object) -> bool:
        return turn_id in self._turns

    def __len__(self) -> int:
        return len(self._turns)
