"""The entry point: ``example = "voiceadapters_example.plugin"`` in the group
``voiceadapters.providers`` (see ``pyproject.toml``).

voiceadapters imports this module the first time someone asks for the
``example`` provider and calls its one hook. Keep it cheap: it builds the
provider (plain data) and imports neither the codec nor the simulator.
"""

from __future__ import annotations

from voiceadapters.hookspecs import hookimpl
from voiceadapters.provider import Provider

from .provider import ExampleProvider

__all__ = ["provider", "voiceadapters_providers"]

provider = ExampleProvider()


@hookimpl
def voiceadapters_providers() -> list[Provider]:
    """The providers this plugin offers (contract: :mod:`voiceadapters.hookspecs`)."""
    return [provider]
