"""Loads the suite's pytest plugin when running from a checkout (it is also a pytest11 entry point)."""

pytest_plugins = ["conformance.plugin"]
