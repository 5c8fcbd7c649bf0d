"""voiceadapters.fields: each helper accepts what fits and says what did not."""

from __future__ import annotations

import base64
import binascii
import itertools
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from voiceadapters.fields import (
    MalformedField,
    base64_data,
    boolean,
    number,
    optional_string,
    string,
)


def _reference(text: str) -> bytes | None:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


def _ours(text: str) -> bytes | None:
    try:
        return base64_data(text)
    except (binascii.Error, ValueError):
        return None


def test_base64_data_decodes_standard_base64() -> None:
    assert base64_data(base64.b64encode(b"\x00\x01\xfe\xff").decode()) == b"\x00\x01\xfe\xff"
    assert base64_data("") == b""


@pytest.mark.parametrize(
    "text",
    ["QQ", "QQ=", "=QQ=", "QQ==QQ==", "QQ== ", " QQ==", "QQ\n==", "-_8=", "QQ==\x00", "é"],
)
def test_base64_data_refuses_what_strict_base64_refuses(text: str) -> None:
    with pytest.raises(ValueError):  # binascii.Error is a ValueError
        base64_data(text)


def test_base64_data_agrees_with_b64decode_validate_on_every_short_string() -> None:
    # Every string of up to five characters over the alphabet's edges,
    # padding, whitespace and a non-ASCII letter: accepted and refused alike.
    for n in range(6):
        for chars in itertools.product("QUI+/=\n é", repeat=n):
            text = "".join(chars)
            assert _ours(text) == _reference(text), repr(text)


@given(st.binary(max_size=64), st.integers(0, 80), st.sampled_from("=\n A-_"))
def test_base64_data_agrees_with_b64decode_validate_on_damaged_audio(
    data: bytes, at: int, junk: str
) -> None:
    text = base64.b64encode(data).decode()
    damaged = text[:at] + junk + text[at:]
    assert _ours(text) == data
    assert _ours(damaged) == _reference(damaged)


def test_string_helpers_name_the_field_they_refuse() -> None:
    assert string("x", "text") == "x"
    with pytest.raises(MalformedField, match="'text' must be a string"):
        string(None, "text")
    assert optional_string(None, "id", "d") == "d"
    with pytest.raises(MalformedField, match="'id' must be a string"):
        optional_string(3, "id")
    assert boolean(None, "final", True) is True
    with pytest.raises(MalformedField, match="'final' must be a boolean"):
        boolean(1, "final", False)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1, 1.0), (0.5, 0.5), (True, None), ("1", None), (math.nan, None), (10**400, None)],
)
def test_number_treats_what_is_not_a_finite_number_as_absent(
    value: object, expected: float | None
) -> None:
    assert number(value) == expected
