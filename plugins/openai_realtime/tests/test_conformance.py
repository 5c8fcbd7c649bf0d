from voiceadapters_conformance.pytest_plugin import conformance_tests

test_conformance = conformance_tests("openai")
test_conformance_azure = conformance_tests("azure-openai")
test_conformance_compatible = conformance_tests("openai-compatible")
