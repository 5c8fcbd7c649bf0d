"""Entry point of the ``nextevi`` provider (group ``voiceadapters.providers``).

Importing this module is cheap: it builds the :class:`NextEVIProvider` (plain
data); the codec and simulator modules load when first used.
"""

from __future__ import annotations

from voiceadapters.hookspecs import hookimpl
from voiceadapters.provider import Provider

from .provider import NextEVIProvider

__all__ = ["provider", "voiceadapters_providers"]

#: The one provider this plugin offers.
provider = NextEVIProvider()


@hookimpl
def voiceadapters_providers() -> list[Provider]:
    """The ``nextevi`` provider (see :mod:`voiceadapters.hookspecs`)."""
    return [provider]
