"""Entry point of the ``binary-pcm`` provider (group ``voiceadapters.providers``).

Registered twice, as ``binary-pcm`` and as its alias ``workbuddy``, so that a
lookup by either name loads this plugin and no other. Importing this module is
cheap: it builds the :class:`BinaryPcmProvider` (plain data); the codec and
simulator modules load when first used.
"""

from __future__ import annotations

from voiceadapters.hookspecs import hookimpl
from voiceadapters.provider import Provider

from .provider import BinaryPcmProvider

__all__ = ["provider", "voiceadapters_providers"]

#: The one provider this plugin offers.
provider = BinaryPcmProvider()


@hookimpl
def voiceadapters_providers() -> list[Provider]:
    """The ``binary-pcm`` provider, alias ``workbuddy`` (see :mod:`voiceadapters.hookspecs`)."""
    return [provider]
