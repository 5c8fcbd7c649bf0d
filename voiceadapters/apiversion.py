"""Which core plugin API a plugin was written for, checked when it loads.

The core's plugin API — :class:`~voiceadapters.provider.Provider`, the codec
and simulator contracts, the event model — has a version,
:data:`CORE_API` (``MAJOR.MINOR``). A provider says which versions it
supports in :attr:`Provider.core_api <voiceadapters.provider.Provider.core_api>`,
a range such as ``">=0.2,<0.3"``; the registry checks it when the plugin is
registered (as pluggy checks hook signatures) and refuses a plugin outside
its range with an error that names both versions. A provider that declares
no range is accepted, as before 0.2.

What changes the version: a minor step adds to the API (a plugin written for
0.2 works on 0.3 unless the range excludes it); a name is removed only after
a release in which it warns (``DeprecationWarning``), and that removal is a
step the ranges of old plugins exclude.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from typing import Protocol

__all__ = ["CORE_API", "check_core_api", "in_range"]

#: The core's plugin API version.
CORE_API = "0.2"

_CLAUSE = re.compile(r"^\s*(>=|<=|==|!=|>|<)\s*(\d+(?:\.\d+)*)\s*$")
_OPS: dict[str, Callable[[tuple[int, ...], tuple[int, ...]], bool]] = {
    ">=": operator.ge,
    "<=": operator.le,
    "==": operator.eq,
    "!=": operator.ne,
    ">": operator.gt,
    "<": operator.lt,
}


def _version(text: str) -> tuple[int, ...]:
    parts = tuple(int(p) for p in text.split("."))
    return parts + (0,) * (3 - len(parts))


def in_range(version: str, spec: str) -> bool:
    """Whether ``version`` (``"0.2"``) satisfies ``spec`` (``">=0.2,<0.3"``:
    comma-separated clauses, each an operator and a dotted version). Raises
    ``ValueError`` for a malformed ``spec``."""
    clauses = [c for c in spec.split(",") if c.strip()]
    if not clauses:
        raise ValueError(f"empty version range {spec!r}")
    have = _version(version)
    for clause in clauses:
        match = _CLAUSE.match(clause)
        if match is None:
            raise ValueError(
                f"version range {spec!r}: {clause.strip()!r} is not an operator "
                "(>=, <=, ==, !=, >, <) and a version"
            )
        if not _OPS[match[1]](have, _version(match[2])):
            return False
    return True


class _Declares(Protocol):
    @property
    def name(self) -> str: ...
    @property
    def core_api(self) -> str | None: ...


def check_core_api(provider: _Declares) -> str | None:
    """Why ``provider`` cannot load on this core (``None``: it can)."""
    spec = provider.core_api
    if spec is None:
        return None
    try:
        ok = in_range(CORE_API, spec)
    except ValueError as exc:
        return f"provider {provider.name!r} declares an invalid core_api: {exc}"
    if ok:
        return None
    return (
        f"provider {provider.name!r} supports voiceadapters core API {spec}, "
        f"but this core's API is {CORE_API}: install a version of the plugin made "
        f"for core API {CORE_API}, or a voiceadapters whose API is in {spec}"
    )
