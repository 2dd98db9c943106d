"""Webhook rate limits: junk cannot starve signed deliveries.

Only deliveries whose signature verified count against an integration's
budget (`HUB_WEBHOOK_RATE_LIMIT`); at a connector's app-level URL the budget
is the provider account the verified event names. Failed verifications have
their own budget per endpoint (`HUB_WEBHOOK_FAILURE_RATE_LIMIT`), past which
they get 429. Each test runs on the embedded limit store and on Redis, on
both databases.
"""

from __future__ import annotations

import pytest

from hub.storage.models import WebhookEvent
from tests.pipeline_fixtures import APP_SECRET, Pipeline

PIPELINE_SETTINGS = ("HUB_PLUGINS", "SIGNED_APP_SECRET", "HUB_JOB_BACKOFF_SECONDS", "HUB_JOB_MAX_ATTEMPTS", "HUB_REDIS_PREFIX", "REDIS_URL")


def event(event_id: str, **data):
    return {"id": event_id, "type": "thing.created", "data": data}


@pytest.fixture
def limited(pipeline, make_app):
    """A test client of an API process of this pipeline (same database and limit store) with the given limits."""

    def build(**limits: str):
        app = make_app(**{key: pipeline.config[key] for key in PIPELINE_SETTINGS if pipeline.config.get(key) is not None}, **limits)
        return app.test_client()

    return build


def connected_account(pipeline: Pipeline, account: str, signing_secret: str = "whsig_account") -> str:
    """An integration whose provider account is `account` (learned from the provider, as OAuth would)."""
    from hub.tenancy.integrations import create_integration

    with pipeline.app.app_context():
        return create_integration(
            pipeline.tenant.id, connector="signed", name=account,
            credentials={"api_key": "key_1", "signing_secret": signing_secret}, external_account_id=account,
        ).id


def junk(pipeline: Pipeline, path: str, client, n: int) -> list[int]:
    """`n` deliveries that fail verification: half unsigned, half signed with a guessed secret."""
    statuses = []
    for number in range(n):
        if number % 2:
            response = client.post(path, json=event(f"evt_junk_{number}"))
        else:
            response = pipeline.deliver(path, event(f"evt_junk_{number}"), secret="whsig_guessed", client=client)
        statuses.append(response.status_code)
    return statuses


def stored(pipeline: Pipeline) -> list[str]:
    return sorted(row.provider_event_id for row in pipeline.rows(WebhookEvent))


def test_unsigned_junk_at_an_integrations_url_does_not_use_up_its_budget(pipeline, limited):
    client = limited(HUB_WEBHOOK_RATE_LIMIT="3/minute", HUB_WEBHOOK_FAILURE_RATE_LIMIT="off")
    integration = pipeline.create_integration()
    assert junk(pipeline, integration["path"], client, 20) == [401] * 20
    signed = [
        pipeline.deliver(integration["path"], event(f"evt_{n}"), secret=integration["signing_secret"], client=client).status_code
        for n in range(4)
    ]
    assert signed == [200, 200, 200, 429], "verified deliveries, and only they, count against the integration's budget"
    assert stored(pipeline) == ["evt_0", "evt_1", "evt_2"]


def test_failed_verifications_past_their_limit_get_429_and_a_signed_delivery_is_still_accepted(pipeline, limited):
    client = limited(HUB_WEBHOOK_RATE_LIMIT="100/minute", HUB_WEBHOOK_FAILURE_RATE_LIMIT="3/minute")
    integration = pipeline.create_integration()
    assert junk(pipeline, integration["path"], client, 6) == [401, 401, 401, 429, 429, 429]
    limited_junk = client.post(integration["path"], json=event("evt_more_junk"))
    assert limited_junk.status_code == 429
    assert limited_junk.mimetype == "application/problem+json"
    assert 1 <= int(limited_junk.headers["Retry-After"]) <= 60
    response = pipeline.deliver(integration["path"], event("evt_real"), secret=integration["signing_secret"], client=client)
    assert response.json == {"status": "accepted"}
    assert stored(pipeline) == ["evt_real"]


def test_the_failure_limit_is_per_endpoint(pipeline, limited):
    client = limited(HUB_WEBHOOK_FAILURE_RATE_LIMIT="2/minute")
    attacked = pipeline.create_integration()
    other = pipeline.create_integration(signing_secret="whsig_other")
    assert junk(pipeline, attacked["path"], client, 3) == [401, 401, 429]
    assert junk(pipeline, other["path"], client, 2) == [401, 401]


def test_app_level_deliveries_are_limited_per_account_and_junk_counts_against_none(pipeline, limited):
    client = limited(HUB_WEBHOOK_RATE_LIMIT="2/minute", HUB_WEBHOOK_FAILURE_RATE_LIMIT="off")
    connected_account(pipeline, "acct_busy")
    connected_account(pipeline, "acct_quiet")
    path = pipeline.app_path()
    assert junk(pipeline, path, client, 10) == [401] * 10

    def deliver(event_id: str, account: str) -> int:
        return pipeline.deliver(path, {**event(event_id), "account": account}, secret=APP_SECRET, client=client).status_code

    assert [deliver(f"evt_busy_{n}", "acct_busy") for n in range(3)] == [200, 200, 429]
    assert [deliver(f"evt_quiet_{n}", "acct_quiet") for n in range(2)] == [200, 200], "one account's traffic does not use up another's"
    assert stored(pipeline) == ["evt_busy_0", "evt_busy_1", "evt_quiet_0", "evt_quiet_1"]


def test_the_failure_limit_of_the_app_level_url_leaves_signed_deliveries_alone(pipeline, limited):
    client = limited(HUB_WEBHOOK_FAILURE_RATE_LIMIT="2/minute")
    connected_account(pipeline, "acct_42")
    path = pipeline.app_path()
    assert junk(pipeline, path, client, 4) == [401, 401, 429, 429]
    response = pipeline.deliver(path, {**event("evt_app"), "account": "acct_42"}, secret=APP_SECRET, client=client)
    assert response.json == {"status": "accepted"}
    assert stored(pipeline) == ["evt_app"]


def test_a_verified_handshake_counts_against_the_integrations_budget(pipeline, limited):
    client = limited(HUB_WEBHOOK_RATE_LIMIT="2/minute")
    integration = pipeline.create_integration()
    ping = {"type": "ping", "challenge": "c-1"}
    statuses = [pipeline.deliver(integration["path"], ping, secret=integration["signing_secret"], client=client).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
