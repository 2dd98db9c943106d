"""Fixtures for the Stripe connector's tests: a plugin host loaded from the installed entry points."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from hub.plugins import PluginHost
from hub.testing import host_factory


@pytest.fixture
def make_host() -> Callable[..., PluginHost]:
    return host_factory("stripe")
