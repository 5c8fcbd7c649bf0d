"""Deprecated: :class:`Provider` now lives in :mod:`voiceadapters.provider`.

``from voiceadapters.provider import Provider`` keeps working for one release
and warns (``DeprecationWarning``); import it from ``voiceadapters`` or
``voiceadapters.provider``. The module was renamed because every plugin's own
``plugin.py`` is its entry point, while this one defined the provider base
class.
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .provider import NoOptions, Provider

__all__ = ["NoOptions", "Provider"]

_MOVED = {"NoOptions", "Provider"}


def __getattr__(name: str) -> Any:
    if name in _MOVED:
        warnings.warn(
            f"voiceadapters.plugin.{name} is deprecated; import it from "
            "voiceadapters.provider (or voiceadapters) instead",
            DeprecationWarning,
            stacklevel=2,
        )
        from . import provider

        return getattr(provider, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
