"""Structured logs: JSON lines with request context, and no secret ever written."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys

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
    from hub.testing import make_tenant

    tenant = make_tenant(stripe_app, "Acme")
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


# Run in a child process under a CPU-time limit: a pattern that backtracks
# quadratically needs minutes on these inputs (the limit is several times what
# linear patterns need), so the limit kills the child and the test fails
# instead of hanging the suite. No clock is read.
ADVERSARIAL_REDACTION = """
import resource
resource.setrlimit(resource.RLIMIT_CPU, (90, 90))
from hub.logs import redact

prefixes = ["hub_sk_", "whk_", "whsec_", "sk_live_", "xoxb-", "ya29.", "bearer ", "Bearer\\t", "v1=", "eyJ", "-eyJ",
            "eyJabcdefg.", "eyJabcdefg.abcdefg.", "token=", "token: '", "access_token", "code", "client_secret"]

def shapes(prefix, filler, size):
    yield prefix * (size // len(prefix))
    yield prefix + filler * size
    yield (prefix + filler) * (size // (len(prefix) + 1))
    yield (filler + prefix) * (size // (len(prefix) + 1))

count = 0
for prefix in prefixes:
    for filler in ("a", "-", " ", ".", "="):
        for text in shapes(prefix, filler, 64 * 1024):
            redact(text)
            count += 1
    redact(("-" + prefix) * (1024 * 1024 // (len(prefix) + 1)))
    count += 1
print(count)
"""


def test_redaction_stays_linear_on_adversarial_input():
    result = subprocess.run([sys.executable, "-c", ADVERSARIAL_REDACTION], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, f"redaction was killed by the CPU limit (code {result.returncode}): {result.stderr[-500:]}"
    assert int(result.stdout) == 18 * (5 * 4 + 1)


def test_linear_redaction_still_catches_every_secret_shape():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
    samples = {
        f"id {jwt} end": jwt,
        f"token {jwt}": jwt,
        "Authorization: Bearer abc.def-ghi_jkl": "abc.def-ghi_jkl",
        'json {"client_secret": "s3cr3t-value"}': "s3cr3t-value",
        "url /cb?code=AUTHCODE123&state=x": "AUTHCODE123",
        "url /start?connect_token=abcdef.ghijkl.mnopqr": "abcdef.ghijkl.mnopqr",
        "key hub_sk_0123456789abcdef in text": "hub_sk_0123456789abcdef",
        "path /api/webhooks/stripe/whk_0123456789": "whk_0123456789",
    }
    for text, secret in samples.items():
        assert secret not in redact(text), text


def test_text_lines_stay_one_line_and_show_control_characters():
    stream = io.StringIO()
    handler = make_handler(stream, "text")
    record = logging.LogRecord("hub.example", logging.WARNING, __file__, 1, "path %s", ("/a\nFAKE error line\x1b[31m",), None)
    assert handler.filter(record)
    handler.emit(record)
    written = stream.getvalue()
    assert written.count("\n") == 1 and "warning hub.example: path /a\\nFAKE error line" in written
    assert "\x1b" not in written


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
    retried = [e for e in entries if e["logger"] == "hub.worker.runner"]
    assert retried and all(e.get("job_id") and e.get("event_id") and e.get("tenant_id") == pipeline.tenant.id for e in retried)
