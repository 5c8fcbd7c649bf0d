"""The cases, one module per family; importing this package registers them all."""

from . import audio, conversation, errors, handshake, lifecycle, resilience

__all__ = ["audio", "conversation", "errors", "handshake", "lifecycle", "resilience"]
