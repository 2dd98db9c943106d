"""Structured logs: JSON lines with request context, and no secret ever written."""

from __future__ import annotations

import io
import json
import logging

import pytest

from hub.logs import make_handler, redact

KNOWN_SECRETS = {
    "stripe key": "rk_test_51KnownRestrictedKeyValue",
    "signing secret": "whsec_KnownSigningSecretValue",
    "slack token": "xoxb-1234-5678-KnownBotToken",
    "google token": "ya29.KnownGoogleAccessToken",
}


@pytest.fixture
def log_stream():
    """The hub's real JSON handler (with its redaction filter) writing to a buffer."""
    stream = io.StringIO()
    handler = make_handler(stream)
    root = logging.getLogger()
    root.addHandler(handler)
    previous = root.level
    root.setLevel(logging.DEBUG)
    yield stream
    root.removeHandler(handler)
    root.setLevel(previous)


def lines(stream) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_careless_log_calls_are_redacted(log_stream):
    log = logging.getLogger("hub.example")
    log.info("calling provider with %s", {"access_token": "abcdef123456", "refresh_token": "zyx987654321"})
    log.warning("header was Authorization: Bearer hub_sk_abcdefghijklmnop and v1=%s", "a" * 64)
    log.error("url /api/webhooks/slack/whk_SomeWebhookSecret123 failed")
    for label, secret in KNOWN_SECRETS.items():
        log.info("%s is %s", label, secret)
    text = log_stream.getvalue()
    for secret in list(KNOWN_SECRETS.values()) + ["abcdef123456", "zyx987654321", "hub_sk_abcdefghijklmnop", "a" * 64, "whk_SomeWebhookSecret123"]:
        assert secret not in text
    assert all(entry["level"] for entry in lines(log_stream))


def test_exceptions_in_logs_are_redacted(log_stream):
    try:
        raise RuntimeError("token exchange failed for client_secret=SuperSecretClientValue")
    except RuntimeError:
        logging.getLogger("hub.example").exception("oauth failed")
    text = log_stream.getvalue()
    assert "SuperSecretClientValue" not in text
    assert "oauth failed" in text


@pytest.fixture
def stripe_app(make_app, stripe_api):
    stripe_api.key_of("acct_1LoggedAccount", KNOWN_SECRETS["stripe key"])
    return make_app(STRIPE_API_BASE_URL=stripe_api.base_url)


def test_request_logs_carry_request_and_tenant_ids(stripe_app, log_stream):
    from hub.testing import _make_tenant

    tenant = _make_tenant(stripe_app, "Acme")
    client = stripe_app.test_client()
    response = client.post(
        "/api/integrations",
        json={"connector": "stripe", "name": "a", "credentials": {"api_key": KNOWN_SECRETS["stripe key"], "webhook_secret": KNOWN_SECRETS["signing secret"]}},
        headers=tenant.headers | {"X-Request-Id": "req-12345678"},
    )
    assert response.headers["X-Request-Id"] == "req-12345678"
    logging.getLogger("hub.example").info("after request")
    client.get("/api/integrations", headers=tenant.headers)
    text = log_stream.getvalue()
    for secret in KNOWN_SECRETS.values():
        assert secret not in text
    assert tenant.api_key not in text
    access = [entry for entry in lines(log_stream) if entry["logger"] == "hub.access"]
    assert access[0]["request_id"] == "req-12345678"
    assert access[0]["tenant_id"] == tenant.id
    assert access[0]["message"].startswith("POST /api/integrations 201")


def test_webhook_secrets_in_paths_are_redacted_from_access_logs(client, log_stream):
    client.post("/api/webhooks/stripe/whk_NotARealSecretButSecretShaped")
    client.post("/api/webhooks/stripe/no-prefix-but-still-the-secret")
    text = log_stream.getvalue()
    assert "whk_NotARealSecretButSecretShaped" not in text
    assert "no-prefix-but-still-the-secret" not in text  # removed as the route's secret argument, whatever its shape
    assert "POST /api/webhooks/stripe/[redacted] 404" in text


def test_secret_shaped_paths_that_match_no_route_are_redacted_too(client, log_stream):
    client.get("/api/nothing/here/whk_NotARealSecretButSecretShaped/hub_sk_AlsoNotARealKey123")
    text = log_stream.getvalue()
    assert "whk_NotARealSecretButSecretShaped" not in text and "hub_sk_AlsoNotARealKey123" not in text
    assert "GET /api/nothing/here/[redacted]/[redacted] 404" in text


def test_redact_leaves_ordinary_text_alone():
    assert redact("processed 12 events for integration 3f2a") == "processed 12 events for integration 3f2a"


def test_the_webhook_pipeline_logs_ids_and_no_secret(pipeline, log_stream):
    from tests.support.signed_connector import sign

    integration = pipeline.create_integration(signing_secret="whsig_KnownPipelineSigningSecret")
    body = json.dumps({"id": "evt_log", "type": "thing.created", "data": {"fail_times": 1}}).encode()
    signature = sign(integration["signing_secret"], body)
    headers = {"Content-Type": "application/json", "X-Signed-Signature": signature}
    assert pipeline.client.post(integration["path"], data=body, headers=headers).status_code == 200
    assert pipeline.client.post(integration["path"], data=body, headers={**headers, "X-Signed-Signature": signature[:-4] + "beef"}).status_code == 401
    pipeline.run_queues()
    text = log_stream.getvalue()
    webhook_secret = integration["path"].rsplit("/", 1)[1]
    for secret in (webhook_secret, integration["signing_secret"], signature.split("v1=")[1], pipeline.tenant.api_key, "key_123456"):
        assert secret not in text
    entries = lines(log_stream)
    deliveries = [e for e in entries if e["logger"] == "hub.access" and "/api/webhooks/" in e["message"]]
    assert deliveries and all(e.get("connector") == "signed" and e.get("integration_id") == integration["id"] for e in deliveries)
    retried = [e for e in entries if e["logger"] == "hub.runner"]
    assert retried and all(e.get("job_id") and e.get("event_id") and e.get("tenant_id") == pipeline.tenant.id for e in retried)
