"""Entry point of the ``vatel`` provider (group ``voiceadapters.providers``).

Importing this module is cheap: it builds the :class:`VatelProvider` (plain
data); the codec and simulator modules load when first used.
"""

from __future__ import annotations

from voiceadapters.hookspecs import hookimpl
from voiceadapters.provider import Provider

from .provider import VatelProvider

__all__ = ["provider", "voiceadapters_providers"]

#: The one provider this plugin offers.
provider = VatelProvider()


@hookimpl
def voiceadapters_providers() -> list[Provider]:
    """The ``vatel`` provider (see :mod:`voiceadapters.hookspecs`)."""
    return [provider]
