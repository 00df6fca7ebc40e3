"""The pytest plugin: options, markers and fixtures of the conformance suite."""
