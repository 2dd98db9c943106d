"""The three installed connectors through the hub's real webhook endpoint, routing and queues."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest

from hub.storage.models import Job, WebhookEvent, db
from hub.testing import make_tenant
from hub.testkit.http_server import serve_wsgi

STRIPE_ENDPOINT_SECRET = "whsec_test_endpoint_0123456789abcdef"
STRIPE_PLATFORM_SECRET = "whsec_test_platform_0123456789abcdef"
SLACK_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"


def rows(app, model):
    import sqlalchemy as sa

    with app.app_context():
        found = list(db.session.execute(sa.select(model)).scalars())
        db.session.expunge_all()
        return found


def app_path(app, connector: str) -> str:
    from hub.tenancy.connector_apps import app_webhook_secret

    with app.app_context():
        return f"/api/webhooks/{connector}/{app_webhook_secret(connector)}"


def oauth_integration(app, tenant, connector: str, account: str) -> str:
    from hub.tenancy.integrations import create_integration

    with app.app_context():
        return create_integration(
            tenant.id, connector=connector, name=account, credentials={"access_token": "tok_abcdef"}, external_account_id=account
        ).id


# Stripe --------------------------------------------------------------------------


def stripe_event(event_id: str, event_type: str = "charge.succeeded", **extra) -> bytes:
    body = {"id": event_id, "object": "event", "type": event_type, "created": 1_700_000_000, "livemode": False,
            "data": {"object": {"id": "ch_1", "object": "charge"}}}
    body.update(extra)
    return json.dumps(body).encode()


def stripe_post(client, path: str, body: bytes, secret: str):
    timestamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return client.post(path, data=body, headers={"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={signature}"})


@pytest.fixture
def stripe_app(make_app, stripe_api):
    stripe_api.key_of("acct_1ApiKeyAccount", "rk_test_abc123")
    return make_app(STRIPE_WEBHOOK_SECRET=STRIPE_PLATFORM_SECRET, STRIPE_API_BASE_URL=stripe_api.base_url)


def test_stripe_endpoint_of_an_api_key_integration(stripe_app):
    tenant = make_tenant(stripe_app, "Acme")
    client = stripe_app.test_client()
    created = client.post(
        "/api/integrations", headers=tenant.headers,
        json={"connector": "stripe", "name": "Main", "credentials": {"api_key": "rk_test_abc123", "webhook_secret": STRIPE_ENDPOINT_SECRET}},
    ).json
    path = "/api/webhooks/stripe/" + created["webhook_url"].rsplit("/", 1)[1]
    assert stripe_post(client, path, stripe_event("evt_1"), STRIPE_ENDPOINT_SECRET).json == {"status": "accepted"}
    assert stripe_post(client, path, stripe_event("evt_1"), STRIPE_ENDPOINT_SECRET).json == {"status": "duplicate"}
    assert stripe_post(client, path, stripe_event("evt_2"), STRIPE_PLATFORM_SECRET).status_code == 401
    [stored] = rows(stripe_app, WebhookEvent)
    assert (stored.type, stored.provider_event_id, stored.subject) == ("charge.succeeded", "evt_1", "ch_1")


def test_stripe_platform_endpoint_routes_by_account_and_deauthorization_revokes(stripe_app):
    tenant = make_tenant(stripe_app, "Acme")
    integration_id = oauth_integration(stripe_app, tenant, "stripe", "acct_1032D82eZvKYlo2C")
    client = stripe_app.test_client()
    path = app_path(stripe_app, "stripe")
    body = stripe_event("evt_connect", account="acct_1032D82eZvKYlo2C")
    assert stripe_post(client, path, body, STRIPE_PLATFORM_SECRET).json == {"status": "accepted"}
    assert [row.integration_id for row in rows(stripe_app, WebhookEvent)] == [integration_id]
    bye = stripe_event("evt_bye", "account.application.deauthorized", account="acct_1032D82eZvKYlo2C")
    assert stripe_post(client, path, bye, STRIPE_PLATFORM_SECRET).status_code == 200
    shown = client.get(f"/api/integrations/{integration_id}", headers=tenant.headers).json
    assert shown["status"] == "revoked"


# Slack ---------------------------------------------------------------------------


def slack_post(client, path: str, body: bytes, *, retry: str | None = None, secret: str = SLACK_SIGNING_SECRET):
    timestamp = str(int(time.time()))
    signature = "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": signature}
    if retry:
        headers.update({"X-Slack-Retry-Num": retry, "X-Slack-Retry-Reason": "http_timeout"})
    return client.post(path, data=body, headers=headers)


def test_slack_events_url_answers_the_challenge_and_routes_by_team(make_app):
    app = make_app(SLACK_SIGNING_SECRET=SLACK_SIGNING_SECRET)
    tenant = make_tenant(app, "Acme")
    integration_id = oauth_integration(app, tenant, "slack", "T0001")
    client = app.test_client()
    path = app_path(app, "slack")
    challenge = json.dumps({"token": "x", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P", "type": "url_verification"}).encode()
    answered = slack_post(client, path, challenge)
    assert answered.status_code == 200
    assert answered.data == b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    assert slack_post(client, path, challenge, secret="not-the-signing-secret").status_code == 401

    mention = json.dumps({
        "type": "event_callback", "team_id": "T0001", "api_app_id": "A1", "event_id": "Ev0001", "event_time": 1_700_000_000,
        "event": {"type": "app_mention", "user": "U1", "text": "<@U0LAN0Z89> hi", "ts": "1700000000.000100", "channel": "C1"},
    }).encode()
    assert slack_post(client, path, mention).json == {"status": "accepted"}
    assert slack_post(client, path, mention, retry="1").json == {"status": "duplicate"}
    [stored] = rows(app, WebhookEvent)
    assert (stored.integration_id, stored.type) == (integration_id, "slack.app_mention")
    assert len(rows(app, Job)) == 1


# Gmail ---------------------------------------------------------------------------


def test_gmail_push_is_verified_routed_by_mailbox_and_queues_one_sync(make_app):
    from hub_gmail import pubsub
    from hub_gmail.testing import CertsServer, make_key, push_token

    key = make_key("test-key-1")
    server = CertsServer()
    with serve_wsgi(server.app()) as base_url:
        server.base_url = base_url
        server.certs = {key.kid: key.certificate_pem}
        pubsub.CERTIFICATES.clear()
        audience = "https://hub.example.com/api/webhooks/gmail/push"
        service_account = "gmail-push@acme.iam.gserviceaccount.com"
        app = make_app(GMAIL_PUBSUB_AUDIENCE=audience, GMAIL_PUBSUB_SERVICE_ACCOUNT=service_account, GMAIL_PUBSUB_CERTS_URL=server.url)
        tenant = make_tenant(app, "Acme")
        integration_id = oauth_integration(app, tenant, "gmail", "grace@example.com")
        client = app.test_client()
        path = app_path(app, "gmail")

        def push(message_id: str, token: str):
            data = base64.b64encode(json.dumps({"emailAddress": "Grace@example.com", "historyId": "9876"}).encode()).decode()
            body = {"message": {"data": data, "messageId": message_id, "publishTime": "2026-11-25T10:00:00.000Z"},
                    "subscription": "projects/acme/subscriptions/gmail"}
            return client.post(path, json=body, headers={"Authorization": f"Bearer {token}"})

        good = push_token(key, audience=audience, service_account=service_account)
        assert push("1001", good).json == {"status": "accepted"}
        assert push("1002", good).json == {"status": "accepted"}
        assert push("1001", good).json == {"status": "duplicate"}
        assert push("1003", push_token(key, audience=audience, service_account="intruder@evil.iam.gserviceaccount.com")).status_code == 401
        pubsub.CERTIFICATES.clear()
    events = rows(app, WebhookEvent)
    assert sorted(row.provider_event_id for row in events) == ["1001", "1002"]
    assert {row.integration_id for row in events} == {integration_id}
    jobs = rows(app, Job)
    assert sorted(job.kind for job in jobs) == ["event", "event", "sync"]  # two notifications, one waiting sync
