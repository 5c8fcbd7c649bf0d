"""Entry point of the ``openai``, ``azure-openai`` and ``openai-compatible``
providers (group ``voiceadapters.providers``).

Importing this module is cheap: it builds the providers (plain data); the
codec and simulator modules load when first used.
"""

from __future__ import annotations

from voiceadapters.hookspecs import hookimpl
from voiceadapters.provider import Provider

from .provider import AzureOpenAIProvider, OpenAICompatibleProvider, OpenAIProvider

__all__ = ["providers", "voiceadapters_providers"]

#: The providers this plugin offers: one protocol, three ways to reach it.
providers: list[Provider] = [OpenAIProvider(), AzureOpenAIProvider(), OpenAICompatibleProvider()]


@hookimpl
def voiceadapters_providers() -> list[Provider]:
    """The three OpenAI Realtime providers (see :mod:`voiceadapters.hookspecs`)."""
    return list(providers)
