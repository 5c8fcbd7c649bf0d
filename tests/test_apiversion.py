"""A plugin made for another core plugin API is refused when it loads, naming both versions."""

from __future__ import annotations

from typing import ClassVar

import pytest

from voiceadapters.apiversion import CORE_API, check_core_api, in_range
from voiceadapters.errors import PluginError
from voiceadapters.hookspecs import hookimpl
from voiceadapters.provider import Provider
from voiceadapters.registry import Registry, registry

from .conftest import ToyProvider


def _plugin_of(provider: Provider) -> object:
    class Plugin:
        @hookimpl
        def voiceadapters_providers(self) -> list[Provider]:
            return [provider]

    return Plugin()


def _toy(core_api: str | None) -> Provider:
    class Versioned(ToyProvider):
        name: ClassVar[str] = "versioned"
        aliases: ClassVar[tuple[str, ...]] = ()

    Versioned.core_api = core_api
    return Versioned()


@pytest.mark.parametrize(
    ("spec", "inside"),
    [
        (">=0.2,<0.3", True),
        (">=0.3", False),
        ("==0.2", True),
        ("<0.2", False),
        (" >= 0.1 , != 0.2 ", False),
    ],
)
def test_a_range_is_comma_separated_clauses(spec: str, inside: bool) -> None:
    assert in_range("0.2", spec) is inside


def test_a_plugin_outside_its_range_is_refused_naming_both_versions() -> None:
    reg = Registry(group="voiceadapters.tests.none")
    with pytest.raises(PluginError) as info:
        reg.register_plugin(_plugin_of(_toy(">=9.0,<10.0")))
    message = str(info.value)
    assert "'versioned'" in message and ">=9.0,<10.0" in message and CORE_API in message
    assert "versioned" not in reg.available()  # nothing half-registered


def test_a_malformed_range_is_a_plugin_error_saying_what_is_wrong() -> None:
    with pytest.raises(PluginError, match=r"'~0\.2' is not an operator"):
        Registry(group="x").register_plugin(_plugin_of(_toy("~0.2")))


def test_a_provider_without_a_range_still_loads() -> None:
    assert check_core_api(_toy(None)) is None
    assert Registry(group="x").register_plugin(_plugin_of(_toy(None)))[0].name == "versioned"


@pytest.mark.parametrize("name", ["vatel", "binary-pcm", "nextevi", "example"])
def test_every_first_party_plugin_declares_the_range_of_this_core(name: str) -> None:
    provider = registry.get(name)
    assert provider.core_api is not None and in_range(CORE_API, provider.core_api)
