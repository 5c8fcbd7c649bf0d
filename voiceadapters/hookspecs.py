"""The plugin hooks, documented as a contract (after pytest's ``hookspec.py``).

A plugin is any object — usually a module — with functions marked
``@hookimpl`` whose names match the hooks below. It is found through the
entry-point group ``voiceadapters.providers`` (the entry-point *name* is the
provider name, so ``voiceadapters.connect("vatel://…")`` loads only the
``vatel`` entry point) or registered at run time with
:func:`voiceadapters.registry.register_plugin`.

pluggy validates every implementation's signature against these specs when
the plugin is registered, so a misspelt hook or argument fails loudly at load
time, not in the middle of a session.

Example, in ``my_provider/plugin.py``::

    from voiceadapters.hookspecs import hookimpl

    @hookimpl
    def voiceadapters_providers():
        return [MyProvider()]

and in the plugin's ``pyproject.toml``::

    [project.entry-points."voiceadapters.providers"]
    myprovider = "my_provider.plugin"
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pluggy

if TYPE_CHECKING:
    from .config import ProviderConfig
    from .events import Event
    from .provider import Provider

__all__ = ["PROJECT", "hookimpl", "hookspec"]

PROJECT = "voiceadapters"

hookspec = pluggy.HookspecMarker(PROJECT)
#: Mark a plugin's hook implementations with this.
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def voiceadapters_providers() -> Sequence[Provider]:
    """Return the providers this plugin offers.

    Contract:

    * called once, when the plugin is registered; must be cheap and must not
      do I/O;
    * each returned object is an instance of :class:`voiceadapters.provider.Provider`
      with a unique lower-case ``name``; ``aliases`` must not collide with
      other providers' names;
    * the plugin's entry-point name(s) should be the provider's name and
      aliases, so that lookup by name loads this plugin and no other.
    """
    raise NotImplementedError


@hookspec
def voiceadapters_session_started(provider: str, config: ProviderConfig) -> None:
    """Called when a session's handshake succeeded (observability hook).

    ``config`` masks its secrets. Implementations must not block; exceptions
    they raise are logged and ignored.
    """


@hookspec
def voiceadapters_session_ended(provider: str, event: Event) -> None:
    """Called with the ``session_ended`` event of every session (observability).

    Same rules as :func:`voiceadapters_session_started`.
    """
