"""The core tests' fixture modules; the hub's own fixtures (hub/testing.py) load themselves through the pytest11 entry point."""

pytest_plugins = ["tests.pipeline_fixtures", "tests.stripe_fixtures", "tests.oauth_fixtures", "tests.browser_fixtures", "tests.proxy_fixtures", "tests.key_fixtures"]
