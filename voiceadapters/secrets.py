"""A string that never shows itself.

API keys and session tokens travel through config objects, handshake
descriptions and URLs. Wrapping them in :class:`Secret` makes every ``repr``,
``str``, f-string, log line and exception render ``'***'``; only
:meth:`Secret.reveal` gives the value, and only the driver calls it, at the
moment bytes go on the wire.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

from pydantic import GetCoreSchemaHandler
from pydantic_core import core_schema

__all__ = ["MASK", "Secret", "redact", "reveal"]

MASK = "***"


class Secret:
    """An opaque secret value (API key, token). Masked in every rendering."""

    __slots__ = ("_value",)

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"Secret wraps a str, not {type(value).__name__}")
        self._value: str = value

    def reveal(self) -> str:
        """Return the secret itself. Only call this to put it on the wire."""
        return self._value

    def __repr__(self) -> str:
        return f"Secret({MASK!r})"

    def __str__(self) -> str:
        return MASK

    def __format__(self, spec: str) -> str:
        return MASK

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)

    def __reduce__(self) -> Any:
        # Pickling would write the secret to wherever the pickle goes.
        raise TypeError("Secret values cannot be pickled")

    @classmethod
    def __get_pydantic_core_schema__(
        cls, source: Any, handler: GetCoreSchemaHandler
    ) -> core_schema.CoreSchema:
        return core_schema.no_info_plain_validator_function(
            lambda v: v if isinstance(v, Secret) else Secret(v),
            serialization=core_schema.plain_serializer_function_ser_schema(lambda v: MASK),
        )


def reveal(value: str | Secret) -> str:
    """The plain text of ``value``, whether it is a :class:`Secret` or a str."""
    return value.reveal() if isinstance(value, Secret) else value


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``***``: as it is,
    URL-encoded (``%2B`` and ``+`` forms), and, for a ``"Bearer <key>"``
    header value, the bare key too. For text a peer sent back (an error body
    that echoes the request's ``Authorization`` header or URL)."""
    for secret in secrets:
        value = secret.reveal()
        if not value:
            continue
        _, _, bare = value.partition(" ")
        for form in (value, bare):
            if len(form) < 4:  # a few characters would mask half the text
                continue
            for shown in {form, quote(form, safe=""), quote_plus(form)}:
                text = text.replace(shown, MASK)
    return text
