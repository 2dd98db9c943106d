"""Fixtures for the Slack connector's tests: a plugin host loaded from the installed entry points."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hub.connectors import PluginHost


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "installs_packages: builds a fresh virtualenv and pip-installs into it (tens of seconds)")


@pytest.fixture
def make_host() -> Callable[..., PluginHost]:
    """A host with every installed connector and only the given settings (no environment)."""

    def build(**settings: str) -> PluginHost:
        host = PluginHost(settings, environ={}).load()
        assert "slack" in host.connectors, host.broken
        return host

    return build
