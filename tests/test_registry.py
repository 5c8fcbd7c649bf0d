"""The registry: entry points, run-time registration, pluggy validation, clear errors."""

from __future__ import annotations

import sys

import pytest

from voiceadapters.errors import PluginError, UnknownProviderError
from voiceadapters.hookspecs import hookimpl
from voiceadapters.registry import Registry, registry

from .conftest import ToyPlugin


def test_runtime_registered_plugin_is_found_by_name_and_alias(toy_registry: Registry) -> None:
    assert toy_registry.get("toy").name == "toy"
    assert toy_registry.get("TOYBOX") is toy_registry.get("toy")


def test_unknown_provider_lists_the_installed_ones(toy_registry: Registry) -> None:
    with pytest.raises(UnknownProviderError) as info:
        toy_registry.get("acme")
    message = str(info.value)
    assert "'acme'" in message and "toy" in message and "pip install" in message


def test_installed_first_party_plugin_is_found_through_its_entry_point() -> None:
    assert "vatel" in registry.available()
    assert registry.get("vatel").name == "vatel"


def test_listing_providers_imports_no_plugin(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    fresh = Registry()
    for name in [m for m in sys.modules if m.startswith("voiceadapters_")]:
        monkeypatch.delitem(sys.modules, name)  # restored after the test
    assert "vatel" in fresh.available()
    assert not [m for m in sys.modules if m.startswith("voiceadapters_")]


PLUGIN_MODULE = """
from voiceadapters.hookspecs import hookimpl
from voiceadapters.capabilities import Capabilities
from voiceadapters.format import AudioFormat
from voiceadapters.provider import Provider

class LazyProvider(Provider):
    name = "lazy"
    default_host = "lazy.example.com"
    wire_input = wire_output = AudioFormat(16000)
    def make_codec(self, config): raise NotImplementedError
    def make_simulator(self, **kw): raise NotImplementedError
    def simulator_config(self, host, port, simulator): return ""

@hookimpl
def voiceadapters_providers():
    return [LazyProvider()]
"""


def test_lazy_string_registration_imports_on_first_use(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "lazy_va_plugin.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry(group="voiceadapters.tests.none")
    reg.register("lazy", "lazy_va_plugin")
    assert "lazy" in reg.available()
    assert "lazy_va_plugin" not in sys.modules
    assert reg.get("lazy").name == "lazy"
    assert "lazy_va_plugin" in sys.modules


def _install_distribution(root, name: str, group: str, module: str) -> None:  # type: ignore[no-untyped-def]
    """A distribution as pip leaves it on ``sys.path``: a ``.dist-info`` with its entry points."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[{group}]\nlazy = {module}\n")


def test_a_plugin_installed_after_the_first_lookup_is_found(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    group = "voiceadapters.tests.late"
    (tmp_path / "late_va_plugin.py").write_text(PLUGIN_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    reg = Registry(group=group)
    assert reg.available() == []  # the scan is done (and kept)
    _install_distribution(tmp_path, "late-va-plugin", group, "late_va_plugin")
    assert reg.get("lazy").name == "lazy"  # a miss scans again
    assert reg.available() == ["lazy"]


def test_only_the_first_distribution_of_a_name_on_the_path_counts(tmp_path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    group = "voiceadapters.tests.twice"
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    (first / "twice_a.py").write_text(PLUGIN_MODULE)
    _install_distribution(first, "twice-plugin", group, "twice_a")
    _install_distribution(second, "twice-plugin", group, "twice_b")
    monkeypatch.syspath_prepend(str(second))
    monkeypatch.syspath_prepend(str(first))
    reg = Registry(group=group)
    assert [ep.value for ep in reg._entry_points()] == ["twice_a"]
    assert reg.get("lazy").name == "lazy"


def test_module_without_the_hook_is_not_a_plugin() -> None:
    reg = Registry(group="voiceadapters.tests.none")
    reg.register("json", "json")
    with pytest.raises(PluginError, match="has no voiceadapters_providers hook"):
        reg.get("json")


def test_missing_module_is_a_plugin_error() -> None:
    reg = Registry(group="voiceadapters.tests.none")
    reg.register("ghost", "no_such_module_anywhere:plugin")
    with pytest.raises(PluginError, match="cannot import plugin"):
        reg.get("ghost")


def test_misspelt_hook_argument_is_rejected_at_registration() -> None:
    class Broken:
        @hookimpl
        def voiceadapters_providers(self, unexpected):  # type: ignore[no-untyped-def]
            return []

    with pytest.raises(PluginError, match="invalid"):
        Registry(group="x").register_plugin(Broken())


def test_plugin_returning_a_non_provider_is_rejected() -> None:
    class Wrong:
        @hookimpl
        def voiceadapters_providers(self):  # type: ignore[no-untyped-def]
            return ["not a provider"]

    with pytest.raises(PluginError, match=r"not a voiceadapters\.provider\.Provider"):
        Registry(group="x").register_plugin(Wrong())


def test_two_plugins_claiming_one_name_is_an_error(toy_registry: Registry) -> None:
    with pytest.raises(PluginError, match="claimed by both"):
        toy_registry.register_plugin(ToyPlugin())


def test_observability_hooks_are_called() -> None:
    reg = Registry(group="x")
    seen: list[str] = []

    class Observer:
        @hookimpl
        def voiceadapters_providers(self):  # type: ignore[no-untyped-def]
            return []

        @hookimpl
        def voiceadapters_session_ended(self, provider, event):  # type: ignore[no-untyped-def]
            seen.append(provider)

    reg.register_plugin(Observer())
    reg.hook.voiceadapters_session_ended(provider="p", event=None)
    assert seen == ["p"]
