"""Bounds on every step of a session, common to every provider.

A codec describes its protocol's defaults in its handshake steps
(:class:`~voiceadapters.handshake.HttpRequest` ``timeout``/``max_body``,
:class:`~voiceadapters.handshake.WebSocketRequest` ``open_timeout``,
``first_message_timeout``, ``idle_timeout``, ``max_size``). The application
can override any of them, the same way for every provider, with these common
options (in the config string or as ``voiceadapters.connect(...)`` keywords);
the driver applies them to each step before it executes it.

=========================  ============================================  ============
option                     bounds                                        default
=========================  ============================================  ============
``http_timeout``           each HTTP step (the token request), whole     the step's (10 s)
``open_timeout``           the WebSocket opening handshake (TCP, TLS,    the step's (10 s)
                           upgrade)
``first_message_timeout``  from the socket's opening to the provider's   the step's (10 s)
                           first message; ``0`` turns it off
``idle_timeout``           silence from the provider: no inbound frame   off
                           at all, pings and pongs included; ``0``: off
``ping_interval``          keepalive: a ping this long after the last    the step's (20 s)
                           pong; ``0`` turns keepalive off
``ping_timeout``           keepalive: no pong this long after a ping     the step's (20 s)
                           fails the connection (close 1011); ``0``: wait
``max_message_size``       one incoming WebSocket message, in bytes      the step's (16 MiB)
``max_token_body``         the body of an HTTP step's response, bytes    the step's (1 MiB)
=========================  ============================================  ============

Times are seconds (floats); sizes are bytes (integers).
"""

from __future__ import annotations

import dataclasses
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import ConfigError

if TYPE_CHECKING:
    # Only for types: ``import voiceadapters`` (config imports this module)
    # must not pay for the handshake module and what it imports.
    from .handshake import HttpRequest, MediaRequest, WebSocketRequest

__all__ = ["LIMIT_OPTIONS", "Limits"]

#: The option names (all of them common options; see :data:`voiceadapters.config.COMMON_OPTIONS`).
LIMIT_OPTIONS = (
    "http_timeout",
    "open_timeout",
    "first_message_timeout",
    "idle_timeout",
    "ping_interval",
    "ping_timeout",
    "max_message_size",
    "max_token_body",
)
_TIMES = frozenset(LIMIT_OPTIONS[:6])
#: Timeouts for which 0 means "no deadline" rather than "fail at once".
_ZERO_IS_OFF = frozenset({"first_message_timeout", "idle_timeout", "ping_interval", "ping_timeout"})

S = TypeVar("S", bound="HttpRequest | WebSocketRequest | MediaRequest")


@dataclass(frozen=True)
class Limits:
    """The bounds the application set; ``None`` leaves the step's own value."""

    http_timeout: float | None = None
    open_timeout: float | None = None
    first_message_timeout: float | None = None
    idle_timeout: float | None = None
    ping_interval: float | None = None
    ping_timeout: float | None = None
    max_message_size: int | None = None
    max_token_body: int | None = None

    @classmethod
    def pop_options(cls, options: MutableMapping[str, Any]) -> Limits:
        """Take the limit options out of ``options`` (strings or numbers);
        raises :class:`~voiceadapters.errors.ConfigError` for a bad value."""
        values: dict[str, Any] = {}
        for name in LIMIT_OPTIONS:
            if name in options:
                values[name] = _parse(name, options.pop(name))
        return cls(**values)

    def options(self) -> dict[str, str]:
        """The limits that are set, as config-string options."""
        return {
            f.name: f"{getattr(self, f.name):g}" if f.name in _TIMES else str(getattr(self, f.name))
            for f in dataclasses.fields(self)
            if getattr(self, f.name) is not None
        }

    def apply(self, step: S) -> S:
        """``step`` with the limits that are set put in place of its own
        (a ``0`` timeout or ping interval becomes ``None``: none)."""
        from .handshake import HttpRequest, MediaRequest

        if isinstance(step, HttpRequest):
            changes: dict[str, Any] = {
                "timeout": self.http_timeout,
                "max_body": self.max_token_body,
            }
        elif isinstance(step, MediaRequest):
            changes = {
                "open_timeout": self.open_timeout,
                "first_message_timeout": self.first_message_timeout,
                "idle_timeout": self.idle_timeout,
            }
        else:
            changes = {
                "open_timeout": self.open_timeout,
                "first_message_timeout": self.first_message_timeout,
                "idle_timeout": self.idle_timeout,
                "ping_interval": self.ping_interval,
                "ping_timeout": self.ping_timeout,
                "max_size": self.max_message_size,
            }
        given: dict[str, Any] = {k: (v or None) for k, v in changes.items() if v is not None}
        return dataclasses.replace(step, **given) if given else step


def _parse(name: str, value: Any) -> float | int:
    number: float | int = 0
    try:
        if name in _TIMES:
            number = float(value)
            ok = number >= 0 if name in _ZERO_IS_OFF else number > 0
        else:
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            number = int(value)
            ok = number > 0
    except (TypeError, ValueError):
        ok = False
    if not ok or number in (float("inf"), float("nan")) or number != number:
        kind = "a number of seconds" if name in _TIMES else "a whole number of bytes"
        floor = " (0: off)" if name in _ZERO_IS_OFF else ""
        raise ConfigError(
            f"option {name!r} must be {kind} greater than 0{floor}, not {value!r}"
        ) from None
    return number
