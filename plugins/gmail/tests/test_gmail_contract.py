"""The Gmail connector keeps the hub's connector contract (hub.testing.ConnectorContract).

Pub/Sub signs no body: its push carries a Google-signed OIDC token naming
the subscription's audience and service account. The audience plays the
secret's part here (an empty or another audience verifies nothing); the
tampered-body check does not apply.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

import pytest
from gmail_fakes import ACCESS_TOKEN, REFRESH_TOKEN, FakeGmail
from google.auth import jwt
from test_gmail_pubsub import BODY, SERVICE_ACCOUNT

from hub.testing import ConnectorContract, SampleDelivery, serve_wsgi
from hub_gmail import pubsub
from hub_gmail.testing import CertsServer, make_key

GOOGLE_KEY = make_key("5b1f0c3e9d7a4e2f8c6b1a0d9e8f7c6b5a4d3e2f")


class TestGmailContract(ConnectorContract):
    connector = "gmail"
    distribution = "hub-gmail"
    package_dir = Path(__file__).resolve().parents[1]
    secret = "https://hub.example.com/api/webhooks/gmail/contract-audience"
    secret_setting = "GMAIL_PUBSUB_AUDIENCE"
    secret_credential = None
    signs_body = False
    stale_seconds = 3 * 3600  # Google's tokens live an hour, and the connector allows for clock skew

    @pytest.fixture(autouse=True)
    def certificates(self):
        server = CertsServer()
        server.certs = {GOOGLE_KEY.kid: GOOGLE_KEY.certificate_pem}
        with serve_wsgi(server.app()) as base_url:
            server.base_url = base_url
            self.certs_url = server.url
            pubsub.CERTIFICATES.clear()
            yield
            pubsub.CERTIFICATES.clear()

    def host_settings(self):
        return {"GMAIL_PUBSUB_SERVICE_ACCOUNT": SERVICE_ACCOUNT, "GMAIL_PUBSUB_CERTS_URL": self.certs_url}

    def samples(self):
        return [SampleDelivery(body=BODY)]

    def sign(self, body, *, secret, now):
        claims = {
            "aud": secret, "email": SERVICE_ACCOUNT, "email_verified": True, "iss": "https://accounts.google.com",
            "sub": "113774264463038321964", "iat": int(now), "exp": int(now) + 3600,
        }
        return {"Authorization": "Bearer " + jwt.encode(GOOGLE_KEY.signer(), claims).decode()}

    @contextmanager
    def sync_api(self):
        fake = FakeGmail()
        fake.deliver(1, 2, 3, 4, 5)
        with serve_wsgi(fake.app()) as base_url:
            fake.base_url = base_url
            yield fake

    def sync_settings(self, fake):
        return {"GMAIL_API_BASE_URL": fake.base_url, "GMAIL_SYNC_PAGE_SIZE": "2"}

    def sync_credentials(self, fake):
        return {"access_token": ACCESS_TOKEN, "refresh_token": REFRESH_TOKEN, "token_type": "Bearer"}

    def rate_limit(self, fake):
        for kind in ("profile", "messages", "message", "history"):
            fake.fail(kind, 429, "rateLimitExceeded", retry_after="30", times=1000)

    def lift_rate_limit(self, fake):
        fake.failures.clear()

    def secrets(self):
        return [ACCESS_TOKEN, REFRESH_TOKEN]
