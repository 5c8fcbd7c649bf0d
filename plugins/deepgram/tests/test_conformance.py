"""The deepgram plugin adopts the whole conformance suite (both levels)."""

from voiceadapters_conformance.pytest_plugin import conformance_tests

test_conformance = conformance_tests("deepgram")
