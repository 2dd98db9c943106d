"""A fake Stripe account API for the core's tests that create Stripe integrations through the API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hub.testkit.http_server import serve_wsgi
from tests.support.fake_stripe import FakeStripeAccounts


@pytest.fixture(scope="session")
def stripe_api_server() -> Iterator[FakeStripeAccounts]:
    fake = FakeStripeAccounts()
    with serve_wsgi(fake.app()) as base_url:
        fake.base_url = base_url
        yield fake


@pytest.fixture
def stripe_api(stripe_api_server: FakeStripeAccounts) -> FakeStripeAccounts:
    """The fake, emptied for this test; point `STRIPE_API_BASE_URL` at `stripe_api.base_url`."""
    stripe_api_server.reset()
    return stripe_api_server
