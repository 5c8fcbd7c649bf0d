"""The entry point: ``deepgram = "voiceadapters_deepgram.plugin"`` in the group
``voiceadapters.providers``. Cheap: it builds the provider (plain data) and
imports neither the codec nor the simulator."""

from __future__ import annotations

from voiceadapters.hookspecs import hookimpl
from voiceadapters.provider import Provider

from .provider import DeepgramProvider

__all__ = ["provider", "voiceadapters_providers"]

provider = DeepgramProvider()


@hookimpl
def voiceadapters_providers() -> list[Provider]:
    """The providers this plugin offers (contract: :mod:`voiceadapters.hookspecs`)."""
    return [provider]
