"""When and how a session reconnects after it lost its connection.

A live call must survive a network blip, a server restart and a provider's
session cap. The :class:`~voiceadapters.session.Session` does it; this module
holds the pure parts — the policy (:class:`ReconnectPolicy`) and the backoff
schedule — so they can be read, tested and documented apart from the event
loop.

What a reconnect is (docs/reliability.md has the whole story):

* **When.** The codec says whether the way its session ended may be continued
  on a new connection (:attr:`voiceadapters.codec.Codec.resumable`): the
  connection dropped without a close frame, or closed with 1001 (going
  away), 1006, 1011, 1012 (service restart), 1013 (try again later) or 1014,
  and the provider did not end the session by a message of its own. An
  authentication failure, a provider's own end, a close the application
  asked for and any other close are final: they never retry.
* **How.** A fresh codec from the provider, so a fresh handshake and a
  fresh token for every attempt, after a delay that grows exponentially with
  full jitter (:meth:`ReconnectPolicy.delay`) and honours a token endpoint's
  ``Retry-After``. A connection that dies within ``min_uptime`` of opening
  counts as a failed attempt, so a server that accepts and drops at once
  fails fast instead of flapping forever.
* **Audio meanwhile.** Microphone audio sent while reconnecting is held, up
  to ``hold_audio`` seconds, and sent on the new connection; beyond that the
  oldest is dropped. Both are counted in :class:`~voiceadapters.session.SessionStats`.
* **What the application sees.** One ``session_resumed`` event per reconnect
  (instead of the new connection's ``session_started``), saying after how long,
  after how many attempts and whether the in-flight turn survived
  (``state_restored``: true only where the protocol resumes natively). When
  reconnecting fails, the original ``session_ended`` arrives after all.
* **Rollover.** A provider that declares a session cap
  (:attr:`voiceadapters.provider.Provider.max_session_seconds`, or the
  ``max_session`` option) is reconnected on purpose ``rollover_margin``
  seconds before the cap, at a moment no agent audio is arriving.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import random

__all__ = ["RETRYABLE_CLOSE_CODES", "ReconnectPolicy"]

#: Close codes after which a new connection may continue the session
#: (RFC 6455 §7.4.1 and the IANA registry): going away, abnormal closure (no
#: close frame, reported as 1006 by some peers), internal error, service
#: restart, try again later, bad gateway. ``None`` — the connection dropped
#: without a close frame — is retryable too.
RETRYABLE_CLOSE_CODES = frozenset({1001, 1006, 1011, 1012, 1013, 1014})


@dataclass(frozen=True)
class ReconnectPolicy:
    """How a session reconnects. ``ReconnectPolicy(enabled=False)`` (or
    ``reconnect=false`` in the config string) turns it off."""

    enabled: bool = True
    #: Consecutive failed attempts before giving up (a connection that dies
    #: within ``min_uptime`` of opening is a failed attempt too).
    max_attempts: int = 5
    #: Backoff: the n-th attempt (0-based) waits a random time in
    #: ``[0, min(max_delay, initial_delay * multiplier**n)]`` ("full jitter").
    initial_delay: float = 0.25
    multiplier: float = 2.0
    max_delay: float = 8.0
    #: A new connection counts as good once it has been up this long.
    min_uptime: float = 2.0
    #: Seconds of microphone audio held while reconnecting (0: drop it all, counted).
    hold_audio: float = 5.0
    #: Roll over this many seconds before a declared session cap.
    rollover_margin: float = 30.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        for name in ("initial_delay", "max_delay", "min_uptime", "hold_audio", "rollover_margin"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.multiplier < 1:
            raise ValueError("multiplier must be at least 1")

    def delay(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds to wait before attempt ``attempt`` (0 for the first try)."""
        ceiling = min(self.max_delay, self.initial_delay * self.multiplier**attempt)
        if rng is None:
            import random  # on first use: it imports hashlib, which loads OpenSSL

            return random.uniform(0.0, ceiling)
        return rng.uniform(0.0, ceiling)
