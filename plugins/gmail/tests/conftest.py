"""Fixtures for the Gmail connector's tests: a plugin host from the installed entry points and a fake Gmail API."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from gmail_fakes import FakeGmail

from hub.connectors import PluginHost
from hub.testkit.http_server import serve_wsgi


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "installs_packages: builds a fresh virtualenv and pip-installs into it (tens of seconds)")


@pytest.fixture
def make_host() -> Callable[..., PluginHost]:
    """A host with every installed connector and only the given settings (no environment)."""

    def build(**settings: str) -> PluginHost:
        host = PluginHost(settings, environ={}).load()
        assert "gmail" in host.connectors, host.broken
        return host

    return build


@pytest.fixture(scope="module")
def gmail_server() -> Iterator[FakeGmail]:
    fake = FakeGmail()
    with serve_wsgi(fake.app()) as base_url:
        fake.base_url = base_url
        yield fake


@pytest.fixture
def gmail(gmail_server: FakeGmail) -> FakeGmail:
    gmail_server.reset()
    return gmail_server
