"""``conformance_tests(provider)``: one parametrized test per case and level."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from voiceadapters.events import Event, SessionStarted
from voiceadapters_conformance import CASES, LEVELS
from voiceadapters_conformance.pytest_plugin import ConformanceWarning, conformance_tests
from voiceadapters_example import ExampleProvider
from voiceadapters_example.codec import ExampleCodec

from .broken import Broken, by_target


def param_ids(test: Any) -> list[str]:
    (mark,) = [m for m in test.pytestmark if m.name == "parametrize"]
    argnames, params = mark.args
    assert argnames == ("case_id", "level")
    return [p.id for p in params]


def test_one_param_per_case_and_level_with_readable_ids() -> None:
    ids = param_ids(conformance_tests("example"))
    expected = sum(level in case.levels for case in CASES.values() for level in LEVELS)
    assert len(ids) == len(set(ids)) == expected
    assert ids[0] == "codec-1.1-handshake-is-described-as-data"
    assert "codec-4.1-user-transcripts-interim-then-final" in ids
    assert "network-9.3-slow-consumer-bounded-memory-only-audio-dropped" in ids
    assert "network-1.1-handshake-is-described-as-data" not in ids  # 1.1 is codec-only
    # Codec level first, then network; cases in catalogue order within each.
    levels = [i.split("-")[0] for i in ids]
    assert levels == sorted(levels)


def test_levels_and_only_narrow_the_params() -> None:
    ids = param_ids(conformance_tests("example", levels=("codec",), only=["8", "2.2"]))
    assert ids == [
        "codec-2.2-client-close-ends-with-client-closed",
        "codec-8.1-malformed-frame-is-reported-and-the-session-goes-on",
        "codec-8.2-unknown-message-is-passed-on",
        "codec-8.3-fatal-close-is-reported-with-its-code",
    ]


def test_verdicts_become_pytest_outcomes() -> None:
    test = conformance_tests(by_target()["8.1"])  # a Provider object works as well as a name
    test("8.2", "codec")  # pass: returns
    with pytest.raises(pytest.fail.Exception, match=r"8\.1 .*\[codec\]: a malformed frame"):
        test("8.1", "codec")
    with pytest.raises(pytest.skip.Exception, match="capability agent_ready is false"):
        test("2.4", "codec")


class NoSessionIdCodec(ExampleCodec):
    provider = "deviant-no-session-id"

    def events_received(self) -> list[Event]:
        return [
            SessionStarted() if isinstance(e, SessionStarted) else e
            for e in super().events_received()
        ]


class NoSessionId(Broken, ExampleProvider):
    name = "deviant-no-session-id"
    defect = "session_started carries no session_id (a recommendation, not a rule)"
    codec_class = NoSessionIdCodec


def test_non_strict_passes_with_a_warning() -> None:
    test = conformance_tests(NoSessionId())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        test("2.1", "codec")
    assert [type(w.message) for w in caught] == [ConformanceWarning]
    assert "session_started carries no session_id" in str(caught[0].message)
