"""``lazy_exports``: a package's names imported from their submodules on first use."""

from __future__ import annotations

import importlib

import pytest

from voiceadapters.lazy import lazy_exports


def test_a_name_comes_from_its_submodule_on_first_use_and_is_kept() -> None:
    namespace: dict[str, object] = {"__name__": "json"}
    getattr_ = lazy_exports(namespace, {"JSONDecoder": "decoder"}, modules=("scanner",))
    decoder = importlib.import_module("json.decoder")
    assert getattr_("JSONDecoder") is decoder.JSONDecoder
    assert namespace["JSONDecoder"] is decoder.JSONDecoder  # the next lookup needs no hook
    assert getattr_("scanner") is importlib.import_module("json.scanner")


def test_an_unknown_name_is_an_attribute_error_naming_the_package() -> None:
    getattr_ = lazy_exports({"__name__": "json"}, {})
    with pytest.raises(AttributeError, match="module 'json' has no attribute 'nope'"):
        getattr_("nope")
