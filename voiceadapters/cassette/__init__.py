"""Cassettes: record a real session, replay it offline (docs/cassettes.md).

* :class:`Recorder` and :class:`RecordingTransport` write a session to a
  cassette (``voiceadapters.connect(config, record="file.jsonl")``,
  ``voiceadapters record``);
* :class:`CassetteServer` serves a cassette as a provider on loopback, and
  :func:`replay` runs the adapter against it and reports every difference
  (``voiceadapters replay``);
* :func:`load` reads a cassette, :func:`find_secrets` scans one.

Imported on first use: nothing here loads unless a cassette is used.
"""

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .compare import Difference, ReplayReport
    from .format import MARKER, Cassette, CassetteError, load
    from .record import Recorder, RecordingTransport
    from .server import REPLAY_KEY, CassetteServer, replay
    from .tools import find_secrets

_LAZY = {
    "MARKER": "format",
    "Cassette": "format",
    "CassetteError": "format",
    "load": "format",
    "Difference": "compare",
    "ReplayReport": "compare",
    "Recorder": "record",
    "RecordingTransport": "record",
    "REPLAY_KEY": "server",
    "CassetteServer": "server",
    "replay": "server",
    "find_secrets": "tools",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = [
    "MARKER",
    "REPLAY_KEY",
    "Cassette",
    "CassetteError",
    "CassetteServer",
    "Difference",
    "Recorder",
    "RecordingTransport",
    "ReplayReport",
    "find_secrets",
    "load",
    "replay",
]
