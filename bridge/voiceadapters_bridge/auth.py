"""Who may use the bridge: the bridge key, short-lived client tokens, origins.

* The **bridge key** (``VOICEADAPTERS_BRIDGE_KEY``) is a shared secret for
  servers (your backend, Twilio's stream via a ``token`` parameter). It also
  signs client tokens.
* A **client token** is minted for one browser or call with an expiry:
  ``vab1.<payload>.<signature>``, where ``payload`` is the base64url JSON
  ``{"exp": unix seconds, "iat": …, "nonce": …, "opt": {agent options}}`` and
  ``signature`` the base64url HMAC-SHA256 (RFC 2104) of ``vab1.<payload>``
  under the bridge key. ``opt`` (optional) are agent options chosen by
  whoever minted the token; they need not be on the bridge's client-option
  allow-list, since only a holder of the bridge key can sign them.
  Tokens are minted by ``POST /tokens`` (with the bridge key) and by
  ``voiceadapters bridge-token``.
* The **origin allow-list** applies to browsers (requests with an ``Origin``
  header): the bridge's own origin is always allowed (its page), others
  only when listed.

Every check compares in constant time (:func:`hmac.compare_digest`).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from voiceadapters.secrets import Secret

__all__ = [
    "BRIDGE_KEY_ENV",
    "MAX_TOKEN_TTL",
    "TOKEN_PREFIX",
    "Credential",
    "Refusal",
    "check_credential",
    "mint_token",
    "origin_allowed",
]

#: Environment variable holding the bridge key (never a command-line flag).
BRIDGE_KEY_ENV = "VOICEADAPTERS_BRIDGE_KEY"
TOKEN_PREFIX = "vab1"
#: Longest lifetime of a client token: a day.
MAX_TOKEN_TTL = 86400.0
#: Options a token or a client can never set.
RESERVED_OPTIONS = frozenset({"api_key", "token"})


class Refusal(Exception):
    """Why the bridge refuses a connection: the WebSocket close ``code`` and
    ``reason``, and a short ``label`` for the refused-sessions metric."""

    def __init__(self, code: int, reason: str, label: str) -> None:
        super().__init__(code, reason, label)
        self.code = code
        self.reason = reason
        self.label = label

    def __str__(self) -> str:
        return f"{self.code} {self.reason}"


@dataclass(frozen=True)
class Credential:
    """An accepted credential: the bridge key itself, or a client token."""

    kind: str  # "key" or "token"
    expires_at: float | None = None
    options: Mapping[str, str] = field(default_factory=dict)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _sign(key: Secret, body: str) -> str:
    mac = hmac.new(key.reveal().encode("utf-8"), body.encode("ascii"), hashlib.sha256)
    return _b64(mac.digest())


def mint_token(
    key: Secret,
    *,
    ttl: float,
    now: float,
    options: Mapping[str, str] | None = None,
) -> tuple[str, float]:
    """A client token valid for ``ttl`` seconds from ``now`` (unix time), and
    its expiry. Raises ``ValueError`` for a ``ttl`` outside (0, 1 day] or a
    reserved option."""
    if not 0 < ttl <= MAX_TOKEN_TTL:
        raise ValueError(f"token ttl must be in (0, {MAX_TOKEN_TTL:.0f}] seconds, not {ttl}")
    opts = dict(options or {})
    bad = sorted(RESERVED_OPTIONS & opts.keys())
    if bad:
        raise ValueError(f"a token cannot carry the option(s) {', '.join(bad)}")
    expires = int(now + ttl)
    claims: dict[str, object] = {"exp": expires, "iat": int(now), "nonce": secrets.token_hex(8)}
    if opts:
        claims["opt"] = opts
    body = f"{TOKEN_PREFIX}.{_b64(json.dumps(claims, separators=(',', ':')).encode())}"
    return f"{body}.{_sign(key, body)}", float(expires)


def check_credential(presented: str | None, key: Secret | None, *, now: float) -> Credential:
    """The credential ``presented`` stands for, or :class:`Refusal` (close
    code 1008, RFC 6455 §7.4.1 "policy violation"). ``key=None``: the bridge
    runs without authentication and everything is accepted."""
    if key is None:
        return Credential("none")
    if not presented:
        raise Refusal(1008, "unauthorized: no bridge key or client token", "unauthenticated")
    if presented.startswith(f"{TOKEN_PREFIX}."):
        return _check_token(presented, key, now=now)
    if hmac.compare_digest(presented.encode("utf-8"), key.reveal().encode("utf-8")):
        return Credential("key")
    raise Refusal(1008, "unauthorized: wrong bridge key or token", "bad_credential")


def _check_token(token: str, key: Secret, *, now: float) -> Credential:
    bad = Refusal(1008, "unauthorized: wrong bridge key or token", "bad_credential")
    parts = token.split(".")
    if len(parts) != 3:
        raise bad
    body = f"{parts[0]}.{parts[1]}"
    if not hmac.compare_digest(parts[2].encode("ascii", "replace"), _sign(key, body).encode()):
        raise bad
    try:
        claims = json.loads(_unb64(parts[1]))
    except (binascii.Error, ValueError):
        raise bad from None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if not isinstance(exp, int | float):
        raise bad
    if now >= exp:
        raise Refusal(1008, "unauthorized: client token expired", "token_expired")
    raw = claims.get("opt") or {}
    options = {str(k): str(v) for k, v in raw.items()} if isinstance(raw, dict) else {}
    return Credential("token", expires_at=float(exp), options=options)


def origin_allowed(origin: str | None, host: str | None, allowed: Iterable[str]) -> bool:
    """May a request with this ``Origin`` header use the bridge?

    No ``Origin`` (a server, Twilio): yes — those authenticate with a key or
    token. The bridge's own origin (its page; the origin's host equals the
    request's ``Host``): yes. Otherwise only an origin in ``allowed``
    (``scheme://host[:port]``, exact; ``*`` allows any).
    """
    if origin is None:
        return True
    allowed = list(allowed)
    if "*" in allowed or origin in allowed:
        return True
    netloc = urlsplit(origin).netloc
    return bool(host) and netloc.lower() == (host or "").lower()
