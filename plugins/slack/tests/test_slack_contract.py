"""The Slack connector keeps the hub's connector contract (hub.testing.ConnectorContract)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

from test_slack_api import BOT_TOKEN, CREDENTIALS, FakeSlack, message
from test_slack_normalize import APP_MENTION, FORM, MESSAGE_EVENT, SLASH_COMMAND_FIELDS

from hub.testing import ConnectorContract, SampleDelivery, serve_wsgi
from hub_slack.signatures import SLACK_SIGNATURE


class TestSlackContract(ConnectorContract):
    connector = "slack"
    distribution = "hub-slack"
    package_dir = Path(__file__).resolve().parents[1]
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    secret_setting = "SLACK_SIGNING_SECRET"
    secret_credential = None

    def samples(self):
        return [
            SampleDelivery(body=json.dumps(MESSAGE_EVENT).encode()),
            SampleDelivery(body=json.dumps(APP_MENTION).encode()),
            SampleDelivery(body=urlencode(SLASH_COMMAND_FIELDS).encode(), content_type=FORM),
        ]

    def sign(self, body, *, secret, now):
        timestamp = int(now)
        return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": SLACK_SIGNATURE.sign(secret, body, timestamp=timestamp)}

    @contextmanager
    def sync_api(self):
        fake = FakeSlack()
        fake.channel("C1", *(message(f"1700000000.00000{n}") for n in range(1, 6)))
        with serve_wsgi(fake.app()) as base_url:
            fake.base_url = base_url
            yield fake

    def sync_settings(self, fake):
        return {"SLACK_API_BASE_URL": fake.base_url, "SLACK_SYNC_PAGE_SIZE": "2"}

    def sync_credentials(self, fake):
        return CREDENTIALS

    def rate_limit(self, fake):
        fake.rate_limited.update({"conversations.list": 1000, "conversations.history": 1000})

    def lift_rate_limit(self, fake):
        fake.rate_limited.clear()

    def secrets(self):
        return [self.secret, BOT_TOKEN]
