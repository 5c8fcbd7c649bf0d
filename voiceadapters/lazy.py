"""Names a package exports but imports on first use (PEP 562), for plugins.

Registering a plugin imports its package; that must stay cheap, so a plugin
package keeps its provider (plain data) at hand and its codec, simulator and
message builders behind a module ``__getattr__``::

    from voiceadapters.lazy import lazy_exports

    __getattr__ = lazy_exports(
        globals(), {"MyCodec": "codec", "MySimulator": "simulator"}, modules=("messages",)
    )

``from my_plugin import MyCodec`` then imports ``my_plugin.codec`` at that
moment, and only then; the value is kept in the package for the next lookup.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy_exports"]


def lazy_exports(
    namespace: MutableMapping[str, Any],
    names: Mapping[str, str],
    *,
    modules: Iterable[str] = (),
) -> Callable[[str], Any]:
    """A module ``__getattr__`` for the package whose ``globals()`` is
    ``namespace``: each of ``names`` (name → submodule) is imported from its
    submodule on first use, and each of ``modules`` is the submodule itself."""
    package = namespace["__name__"]
    submodules = frozenset(modules)

    def __getattr__(name: str) -> Any:
        if name in submodules:
            value: Any = importlib.import_module(f"{package}.{name}")
        elif name in names:
            value = getattr(importlib.import_module(f"{package}.{names[name]}"), name)
        else:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        namespace[name] = value
        return value

    return __getattr__
