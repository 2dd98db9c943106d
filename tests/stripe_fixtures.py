"""A fake Stripe account API for the core's tests that create Stripe integrations through the API."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

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


def accepting_any_stripe_key(make_app: Callable[..., Any], stripe_api: FakeStripeAccounts, account: str = "acct_1AnyKey") -> Callable[..., Any]:
    """A `make_app` whose apps ask the fake Stripe, which takes every key as one of `account`'s.

    For tests about something else that create Stripe integrations through the API (which asks Stripe whose key it is).
    """
    stripe_api.any_key_account = account

    def factory(environ: dict[str, str] | None = None, **config: Any) -> Any:
        config.setdefault("STRIPE_API_BASE_URL", stripe_api.base_url)
        return make_app(environ, **config)

    return factory
