"""Secrets out, audio down: what a cassette writer does to every value.

Scrubbing happens **at write time** — a secret never reaches the file, not
even for a moment — by a :class:`Scrubber` that knows every secret of the
session (the API key, each handshake step's :class:`~voiceadapters.secrets.Secret`
values, and what the provider issued: a token field of a token response is
learned as a secret before the response is written). The rules
(``docs/cassettes.md#secrets``):

* every value equal to a known secret, anywhere (headers, URLs, bodies,
  messages, close reasons), as it is or URL-encoded, becomes ``REDACTED``;
* the value of a secret-looking **header** (``Authorization``, ``api-key``,
  ``x-api-key``, ``cookie``; any name containing ``key``, ``token``,
  ``secret`` or ``auth``) becomes ``REDACTED`` (``Bearer REDACTED`` keeps
  the scheme);
* a secret-looking **URL query parameter** (named ``token``, ``key``,
  ``signature``, ``sig``, ``auth``, ``jwt``, ``password``, ``credential``, or
  containing one of these words: ``access_token``, ``X-Amz-Signature``…) has
  its value replaced — signed URLs lose their signature;
* in HTTP **bodies** (the token request and response), the value of a
  secret-looking field (the same words, plus ``client_secret``, ``value`` of
  an ``ephemeral_key``…: any key containing them) becomes ``REDACTED`` and is
  learned; a URL in a body has its query scrubbed as above;
* in WebSocket **messages**, fields named exactly ``token``,
  ``access_token``, ``api_key``, ``apikey``, ``client_secret``, ``jwt``,
  ``password``, ``secret`` or ``authorization`` are scrubbed (narrower than
  for bodies: a message's ``key`` or ``turn_token`` may be data).

Audio (:data:`~voiceadapters.cassette.format.AUDIO_POLICIES`): binary frames
are audio (every voice protocol here sends audio in binary frames); in JSON
messages, base64 audio is found at the provider's declared paths
(:attr:`voiceadapters.provider.Provider.wire_audio_fields`) or, when it
declares none, by :func:`find_audio` 's heuristic.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

from ..secrets import Secret
from .format import MARKER, TRUNCATE_BYTES, AudioField, iter_strings

__all__ = ["Scrubber", "find_audio", "is_secret_name"]

_SECRET_WORDS = ("token", "key", "secret", "auth", "signature", "password", "credential", "jwt")
_SECRET_QUERY_EXACT = frozenset({"sig", "s", "code"})
_MESSAGE_SECRET_FIELDS = frozenset(
    {
        "token",
        "access_token",
        "api_key",
        "apikey",
        "client_secret",
        "jwt",
        "password",
        "secret",
        "authorization",
    }
)
_AUTH_SCHEMES = ("bearer ", "basic ", "token ")
#: JSON keys whose string value is taken for base64 audio (heuristic).
_AUDIO_KEYS = ("audio", "pcm", "chunk", "payload", "media")
#: A base64 string this long is taken for audio under any key (heuristic).
_LONG_BASE64 = 1024
_B64_RE = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
_URL_RE = re.compile(r"^(?:https?|wss?)://", re.IGNORECASE)


def is_secret_name(name: str) -> bool:
    """Whether a header, query parameter or body field called ``name`` holds a
    credential (a word of :data:`_SECRET_WORDS` in it, case-insensitively)."""
    lowered = name.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def _b64_size(value: str) -> int | None:
    """The decoded size of ``value`` if it is valid, padded base64, else ``None``."""
    if len(value) % 4 or not _B64_RE.match(value):
        return None
    try:
        return len(base64.b64decode(value, validate=True))
    except (binascii.Error, ValueError):
        return None


def _parse_paths(paths: Iterable[str]) -> list[tuple[str | None, tuple[str, ...]]]:
    """``"data.audio"`` → ``(None, ("data", "audio"))``; a declaration
    qualified by a message type, ``"response.output_audio.delta:delta"`` →
    ``("response.output_audio.delta", ("delta",))``: the path is audio only in
    a message whose top-level ``type`` is that (the same field name may carry
    text in another message type)."""
    parsed: list[tuple[str | None, tuple[str, ...]]] = []
    for declared in paths:
        kind, colon, path = declared.rpartition(":")
        if path:
            parsed.append((kind if colon else None, tuple(path.split("."))))
    return parsed


def _matches(path: tuple[str | int, ...], pattern: tuple[str, ...]) -> bool:
    if len(path) != len(pattern):
        return False
    return all(p == "*" or str(k) == p for k, p in zip(path, pattern, strict=True))


def find_audio(
    message: Any, declared: Iterable[str] = ()
) -> list[tuple[tuple[str | int, ...], int]]:
    """Paths and decoded sizes of the base64 audio inside a decoded JSON message.

    With ``declared`` paths (dotted, ``*`` for any one key or index:
    ``"data.audio"``; ``TYPE:path`` for a path that is audio only in messages
    whose top-level ``type`` is ``TYPE``: ``"response.output_audio.delta:delta"``),
    only those are audio, when they hold valid base64.
    Without: a string is audio when it is valid padded base64 of at least 8
    characters under a key containing ``audio``, ``pcm``, ``chunk``,
    ``payload`` or ``media``, or any valid base64 string of at least
    1024 characters (heuristic; docs/cassettes.md#audio).
    """
    parsed = _parse_paths(declared)
    kind = message.get("type") if isinstance(message, dict) else None
    patterns = [p for k, p in parsed if k is None or k == kind]
    found = []
    for path, value in iter_strings(message):
        if parsed:
            if not any(_matches(path, p) for p in patterns):
                continue
            size = _b64_size(value)
        else:
            if len(value) < 8:
                continue
            key = str(path[-1]).lower() if path else ""
            if not (any(word in key for word in _AUDIO_KEYS) or len(value) >= _LONG_BASE64):
                continue
            size = _b64_size(value)
        if size is not None:
            found.append((path, size))
    return found


class Scrubber:
    """Removes secrets from, and applies the audio policy to, what is written."""

    def __init__(self, *, audio: str = "keep", audio_fields: Iterable[str] = ()) -> None:
        self.audio = audio
        self.audio_fields = tuple(audio_fields)
        self._values: set[str] = set()

    # -- secrets --------------------------------------------------------------

    def learn(self, *values: str | Secret | None) -> None:
        """Add secrets (values shorter than 4 characters are not masked, as in
        :func:`voiceadapters.secrets.redact`)."""
        for value in values:
            if value is None:
                continue
            text = value.reveal() if isinstance(value, Secret) else value
            if len(text) >= 4 and text not in self._values:
                self._values.add(text)
                # A "Bearer <key>" header teaches the bare key too.
                scheme, _, bare = text.partition(" ")
                if bare and scheme.lower() + " " in _AUTH_SCHEMES:
                    self.learn(bare)

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret learned so far (for a test's scan of the written file)."""
        return tuple(sorted(self._values))

    def text(self, text: str) -> str:
        """``text`` with every known secret replaced by the marker."""
        for value in self._ordered():
            for shown in {value, quote(value, safe=""), quote_plus(value)}:
                text = text.replace(shown, MARKER)
        return text

    def _ordered(self) -> list[str]:
        # Longest first: a key that contains another secret is masked whole.
        return sorted(self._values, key=len, reverse=True)

    def header(self, name: str, value: str) -> str:
        if is_secret_name(name) or name.lower() in ("cookie", "set-cookie"):
            lowered = value.lower()
            for scheme in _AUTH_SCHEMES:
                if lowered.startswith(scheme):
                    return value[: len(scheme)] + MARKER
            return MARKER
        return self.text(value)

    def headers(self, headers: Iterable[tuple[str, str]]) -> dict[str, str]:
        return {name: self.header(name, value) for name, value in headers}

    def url(self, url: str) -> str:
        """``url`` with secret-looking query values replaced (and known
        secrets anywhere in it)."""
        parts = urlsplit(url)
        if parts.query:
            pairs = parse_qsl(parts.query, keep_blank_values=True)
            for name, value in pairs:
                if self._secret_query(name):
                    self.learn(value)
            clean = [(name, MARKER if self._secret_query(name) else value) for name, value in pairs]
            url = urlunsplit(parts._replace(query=urlencode(clean, quote_via=quote, safe="")))
        return self.text(url)

    @staticmethod
    def _secret_query(name: str) -> bool:
        return is_secret_name(name) or name.lower() in _SECRET_QUERY_EXACT

    def body_json(self, value: Any, *, learn: bool = True) -> Any:
        """A JSON body with secret-looking fields scrubbed (and learned)."""
        return self._walk(value, is_secret_name, learn)

    def _walk(
        self, value: Any, secret_key: Any, learn: bool, key: str = "", inside: bool = False
    ) -> Any:
        """``inside``: under a secret-looking key (``client_secret: {value: …}``):
        every string below is a credential."""
        secret = inside or bool(key and secret_key(key))
        if isinstance(value, dict):
            return {k: self._walk(v, secret_key, learn, str(k), secret) for k, v in value.items()}
        if isinstance(value, list):
            return [self._walk(v, secret_key, learn, key, inside) for v in value]
        if isinstance(value, str):
            if secret:
                if learn:
                    self.learn(value)
                return MARKER
            if _URL_RE.match(value):
                return self.url(value)
            return self.text(value)
        return value

    # -- messages -------------------------------------------------------------

    def message_text(self, text: str) -> tuple[str, tuple[AudioField, ...]]:
        """A text message as it is written: secrets out, and its base64 audio
        as the audio policy says (the ``audio`` entries of the line)."""
        try:
            message = json.loads(text)
        except ValueError:
            return self.text(text), ()
        if not isinstance(message, dict | list):
            return self.text(text), ()
        scrubbed = self._walk(message, lambda k: k.lower() in _MESSAGE_SECRET_FIELDS, True)
        changed = scrubbed != message
        audio: list[AudioField] = []
        if self.audio != "keep":
            for path, size in find_audio(scrubbed, self.audio_fields):
                obj = scrubbed
                for part in path[:-1]:
                    obj = obj[part]
                value = obj[path[-1]]
                kept = b""
                if self.audio == "truncate":
                    kept = base64.b64decode(value)[:TRUNCATE_BYTES]
                obj[path[-1]] = f"<audio: {size} bytes>"
                audio.append(AudioField(path, size, kept))
                changed = True
        if not changed:
            return self.text(text), ()
        return self.text(json.dumps(scrubbed)), tuple(audio)

    def binary(self, data: bytes) -> bytes:
        """What a binary frame (audio) keeps under the audio policy."""
        if self.audio == "marker":
            return b""
        if self.audio == "truncate":
            data = data[:TRUNCATE_BYTES]
        for value in self._values:  # a secret inside a binary frame: never seen, but never kept
            raw = value.encode()
            if raw in data:
                data = data.replace(raw, MARKER.encode())
        return data
