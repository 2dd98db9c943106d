"""The Stripe connector keeps the hub's connector contract (hub.testing.ConnectorContract)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from test_stripe_api import API_KEY, FakeStripe
from test_stripe_normalize import CHARGE_SUCCEEDED, CONNECT_DEAUTHORIZED

from hub.testing import ConnectorContract, SampleDelivery, serve_wsgi
from hub_stripe.signatures import STRIPE_SIGNATURE


class TestStripeContract(ConnectorContract):
    connector = "stripe"
    distribution = "hub-stripe"
    package_dir = Path(__file__).resolve().parents[1]
    secret = "whsec_contract0123456789abcdefABCDEF"

    def samples(self):
        return [SampleDelivery(body=json.dumps(event).encode()) for event in (CHARGE_SUCCEEDED, CONNECT_DEAUTHORIZED)]

    def sign(self, body, *, secret, now):
        timestamp = int(now)
        return {"Stripe-Signature": f"t={timestamp},v1={STRIPE_SIGNATURE.sign(secret, body, timestamp=timestamp)}"}

    @contextmanager
    def sync_api(self):
        fake = FakeStripe()
        fake.publish(1, 2, 3, 4, 5)
        with serve_wsgi(fake.app()) as base_url:
            fake.base_url = base_url
            yield fake

    def sync_settings(self, fake):
        return {"STRIPE_API_BASE_URL": fake.base_url, "STRIPE_SYNC_PAGE_SIZE": "2"}

    def sync_credentials(self, fake):
        return {"api_key": API_KEY}

    def rate_limit(self, fake):
        fake.rate_limited = 1000

    def lift_rate_limit(self, fake):
        fake.rate_limited = 0

    def secrets(self):
        return [self.secret, API_KEY]
