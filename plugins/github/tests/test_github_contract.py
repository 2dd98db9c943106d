"""The GitHub connector keeps the hub's connector contract (hub.testing.ConnectorContract)."""

from __future__ import annotations

import json
from contextlib import contextmanager
from pathlib import Path

from fake_github import FakeGitHub, issue

from hub.kit import HmacScheme
from hub.testing import ConnectorContract, SampleDelivery, quota_exhausted_headers

SIGNATURE = HmacScheme(prefix="sha256=")
REPOSITORY = {"id": 1296269, "full_name": "octo-org/hello"}
SENDER = {"login": "octocat", "id": 583231}
PUSH = {"ref": "refs/heads/main", "before": "0" * 40, "after": "a" * 40, "commits": [{"id": "a" * 40, "message": "Fix", "author": {"name": "Mona"}}], "repository": REPOSITORY, "sender": SENDER}
ISSUE_OPENED = {"action": "opened", "issue": issue(7), "repository": REPOSITORY, "sender": SENDER}
PULL_REQUEST_CLOSED = {"action": "closed", "pull_request": issue(8) | {"merged": True}, "repository": REPOSITORY, "sender": SENDER}


def delivery(event: str, payload: dict, guid: str) -> SampleDelivery:
    return SampleDelivery(body=json.dumps(payload).encode(), headers={"X-GitHub-Event": event, "X-GitHub-Delivery": guid})


class TestGitHubContract(ConnectorContract):
    connector = "github"
    distribution = "hub-github"
    package_dir = Path(__file__).resolve().parents[1]
    secret = "It's a Secret to Everybody"
    signs_timestamp = False

    def samples(self):
        return [
            delivery("push", PUSH, "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
            delivery("issues", ISSUE_OPENED, "72d3162e-cc78-11e3-81ab-4c9367dc0959"),
            delivery("pull_request", PULL_REQUEST_CLOSED, "72d3162e-cc78-11e3-81ab-4c9367dc0960"),
        ]

    def sign(self, body, *, secret, now):
        return {"X-Hub-Signature-256": SIGNATURE.sign(secret, body)}

    @contextmanager
    def sync_api(self):
        fake = FakeGitHub()
        fake.issues = [issue(number) for number in range(1, 6)]
        with fake.serve():
            yield fake

    def sync_settings(self, fake):
        return {"GITHUB_API_BASE_URL": fake.base_url, "GITHUB_SYNC_PAGE_SIZE": "2"}

    def sync_credentials(self, fake):
        return {"access_token": "gho_test_token"}

    def rate_limit(self, fake):
        fake.rate_limit(status=403, headers=quota_exhausted_headers(60))

    def secrets(self):
        return [self.secret, "gho_test_token"]
