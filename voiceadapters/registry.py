"""Find providers by name: entry points, loaded lazily, hooked in with pluggy.

Lookup order for a name (after fsspec's ``registry`` and SQLAlchemy's
``PluginLoader``):

1. providers already loaded (by name or alias);
2. plugins registered at run time with :func:`register` (``"module:attr"``
   strings, imported on first use) or :func:`register_plugin` (objects);
3. the entry point of that name in the group ``voiceadapters.providers``.

Only the plugin that provides the requested name is imported; listing the
installed providers (:func:`available_providers`) reads entry-point metadata
and imports nothing. The core imports no plugin: first-party adapters are
found exactly like third-party ones.
"""

from __future__ import annotations

import importlib
import logging
from importlib.metadata import EntryPoint, distributions
from typing import Any

import pluggy

from . import hookspecs
from .apiversion import check_core_api
from .errors import ConfigError, PluginError, UnknownProviderError
from .provider import Provider

__all__ = [
    "ENTRY_POINT_GROUP",
    "Registry",
    "available_providers",
    "get_provider",
    "load_all",
    "register",
    "register_plugin",
    "registry",
]

ENTRY_POINT_GROUP = "voiceadapters.providers"

log = logging.getLogger("voiceadapters.registry")


class Registry:
    """A set of providers and the pluggy manager their plugins are registered in."""

    def __init__(self, group: str = ENTRY_POINT_GROUP) -> None:
        self.group = group
        self.plugin_manager = pluggy.PluginManager(hookspecs.PROJECT)
        self.plugin_manager.add_hookspecs(hookspecs)
        self._providers: dict[str, Provider] = {}
        self._lazy: dict[str, str] = {}
        self._scanned: list[EntryPoint] | None = None

    # -- registration ------------------------------------------------------

    def register(self, name: str, target: str) -> None:
        """Register ``"module:attr"`` (or ``"module"``) as the plugin for
        ``name``, imported on first use."""
        self._lazy[name.lower()] = target

    def register_plugin(self, plugin: object, *, name: str | None = None) -> list[Provider]:
        """Register a plugin object (module or instance with ``@hookimpl``
        functions) and return the providers it offers."""
        if self.plugin_manager.is_registered(plugin):
            providers = self._providers_of(plugin)
        else:
            try:
                self.plugin_manager.register(plugin, name=name)
            except (pluggy.PluginValidationError, ValueError) as exc:
                raise PluginError(f"plugin {name or plugin!r} is invalid: {exc}") from exc
            try:
                providers = self._providers_of(plugin)
            except PluginError:
                self.plugin_manager.unregister(plugin)
                raise
        for provider in providers:
            for key in (provider.name, *provider.aliases):
                existing = self._providers.get(key)
                if existing is not None and existing is not provider:
                    raise PluginError(
                        f"provider name {key!r} is claimed by both {existing!r} and {provider!r}"
                    )
                self._providers[key] = provider
        return providers

    def _providers_of(self, plugin: object) -> list[Provider]:
        impl = getattr(plugin, "voiceadapters_providers", None)
        if impl is None:
            raise PluginError(f"plugin {plugin!r} has no voiceadapters_providers hook")
        try:
            result = list(impl())
        except Exception as exc:
            raise PluginError(
                f"plugin {plugin!r} failed in voiceadapters_providers: {exc}"
            ) from exc
        for provider in result:
            if not isinstance(provider, Provider):
                raise PluginError(
                    f"plugin {plugin!r} returned {provider!r}, not a voiceadapters.provider.Provider"
                )
            problem = check_core_api(provider)
            if problem is not None:
                raise PluginError(problem)
        return result

    def unregister(self, plugin: object) -> None:
        """Remove a plugin and its providers (mostly for tests)."""
        providers = self._providers_of(plugin) if self.plugin_manager.is_registered(plugin) else []
        self.plugin_manager.unregister(plugin)
        for provider in providers:
            for key in (provider.name, *provider.aliases):
                if self._providers.get(key) is provider:
                    del self._providers[key]

    # -- lookup ------------------------------------------------------------

    def _entry_points(self, *, rescan: bool = False) -> list[EntryPoint]:
        """The group's entry points, scanned once per registry (``rescan``:
        again, for a plugin installed since).

        A fresh process pays for this on its first lookup, so it reads no more
        than it must: ``importlib.metadata.entry_points()`` parses every
        installed distribution's entry points, where only the few whose
        ``entry_points.txt`` names the group are parsed here (about half the
        time with a hundred distributions installed). As the standard
        library does, the first distribution of a name on ``sys.path`` wins.
        """
        if self._scanned is None or rescan:
            found: list[EntryPoint] = []
            seen: set[str] = set()
            for dist in distributions():
                text = dist.read_text("entry_points.txt")
                if not text or self.group not in text:
                    continue
                name = (dist.metadata["Name"] or "").lower().replace("_", "-")
                if name in seen:
                    continue
                seen.add(name)
                found.extend(ep for ep in dist.entry_points if ep.group == self.group)
            self._scanned = found
        return self._scanned

    def available(self) -> list[str]:
        """Installed provider names (and aliases), without importing any plugin."""
        names = set(self._providers) | set(self._lazy)
        names.update(ep.name.lower() for ep in self._entry_points())
        return sorted(names)

    def get_target(self, target: str) -> tuple[Provider, str | None]:
        """A ``provider[+transport]`` target (``name``, ``name+webrtc``):
        the provider (as :meth:`get`) and the transport named, or ``None``.
        Raises :class:`~voiceadapters.errors.ConfigError` for a transport the
        provider does not list."""
        name, _, transport = target.partition("+")
        provider = self.get(name)
        if not transport:
            return provider, None
        transport = transport.lower()
        if transport not in provider.transports:
            raise ConfigError(
                f"{provider.name}: transport {transport!r} is not supported; "
                f"choose one of {', '.join(provider.transports)}"
            )
        return provider, transport

    def get(self, name: str) -> Provider:
        """The provider called ``name`` (or with that alias); loads its plugin on first use.

        Raises :class:`~voiceadapters.errors.UnknownProviderError` listing the
        installed providers, or :class:`~voiceadapters.errors.PluginError` if
        the plugin fails to load.
        """
        key = name.lower()
        if key in self._providers:
            return self._providers[key]
        if key in self._lazy:
            self.register_plugin(_import_target(self._lazy[key]), name=f"lazy:{key}")
        else:
            ep = self._find_entry_point(key)
            if ep is not None:
                self._load_entry_point(ep)
        if key not in self._providers:
            raise UnknownProviderError(name, self.available())
        return self._providers[key]

    def _find_entry_point(self, key: str) -> EntryPoint | None:
        for rescan in (False, True):  # a miss rescans: the plugin may be new
            for ep in self._entry_points(rescan=rescan):
                if ep.name.lower() == key:
                    return ep
        return None

    def _load_entry_point(self, ep: EntryPoint) -> None:
        try:
            plugin = ep.load()
        except Exception as exc:
            raise PluginError(
                f"plugin for provider {ep.name!r} ({ep.value}) failed to import: {exc}"
            ) from exc
        self.register_plugin(plugin, name=f"entrypoint:{ep.value}")

    def load_all(self) -> dict[str, Provider]:
        """Load every installed plugin; returns canonical name → provider.

        A plugin that fails to load is logged and skipped, so one broken
        plugin does not hide the others from ``voiceadapters providers``.
        """
        for name in self.available():
            try:
                self.get(name)
            except (PluginError, UnknownProviderError) as exc:
                log.warning("skipping provider %r: %s", name, exc)
        return {p.name: p for p in self._providers.values()}

    @property
    def hook(self) -> Any:
        """The pluggy hook relay (``registry.hook.voiceadapters_session_started(...)``)."""
        return self.plugin_manager.hook


def _import_target(target: str) -> object:
    module_name, _, attr = target.partition(":")
    try:
        module = importlib.import_module(module_name)
        return getattr(module, attr) if attr else module
    except (ImportError, AttributeError) as exc:
        raise PluginError(f"cannot import plugin {target!r}: {exc}") from exc


#: The process-wide registry used by :func:`voiceadapters.connect` and the CLI.
registry = Registry()


def get_provider(name: str) -> Provider:
    return registry.get(name)


def available_providers() -> list[str]:
    return registry.available()


def register(name: str, target: str) -> None:
    registry.register(name, target)


def register_plugin(plugin: object) -> list[Provider]:
    return registry.register_plugin(plugin)


def load_all() -> dict[str, Provider]:
    return registry.load_all()
