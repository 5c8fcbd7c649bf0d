"""Checks on cassette files: no secret inside (what the tests and the
re-recording tool run on every cassette they write or ship)."""

from __future__ import annotations

import base64
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import quote, quote_plus

__all__ = ["find_secrets"]


def find_secrets(path: str | Path, values: Iterable[str]) -> list[str]:
    """Which of ``values`` (keys, tokens) occur in the file at ``path``:
    as they are, URL-encoded, or base64-encoded (a binary frame). Values
    shorter than 4 characters are not looked for. Returns the values found,
    masked to their first two characters (a report must not leak them)."""
    text = Path(path).read_bytes()
    found = []
    for value in values:
        if len(value) < 4:
            continue
        forms = {value, quote(value, safe=""), quote_plus(value)}
        forms.add(base64.b64encode(value.encode()).decode("ascii").rstrip("="))
        if any(form.encode() in text for form in forms):
            found.append(value[:2] + "…")
    return found
