"""Shared fixtures for the core's and the plugins' tests: the hub's own (hub/testing.py) and the core tests' fixture modules."""

pytest_plugins = ["hub.testing", "tests.pipeline_fixtures", "tests.stripe_fixtures", "tests.oauth_fixtures", "tests.key_fixtures"]
