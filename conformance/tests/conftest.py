"""Fixtures of the conformance suite's own tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from voiceadapters.registry import registry

from .broken import PLUGIN


@pytest.fixture
def broken_registered() -> Iterator[None]:
    """The broken plugins, registered by name in the process-wide registry
    (the network level and the CLI look providers up by name)."""
    registry.register_plugin(PLUGIN)
    try:
        yield
    finally:
        registry.unregister(PLUGIN)
