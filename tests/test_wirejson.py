"""voiceadapters.wirejson: hostile JSON decodes to a value that renders, or
to MalformedJSON — never to another exception."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voiceadapters.wirejson import (
    MAX_DEPTH,
    MalformedJSON,
    bounded,
    decode,
    dumps_excerpt,
    excerpt,
    scrub,
)

DEEP = "[" * 200_000 + "]" * 200_000


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def test_plain_json_decodes_with_nothing_replaced() -> None:
    assert decode('{"type": "x", "data": {"n": 1, "f": 0.5}}') == (
        {"type": "x", "data": {"n": 1, "f": 0.5}},
        0,
    )


def test_nesting_200000_deep_is_malformed_json_not_a_recursion_error() -> None:
    with pytest.raises(MalformedJSON) as caught:
        decode(DEEP)
    assert caught.value.code == "malformed_json"
    assert "nested deeper than 64 levels" in caught.value.message
    assert len(caught.value.message) < 300  # an excerpt, not the frame


def test_nesting_is_allowed_to_max_depth_and_refused_one_level_deeper() -> None:
    value, _ = decode(nested(MAX_DEPTH))
    json.dumps(value)  # and it renders
    with pytest.raises(MalformedJSON, match="nested deeper"):
        decode(nested(MAX_DEPTH + 1))
    with pytest.raises(MalformedJSON, match="nested deeper"):
        decode('{"a":' * 900 + "1" + "}" * 900)  # decodes, but nothing could render it


def test_many_shallow_containers_are_not_depth() -> None:
    # More brackets than MAX_DEPTH (the count that lets a plain frame skip
    # the walk), nested two deep: walked, and accepted.
    value = {"items": [[i] for i in range(3 * MAX_DEPTH)]}
    assert decode(json.dumps(value)) == (value, 0)


def test_brackets_inside_strings_do_not_count_as_depth() -> None:
    text = json.dumps({"text": "[" * 500})
    assert decode(text) == ({"text": "[" * 500}, 0)


def test_a_lone_surrogate_is_replaced_and_counted() -> None:
    value, replaced = decode('{"text": "a\\ud800b", "\\udfffkey": ["\\ud83d\\ude00"]}')
    assert value == {"text": "a\ufffdb", "\ufffdkey": ["\U0001f600"]}  # the pair is kept
    assert replaced == 2
    json.dumps(value, ensure_ascii=False).encode("utf-8")  # printable now


def test_a_raw_surrogate_in_a_str_frame_is_replaced_too() -> None:
    assert decode('"x\ud800"') == ("x\ufffd", 1)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400", "-1e400"])
def test_non_finite_numbers_read_as_null(literal: str) -> None:
    assert decode(f'{{"confidence": {literal}}}') == ({"confidence": None}, 0)


def test_a_400_digit_integer_stays_an_integer() -> None:
    value, _ = decode('{"score": ' + "9" * 400 + "}")
    assert value["score"] == int("9" * 400)


def test_an_integer_beyond_4300_digits_is_malformed_json() -> None:
    with pytest.raises(MalformedJSON) as caught:
        decode("1" * 4301)
    assert caught.value.code == "malformed_json" and "4300" in caught.value.message


def test_binary_frames_must_be_utf8() -> None:
    assert decode(b'{"a": "\xc3\xa9"}') == ({"a": "é"}, 0)
    with pytest.raises(MalformedJSON) as caught:
        decode(b'{"a": "\xff"}')
    assert caught.value.code == "malformed_frame"
    assert caught.value.message == "binary frame of 10 bytes is not UTF-8 (byte 7)"


def test_a_leading_byte_order_mark_is_ignored() -> None:
    assert decode('\ufeff{"a": 1}') == ({"a": 1}, 0)
    assert decode(b'\xef\xbb\xbf{"a": 1}') == ({"a": 1}, 0)


@pytest.mark.parametrize("text", ["", "{", "nope", '{"a": 1} x', '"\\x"', "\x00"])
def test_text_that_is_not_json_is_malformed_json(text: str) -> None:
    with pytest.raises(MalformedJSON) as caught:
        decode(text)
    assert caught.value.code == "malformed_json" and str(caught.value).startswith("frame is not")


def test_malformed_json_is_a_value_error_for_callers_that_catch_those() -> None:
    with pytest.raises(ValueError, match="not JSON"):
        decode("{")


def test_excerpts_and_bounded_text_stay_short_for_any_size() -> None:
    huge = "x" * (16 << 20)
    assert excerpt(huge) == repr("x" * 120) + f"… ({16 << 20} characters)"
    assert excerpt(b"\x00" * 200, 4) == repr(b"\x00" * 4) + "… (200 bytes)"
    assert excerpt("short") == "'short'"
    assert bounded("abc", 5) == "abc"
    assert bounded("x" * 10, 4) == "xxxx… (6 more characters)"


def test_dumps_excerpt_is_compact_and_cut() -> None:
    assert dumps_excerpt({"a": [1, 2]}) == '{"a":[1,2]}'
    assert dumps_excerpt({"a": "x" * 1000}, 20) == '{"a":"xxxxxxxxxxxxxx'


def test_scrub_makes_peer_text_sendable() -> None:
    assert scrub("id\ud800") == "id\ufffd"
    assert scrub("plain") == "plain"


# Lone surrogates, escapes and non-ASCII often, beside any other character
# (joined from a list: st.text leaves surrogates out).
_JSON_TEXT = st.lists(
    st.sampled_from(["\ud800", "\udfff", "\u00e9", "\\", '"', "a"]) | st.characters(),
    min_size=1,
    max_size=8,
).map("".join)
_JSON_VALUES = st.recursive(
    _JSON_TEXT | st.none() | st.booleans() | st.integers(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_JSON_TEXT, inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(_JSON_VALUES, st.booleans())
def test_escaped_and_raw_encodings_of_a_value_decode_alike(value: object, ascii_only: bool) -> None:
    # The plain-frame shortcut (no non-ASCII, no backslash) must answer as
    # the full walk does: a surrogate written raw or as a backslash-u escape is found.
    text = json.dumps(value, ensure_ascii=ascii_only)
    decoded, replaced = decode(text)
    plain = json.dumps(json.loads(text), ensure_ascii=False)  # an escaped pair joins here
    has_surrogate = any(0xD800 <= ord(c) <= 0xDFFF for c in plain)
    assert (replaced > 0) == has_surrogate
    json.dumps(decoded, ensure_ascii=False).encode("utf-8")  # always renders
