"""A KMS outage (the fake KMS server stopped): cached data keys keep working, anything else is a clean 503.

"Another process" is a second app on the same database: same settings, an
empty data key cache.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import sqlalchemy as sa

from hub.errors import KeyProviderUnavailable
from hub.storage.models import Integration, Job, WebhookEvent, db
from hub.tenancy.integrations import create_integration, webhook_secret_of
from hub.worker.runner import run_job
from tests.stripe_fixtures import accepting_any_stripe_key

SIGNING_SECRET = "whsec_outage_test"


@pytest.fixture
def aws_kms_key(fake_kms):
    alias = f"alias/outage-{time.time_ns()}"
    fake_kms.client.create_alias(AliasName=alias, TargetKeyId=fake_kms.new_key())
    return f"aws-kms:{alias}"


def stripe_integration(app, tenant):
    with app.app_context():
        row = create_integration(
            tenant.id, connector="stripe", name="main", credentials={"api_key": "rk_test_outage", "webhook_secret": SIGNING_SECRET}
        )
        return row.id, f"/api/webhooks/stripe/{webhook_secret_of(row)}"


def deliver(app, path, event_id="evt_outage_1"):
    body = json.dumps({"id": event_id, "object": "event", "type": "charge.succeeded", "created": 1_700_000_000,
                       "livemode": False, "data": {"object": {"id": "ch_1", "object": "charge"}}}).encode()
    timestamp = int(time.time())
    signature = hmac.new(SIGNING_SECRET.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return app.test_client().post(path, data=body, headers={"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={signature}"})


def stored_events(app):
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(WebhookEvent)).scalar_one()


def assert_unavailable(response):
    assert response.status_code == 503
    assert response.headers["Retry-After"].isdigit()
    assert response.mimetype == "application/problem+json"
    assert response.json["type"].endswith("/key-provider-unavailable")
    assert "rk_test" not in response.get_data(as_text=True) and "whsec" not in response.get_data(as_text=True)


def test_cached_keys_keep_working_while_the_kms_is_down(make_app, fake_kms, aws_kms_key, tenant):
    app = make_app(KMS_KEY=aws_kms_key)
    integration_id, path = stripe_integration(app, tenant)
    fake_kms.stop()

    assert deliver(app, path).status_code == 200
    assert app.test_client().get(f"/api/integrations/{integration_id}", headers=tenant.headers).status_code == 200
    assert stored_events(app) == 1
    ready = app.test_client().get("/readyz")
    assert ready.status_code == 503 and ready.json["checks"]["key_provider"] == "unavailable"


def test_an_uncached_key_while_the_kms_is_down_is_503_with_retry_after_and_nothing_is_stored(make_app, fake_kms, aws_kms_key, tenant):
    integration_id, path = stripe_integration(make_app(KMS_KEY=aws_kms_key), tenant)
    fake_kms.stop()
    cold = make_app(KMS_KEY=aws_kms_key)

    assert_unavailable(deliver(cold, path))
    assert stored_events(cold) == 0, "the provider retries the delivery; nothing was stored half way"
    assert_unavailable(cold.test_client().get(f"/api/integrations/{integration_id}", headers=tenant.headers))


def test_a_new_integration_while_the_kms_is_down_is_503_and_not_stored(make_app, fake_kms, aws_kms_key, stripe_api, tenant):
    app = accepting_any_stripe_key(make_app, stripe_api)(KMS_KEY=aws_kms_key)
    fake_kms.stop()

    response = app.test_client().post(
        "/api/integrations", json={"connector": "stripe", "name": "new", "credentials": {"api_key": "rk_test_new"}}, headers=tenant.headers
    )

    assert_unavailable(response)
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Integration)).scalar_one() == 0


def test_the_worker_retries_a_job_that_needed_an_uncached_key(make_app, fake_kms, aws_kms_key, tenant):
    app = make_app(KMS_KEY=aws_kms_key)
    integration_id, _path = stripe_integration(app, tenant)
    response = app.test_client().post(f"/api/integrations/{integration_id}/sync", headers=tenant.headers)
    assert response.status_code == 202
    job_id = response.json["job_id"]
    fake_kms.stop()
    worker = make_app(KMS_KEY=aws_kms_key)

    with worker.app_context():
        assert run_job(job_id, "sync") == "retry"
        job = db.session.get(Job, job_id)
        assert job.status == "failed" and job.attempts == 1
        assert "key provider" in job.last_error.lower()


def test_the_outage_error_names_no_key():
    error = KeyProviderUnavailable()
    assert error.status == 503 and error.extra["headers"]["Retry-After"] == "5"
    assert "alias" not in str(error) and "arn:" not in str(error)


def test_a_refresh_stops_before_spending_the_refresh_token_when_its_key_cannot_be_had(build_oauth_app, provider, fake_kms, aws_kms_key, tenant):
    """A row sealed before data keys opens under the ring without the KMS, but its new tokens need a data key."""
    from hub.provider.credentials import fresh_credentials
    from hub.runtime import current_hub
    from hub.storage.crypto import integration_context
    from hub.storage.models import DataKey
    from tests.oauth_fixtures import connect

    app = build_oauth_app(KMS_KEY=aws_kms_key)
    provider.access_token_lifetime = 60  # inside the refresh margin
    integration_id = connect(app.test_client(), tenant)["integration_id"]
    with app.app_context():
        row = db.session.get(Integration, integration_id)
        credentials = current_hub().envelope.open_json(tenant.id, integration_context(tenant.id, row.id, "credentials"), row.credentials_ciphertext)
        row.credentials_ciphertext = current_hub().keyring.encrypt_json(credentials, integration_context(tenant.id, row.id, "credentials"))
        db.session.execute(sa.delete(DataKey).where(DataKey.tenant_id == tenant.id))  # as before data keys
        db.session.commit()
    issued = len(provider.tokens)
    fake_kms.stop()
    worker = build_oauth_app(KMS_KEY=aws_kms_key)

    with worker.app_context(), pytest.raises(KeyProviderUnavailable):
        fresh_credentials(tenant.id, integration_id)

    assert len(provider.tokens) == issued, "the refresh token was not spent"
    assert credentials["refresh_token"] in provider.refresh_tokens


def test_an_oauth_callback_during_an_outage_redirects_with_an_error_before_spending_the_code(build_oauth_app, provider, fake_kms, aws_kms_key, tenant):
    from tests.oauth_fixtures import authorize, callback, connect_token, query_of, start

    app = build_oauth_app(KMS_KEY=aws_kms_key)
    client = app.test_client()
    started = start(client, connect_token(client, tenant))  # the hub's own key is now cached: the state opens
    location = authorize(started.headers["Location"])
    fake_kms.stop()

    finished = callback(client, location)

    assert finished.status_code == 302
    assert query_of(finished.headers["Location"])["error"] == "temporarily_unavailable"
    assert provider.tokens == {}, "the authorization code was not exchanged"
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(Integration)).scalar_one() == 0
