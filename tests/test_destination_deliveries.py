"""Deliveries to destinations: signed per Standard Webhooks (checked with the official library), filtered, retried, durable.

Receivers are real HTTP servers on 127.0.0.1; the hub's own queues run in
this process (`run_queues`) or in a `hub worker` process. Each test runs on
both databases and on both queue backends (SqliteHuey and Redis).
"""

from __future__ import annotations

import socket
from datetime import timedelta

import pytest
import sqlalchemy as sa
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hub.storage.models import Delivery, Destination, db, utcnow
from tests.support.receiver import running_receiver

DELIVERY_SETTINGS = {
    "HUB_DESTINATIONS_ALLOW_PRIVATE": True,
    "HUB_DELIVERY_SCHEDULE": (0.0, 0.0, 0.0),
    "HUB_DELIVERY_TIMEOUT_SECONDS": 5.0,
}


def signed_event(event_id, event_type="order.created", **data):
    return {"id": event_id, "type": event_type, "data": data}


@pytest.fixture
def hub(pipeline):
    pipeline.app.extensions["hub"].settings.update(DELIVERY_SETTINGS)
    return pipeline


@pytest.fixture
def receiver():
    with running_receiver() as running:
        yield running


def register(hub, url, tenant=None, **body):
    response = hub.client.post("/api/destinations", json={"url": url, **body}, headers=(tenant or hub.tenant).headers)
    assert response.status_code == 201, response.json
    return response.json


def deliveries_of(hub, destination, **params):
    response = hub.client.get(f"/api/destinations/{destination['id']}/deliveries", query_string=params, headers=hub.tenant.headers)
    assert response.status_code == 200, response.json
    return response.json["deliveries"]


def verified(secret, received):
    """The body as the official Standard Webhooks library reads it, after it verified the signature."""
    return Webhook(secret).verify(received.body, received.webhook_headers)


def send(hub, integration, *events):
    for event in events:
        response = hub.deliver(integration["path"], event, secret=integration["signing_secret"])
        assert response.status_code == 200, response.json
    hub.run_queues()


def test_a_stored_event_is_delivered_signed_and_the_official_library_verifies_it(hub, receiver):
    integration = hub.create_integration()
    destination = register(hub, receiver.answer("/hooks", 200))
    send(hub, integration, signed_event("evt_1", amount=5))
    [received] = receiver.at("/hooks")
    body = verified(destination["secret"], received)
    [event] = hub.events()
    assert body["type"] == "order.created"
    assert body["timestamp"] == event["event"]["time"]
    assert body["data"]["id"] == event["id"] and body["data"]["data"] == {"amount": 5}
    assert received.headers["content-type"] == "application/json"
    assert received.headers["webhook-signature"].startswith("v1,") and " " not in received.headers["webhook-signature"]
    [delivery] = deliveries_of(hub, destination)
    assert received.headers["webhook-id"] == delivery["id"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"], delivery["event_id"]) == ("succeeded", 1, 200, event["id"])
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + "QUJD" * 8).verify(received.body, received.webhook_headers)


def test_filters_choose_the_destinations_of_an_event(hub, receiver):
    integration = hub.create_integration()
    other = hub.create_integration(signing_secret="whsig_other", api_key="key_other")
    everything = register(hub, receiver.answer("/all", 200))
    orders = register(hub, receiver.answer("/orders", 200), filter={"event_types": ["order.*"]})
    refunds = register(hub, receiver.answer("/refunds", 200), filter={"event_types": ["refund.*", "hub.ping"]})
    this_one = register(hub, receiver.answer("/this", 200), filter={"integration_ids": [integration["id"]], "connectors": ["signed"]})
    other_connector = register(hub, receiver.answer("/stripe", 200), filter={"connectors": ["stripe"]})
    send(hub, integration, signed_event("evt_order", "order.created"), signed_event("evt_ship", "shipment.sent"))
    send(hub, other, signed_event("evt_other", "order.paid"))
    types = lambda path: sorted(item.json["data"]["providereventid"] for item in receiver.at(path))  # noqa: E731
    assert types("/all") == ["evt_order", "evt_other", "evt_ship"]
    assert types("/orders") == ["evt_order", "evt_other"]
    assert types("/refunds") == []
    assert types("/this") == ["evt_order", "evt_ship"]
    assert types("/stripe") == []
    assert len(deliveries_of(hub, everything)) == 3 and deliveries_of(hub, refunds) == [] and deliveries_of(hub, other_connector) == []
    assert all(verified(destination["secret"], item) for destination, path in ((orders, "/orders"), (this_one, "/this")) for item in receiver.at(path))


def test_another_tenants_events_never_reach_a_destination(hub, receiver, other_tenant):
    register(hub, receiver.answer("/acme", 200))
    theirs = hub.create_integration(tenant=other_tenant, signing_secret="whsig_theirs", api_key="key_theirs")
    send(hub, theirs, signed_event("evt_theirs"))
    assert receiver.at("/acme") == []


def test_lifecycle_events_connected_revoked_deleted_and_dead_are_delivered(hub, receiver):
    destination = register(hub, receiver.answer("/life", 200), filter={"event_types": ["hub.*"]})
    integration = hub.create_integration()
    send(hub, integration, signed_event("evt_dead", fail=True), signed_event("evt_bye", "account.deauthorized"))
    for _ in range(3):
        hub.run_queues()  # the failing event's retries (HUB_JOB_BACKOFF_SECONDS is 0 in these tests)
    assert hub.client.delete(f"/api/integrations/{integration['id']}", headers=hub.tenant.headers).status_code == 204
    hub.run_queues()
    bodies = [verified(destination["secret"], item) for item in receiver.at("/life")]
    by_type = {body["type"]: body for body in bodies}
    assert sorted(by_type) == ["hub.event.dead", "hub.integration.connected", "hub.integration.deleted", "hub.integration.revoked"]
    assert by_type["hub.integration.connected"]["data"]["id"] == integration["id"]
    assert by_type["hub.integration.revoked"]["data"]["status"] == "revoked"
    assert by_type["hub.integration.deleted"]["data"]["id"] == integration["id"]
    assert by_type["hub.event.dead"]["data"]["providereventid"] == "evt_dead"
    assert "webhook_url" not in str(bodies) and integration["signing_secret"] not in str(bodies)


def test_503_twice_then_200_succeeds_on_the_third_attempt_with_the_same_webhook_id(hub, receiver, caplog):
    integration = hub.create_integration()
    destination = register(hub, receiver.answer("/flaky", 503, 503, 200))
    with caplog.at_level("DEBUG"):
        send(hub, integration, signed_event("evt_flaky"))
    assert destination["secret"] not in caplog.text and destination["secret"][6:] not in caplog.text
    assert "attempt 1 failed" in caplog.text
    attempts = receiver.at("/flaky")
    assert len(attempts) == 3
    assert len({item.headers["webhook-id"] for item in attempts}) == 1
    assert all(verified(destination["secret"], item) for item in attempts)
    [delivery] = deliveries_of(hub, destination)
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("succeeded", 3, 200)


def test_after_the_last_attempt_a_delivery_is_failed_and_a_manual_retry_sends_it_again(hub, receiver):
    integration = hub.create_integration()
    destination = register(hub, receiver.answer("/down", (500, {}, b"x" * 5000), (500, {}, b"x" * 5000), (500, {}, b"x" * 5000), (500, {}, b"x" * 5000), 200))
    send(hub, integration, signed_event("evt_down"))
    [delivery] = deliveries_of(hub, destination, status="failed")
    assert (delivery["attempts"], delivery["last_status_code"], delivery["next_attempt_at"]) == (4, 500, None)
    assert len(delivery["last_response_body"]) == 1024
    assert hub.client.post(f"/api/deliveries/{delivery['id']}/retry", headers=hub.tenant.headers).status_code == 202
    hub.run_queues()
    assert [item.headers["webhook-id"] for item in receiver.at("/down")] == [delivery["id"]] * 5
    [again] = deliveries_of(hub, destination)
    assert (again["status"], again["attempts"]) == ("succeeded", 5)


def test_a_redirect_is_a_failure_and_is_not_followed(hub, receiver):
    integration = hub.create_integration()
    destination = register(hub, receiver.answer("/moved", (302, {"Location": receiver.url + "/elsewhere"}, b"")))
    send(hub, integration, signed_event("evt_moved"))
    assert receiver.at("/elsewhere") == []
    [delivery] = deliveries_of(hub, destination)
    assert (delivery["status"], delivery["last_status_code"]) == ("failed", 302)
    assert "redirect" in delivery["last_error"]


def test_a_410_disables_the_destination(hub, receiver):
    integration = hub.create_integration()
    destination = register(hub, receiver.answer("/gone", 410))
    send(hub, integration, signed_event("evt_gone"))
    send(hub, integration, signed_event("evt_after"))
    assert len(receiver.at("/gone")) == 1
    shown = hub.client.get(f"/api/destinations/{destination['id']}", headers=hub.tenant.headers).json
    assert shown["status"] == "disabled" and "410" in shown["disabled_reason"]
    [delivery] = deliveries_of(hub, destination)
    assert (delivery["status"], delivery["attempts"]) == ("failed", 1)


def test_a_timeout_fails_the_attempt_and_the_next_waits_at_least_a_minute(hub, receiver):
    import threading

    hub.app.extensions["hub"].settings["HUB_DELIVERY_TIMEOUT_SECONDS"] = 0.5
    released = threading.Event()
    integration = hub.create_integration()
    destination = register(hub, receiver.answer("/slow", lambda _item: (released.wait(10), 200)[1]))
    try:
        send(hub, integration, signed_event("evt_slow"))
    finally:
        released.set()
    [delivery] = deliveries_of(hub, destination)
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("pending", 1, None)
    assert "no answer" in delivery["last_error"]
    with hub.app.app_context():
        row = db.session.get(Delivery, delivery["id"])
        assert row.next_attempt_at >= utcnow() + timedelta(seconds=55)


def test_a_429_waits_at_least_a_minute(hub, receiver):
    integration = hub.create_integration()
    destination = register(hub, receiver.answer("/busy", (429, {"Retry-After": "1"}, b"slow down")))
    send(hub, integration, signed_event("evt_busy"))
    [delivery] = deliveries_of(hub, destination)
    assert (delivery["status"], delivery["last_status_code"]) == ("pending", 429)
    with hub.app.app_context():
        assert db.session.get(Delivery, delivery["id"]).next_attempt_at >= utcnow() + timedelta(seconds=55)


def test_during_a_rotation_both_secrets_sign_and_each_verifies_alone(hub, receiver):
    integration = hub.create_integration()
    destination = register(hub, receiver.answer("/rotating", 200))
    rotated = hub.client.post(f"/api/destinations/{destination['id']}/rotate-secret", headers=hub.tenant.headers).json
    send(hub, integration, signed_event("evt_rotating"))
    [received] = receiver.at("/rotating")
    signatures = received.headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(part.startswith("v1,") for part in signatures)
    assert verified(destination["secret"], received)["type"] == "order.created"
    assert verified(rotated["secret"], received)["type"] == "order.created"
    with hub.app.app_context():
        db.session.execute(sa.update(Destination).values(previous_secret_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    send(hub, integration, signed_event("evt_rotated"))
    latest = receiver.at("/rotating")[-1]
    assert " " not in latest.headers["webhook-signature"]
    assert verified(rotated["secret"], latest)
    with pytest.raises(WebhookVerificationError):
        verified(destination["secret"], latest)


def test_a_replayed_event_is_delivered_again_with_the_same_webhook_id(hub, receiver):
    integration = hub.create_integration()
    register(hub, receiver.answer("/replay", 200))
    send(hub, integration, signed_event("evt_replay"))
    hub.run_queues()  # a second run of the same job's doorbells sends nothing new
    [event] = hub.events()
    assert hub.client.post(f"/api/events/{event['id']}/replay", headers=hub.tenant.headers).status_code == 202
    hub.run_queues()
    first, again = receiver.at("/replay")
    assert first.headers["webhook-id"] == again.headers["webhook-id"]


def test_a_test_delivery_is_a_signed_ping(hub, receiver):
    destination = register(hub, receiver.answer("/ping", 200), filter={"event_types": ["order.*"]})
    assert hub.client.post(f"/api/destinations/{destination['id']}/test", headers=hub.tenant.headers).status_code == 202
    hub.run_queues()
    [received] = receiver.at("/ping")
    assert verified(destination["secret"], received)["type"] == "hub.ping"


def test_a_deleted_destination_receives_nothing_more(hub, receiver):
    integration = hub.create_integration()
    destination = register(hub, receiver.answer("/deleted", 200))
    assert hub.client.delete(f"/api/destinations/{destination['id']}", headers=hub.tenant.headers).status_code == 204
    send(hub, integration, signed_event("evt_after_delete"))
    assert receiver.at("/deleted") == []


def test_an_address_that_turns_private_after_registration_is_refused_at_the_attempt(hub, receiver, monkeypatch):
    hub.app.extensions["hub"].settings["HUB_DESTINATIONS_ALLOW_PRIVATE"] = False
    port = int(receiver.url.rsplit(":", 1)[1])
    answers = iter([[("93.184.216.34", port)]] + [[("127.0.0.1", port)]] * 20)
    real = socket.getaddrinfo

    def rebinding(host, *args, **kwargs):
        if host == "rebind.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", address) for address in next(answers)]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    integration = hub.create_integration()
    destination = register(hub, f"http://rebind.example:{port}/private")
    send(hub, integration, signed_event("evt_rebind"))
    assert receiver.at("/private") == []
    [delivery] = deliveries_of(hub, destination)
    assert delivery["status"] == "failed" and delivery["last_error"].startswith("refused")
    assert "127.0.0.1" not in delivery["last_error"]


def test_connected_through_oauth_and_needs_reauth_are_delivered(build_oauth_app, provider, tenant, receiver):
    from hub.errors import ReauthorizationRequired
    from hub.provider.credentials import fresh_credentials
    from hub.queue.queues import current_queues
    from hub.tenancy.integrations import get_integration_with_credentials
    from tests.oauth_fixtures import connect

    app = build_oauth_app(**DELIVERY_SETTINGS)
    client = app.test_client()
    created = client.post("/api/destinations", json={"url": receiver.answer("/oauth", 200), "filter": {"event_types": ["hub.integration.*"]}}, headers=tenant.headers)
    assert created.status_code == 201
    provider.access_token_lifetime = 60
    integration_id = connect(client, tenant)["integration_id"]
    with app.app_context():
        _, credentials = get_integration_with_credentials(tenant.id, integration_id)
    provider.refresh_tokens[credentials["refresh_token"]].revoked = True
    with app.app_context():
        with pytest.raises(ReauthorizationRequired):
            fresh_credentials(tenant.id, integration_id)
        current_queues().run_pending()
    bodies = [verified(created.json["secret"], item) for item in receiver.at("/oauth")]
    assert [(body["type"], body["data"]["id"]) for body in bodies] == [
        ("hub.integration.connected", integration_id), ("hub.integration.needs_reauth", integration_id),
    ]
    assert credentials["refresh_token"] not in str(bodies) and credentials["access_token"] not in str(bodies)


def test_deliveries_are_counted_and_timed_in_metrics(hub, receiver):
    from hub.metrics import DELIVERIES

    before = DELIVERIES.labels(outcome="succeeded")._value.get()
    integration = hub.create_integration()
    register(hub, receiver.answer("/counted", 200))
    send(hub, integration, signed_event("evt_counted"))
    text = hub.client.get("/metrics").get_data(as_text=True)
    assert DELIVERIES.labels(outcome="succeeded")._value.get() == before + 1
    assert 'hub_deliveries_total{outcome="succeeded"}' in text
    assert "hub_delivery_seconds_bucket" in text
    assert "# TYPE hub_destinations_disabled_total counter" in text


def test_the_command_line_lists_destinations_and_failed_deliveries_and_retries_one(hub, receiver):
    from hub.cli import main

    integration = hub.create_integration()
    destination = register(hub, receiver.answer("/cli", 500, 500, 500, 500, 200))
    send(hub, integration, signed_event("evt_cli"))
    runner = hub.app.test_cli_runner()
    listed = runner.invoke(main, ["destinations", "list"])
    assert destination["id"] in listed.output and destination["secret"] not in listed.output
    failed = runner.invoke(main, ["deliveries", "list", "--status", "failed"])
    [delivery] = deliveries_of(hub, destination)
    assert delivery["id"] in failed.output and "status_code=500" in failed.output
    retried = runner.invoke(main, ["deliveries", "retry", delivery["id"]])
    assert retried.exit_code == 0, retried.output
    hub.run_queues()
    assert deliveries_of(hub, destination)[0]["status"] == "succeeded"
    assert runner.invoke(main, ["deliveries", "retry", "no-such-id"]).exit_code != 0
    assert "deliveries" in runner.invoke(main, ["worker", "--help"]).output.split("--queue", 1)[1].split("--workers")[0]
