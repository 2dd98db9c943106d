"""Fixtures for the Gmail connector's tests: a plugin host from the installed entry points and a fake Gmail API."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from gmail_fakes import FakeGmail

from hub.plugins import PluginHost
from hub.testing import host_factory, serve_wsgi


@pytest.fixture
def make_host() -> Callable[..., PluginHost]:
    return host_factory("gmail")


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
