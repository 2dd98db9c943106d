"""The Standard Webhooks receiver, with the official `standardwebhooks` package as the sender."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from standardwebhooks.webhooks import Webhook

from hub.testing import ConnectorContract, SampleDelivery, drain_queues, host_factory
from hub.types import WebhookRequest

SECRET = "whsec_" + base64.b64encode(b"a 24-byte signing secret").decode()
ROTATED = "whsec_" + base64.b64encode(b"the secret being rotated").decode()
INVOICE_PAID = {"type": "invoice.paid", "timestamp": "2024-05-01T12:00:00Z", "data": {"invoice": "in_1", "amount": 1200}}


def sent(payload: dict | bytes, *, secret: str = SECRET, message_id: str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", at: float) -> WebhookRequest:
    """A delivery as a Standard Webhooks sender makes it, signed by the reference library."""
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    moment = datetime.fromtimestamp(at, tz=UTC)
    headers = {"webhook-id": message_id, "webhook-timestamp": str(int(at)), "webhook-signature": Webhook(secret).sign(message_id, moment, body.decode())}
    return WebhookRequest(headers=headers, body=body, content_type="application/json")


class TestStandardWebhooksContract(ConnectorContract):
    connector = "standardwebhooks"
    distribution = "hub-standardwebhooks"
    package_dir = Path(__file__).resolve().parents[1]
    secret = SECRET

    def samples(self):
        return [SampleDelivery(body=json.dumps(INVOICE_PAID).encode(), headers={"webhook-id": "msg_1"})]

    def sign(self, body, *, secret, now):
        signature = Webhook(secret).sign("msg_1", datetime.fromtimestamp(now, tz=UTC), body.decode("utf-8", "replace"))
        return {"webhook-timestamp": str(int(now)), "webhook-signature": signature}


@pytest.fixture
def host():
    return host_factory("standardwebhooks")()


NOW = 1_714_564_800.0


def verifies(host, request, secret=SECRET, now=NOW):
    return host.verify_signature("standardwebhooks", request=request, credentials={"webhook_secret": secret}, now=now)


def test_the_reference_senders_delivery_verifies_and_becomes_the_payloads_event(host):
    request = sent(INVOICE_PAID, at=NOW)
    assert verifies(host, request)
    [event] = host.normalize("standardwebhooks", request=request)
    assert (event.id, event.type, event.data) == ("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W", "invoice.paid", {"invoice": "in_1", "amount": 1200})
    assert event.time == datetime(2024, 5, 1, 12, 0, tzinfo=UTC)


def test_during_a_rotation_any_of_the_signatures_may_match(host):
    old, new = sent(INVOICE_PAID, secret=ROTATED, at=NOW), sent(INVOICE_PAID, at=NOW)
    both = f"{old.headers['webhook-signature']} {new.headers['webhook-signature']}"
    request = WebhookRequest(headers={**new.headers, "webhook-signature": both}, body=new.body)
    assert verifies(host, request) and verifies(host, request, secret=ROTATED)


@pytest.mark.parametrize("offset", [-301, 301])
def test_a_timestamp_more_than_five_minutes_away_is_refused(host, offset):
    assert verifies(host, sent(INVOICE_PAID, at=NOW + offset), now=NOW) is False
    assert verifies(host, sent(INVOICE_PAID, at=NOW + offset * 0.99), now=NOW) is True


def test_the_tolerance_is_a_setting(host):
    wide = host_factory("standardwebhooks")(STANDARDWEBHOOKS_TOLERANCE_SECONDS="900")
    assert verifies(wide, sent(INVOICE_PAID, at=NOW - 600))


@pytest.mark.parametrize("tolerance", ["nan", "inf", "-1", "1e3", "3601"])
def test_an_unusable_tolerance_is_refused_by_name(tolerance):
    wide = host_factory("standardwebhooks")(STANDARDWEBHOOKS_TOLERANCE_SECONDS=tolerance)
    with pytest.raises(ValueError, match="STANDARDWEBHOOKS_TOLERANCE_SECONDS must be a number from 0 to 3600"):
        verifies(wide, sent(INVOICE_PAID, at=NOW))


def test_a_payload_without_a_type_or_a_delivery_without_an_id_is_refused(host):
    with pytest.raises(ValueError, match="no type"):
        host.normalize("standardwebhooks", request=sent({"data": {}}, at=NOW))
    request = sent(INVOICE_PAID, at=NOW)
    with pytest.raises(ValueError, match="webhook-id"):
        host.normalize("standardwebhooks", request=WebhookRequest(headers={}, body=request.body))


def test_a_payload_without_data_is_kept_whole(host):
    [event] = host.normalize("standardwebhooks", request=sent({"type": "ping", "timestamp": "not a time"}, at=NOW))
    assert event.data == {"type": "ping", "timestamp": "not a time"} and event.time is None


# through a real hub --------------------------------------------------------------


def test_an_integration_receives_a_delivery_once_and_processes_it(app, tenant, other_tenant):
    client = app.test_client()
    created = client.post("/api/integrations", headers=tenant.headers,
                          json={"connector": "standardwebhooks", "name": "Billing", "credentials": {"webhook_secret": SECRET}})
    assert created.status_code == 201, created.json
    path = created.json["webhook_url"].removeprefix("http://hub.test")
    request = sent(INVOICE_PAID, at=datetime.now(UTC).timestamp())

    forged = sent(INVOICE_PAID, secret=ROTATED, at=datetime.now(UTC).timestamp())
    assert client.post(path, data=forged.body, headers=dict(forged.headers)).status_code == 401
    first = client.post(path, data=request.body, headers=dict(request.headers))
    again = client.post(path, data=request.body, headers=dict(request.headers))
    assert (first.json["status"], again.json["status"]) == ("accepted", "duplicate")
    drain_queues(app)
    [event] = client.get("/api/events", headers=tenant.headers).json["events"]
    assert (event["type"], event["status"]) == ("invoice.paid", "processed")
    assert client.get("/api/events", headers=other_tenant.headers).json["events"] == []


@pytest.mark.parametrize("secret", ["not-base64!", "whsec_", ""])
def test_a_secret_that_cannot_be_a_signing_key_is_refused_when_set(app, tenant, secret):
    created = app.test_client().post("/api/integrations", headers=tenant.headers,
                                     json={"connector": "standardwebhooks", "name": "Billing", "credentials": {"webhook_secret": secret}})
    assert created.status_code == 400 and created.content_type == "application/problem+json"
    assert app.test_client().get("/api/integrations", headers=tenant.headers).json["integrations"] == []
