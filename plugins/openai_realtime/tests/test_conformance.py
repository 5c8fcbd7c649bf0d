from voiceadapters_conformance.pytest_plugin import conformance_tests

# The three providers share one codec and one simulator; azure-openai differs
# in its handshake (the api-key header, its own path), so it runs too.
# openai-compatible is the openai handshake under its own name and key
# variable (test_codec.py; the loopback sessions in this directory connect
# through it): the conformance report (docs/conformance/report.md) runs it,
# the suite does not run the same cases a third time.
test_conformance = conformance_tests("openai")
test_conformance_azure = conformance_tests("azure-openai")
