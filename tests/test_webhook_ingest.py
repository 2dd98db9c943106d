"""Webhook ingestion: every status of the contract, dedupe, routing, and nothing stored on refusal."""

from __future__ import annotations

import io
import json
import threading
import time

import pytest

from hub.storage.models import Job, WebhookEvent
from tests.pipeline_fixtures import APP_SECRET
from tests.support.signed_connector import sign

pytestmark = pytest.mark.usefixtures("pipeline")


def event(event_id: str = "evt_1", **data):
    return {"id": event_id, "type": "thing.created", "data": data}


def test_signed_delivery_is_accepted_stored_and_processed(pipeline):
    integration = pipeline.create_integration()
    response = pipeline.deliver(integration["path"], event("evt_1", amount=5), secret=integration["signing_secret"])
    assert response.status_code == 200
    assert response.json == {"status": "accepted"}
    [stored] = pipeline.events()
    assert stored["status"] == "pending"
    assert stored["provider_event_id"] == "evt_1"
    assert stored["event"]["specversion"] == "1.0"
    assert stored["event"]["data"] == {"amount": 5}
    assert pipeline.run_queues() >= 1
    assert pipeline.processed() == [stored["id"]]
    assert pipeline.automated() == [stored["id"]]
    [done] = pipeline.events()
    assert done["status"] == "processed"
    assert done["processed_at"] is not None


def test_duplicate_delivery_is_stored_once(pipeline):
    integration = pipeline.create_integration()
    first = pipeline.deliver(integration["path"], event("evt_dup"), secret=integration["signing_secret"])
    again = pipeline.deliver(integration["path"], event("evt_dup"), secret=integration["signing_secret"])
    assert first.json == {"status": "accepted"}
    assert again.status_code == 200
    assert again.json == {"status": "duplicate"}
    assert len(pipeline.rows(WebhookEvent)) == 1
    assert len(pipeline.rows(Job)) == 1


def test_fifty_concurrent_deliveries_of_one_event_store_one_row_and_process_once(pipeline):
    integration = pipeline.create_integration()
    body = json.dumps(event("evt_storm")).encode()
    results: list[int] = []
    statuses: list[str] = []
    barrier = threading.Barrier(50)

    def deliver() -> None:
        client = pipeline.app.test_client()
        barrier.wait()
        response = pipeline.deliver(integration["path"], body, secret=integration["signing_secret"], client=client)
        results.append(response.status_code)
        statuses.append(response.json["status"])

    threads = [threading.Thread(target=deliver) for _ in range(50)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [200] * 50
    assert statuses.count("accepted") == 1
    assert statuses.count("duplicate") == 49
    assert len(pipeline.rows(WebhookEvent)) == 1
    assert len(pipeline.rows(Job)) == 1
    pipeline.run_queues()
    assert len(pipeline.processed()) == 1


def test_handshake_is_answered_and_stores_nothing(pipeline):
    integration = pipeline.create_integration()
    response = pipeline.deliver(integration["path"], {"type": "ping", "challenge": "c-123"}, secret=integration["signing_secret"])
    assert response.status_code == 200
    assert response.data == b"c-123"
    assert pipeline.rows(WebhookEvent) == []


def _refused(pipeline, response, status: int) -> None:
    assert response.status_code == status, response.data
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == status
    assert pipeline.rows(WebhookEvent) == []
    assert pipeline.rows(Job) == []


def test_tampered_body_is_401(pipeline):
    integration = pipeline.create_integration()
    body = json.dumps(event("evt_t")).encode()
    signature = sign(integration["signing_secret"], body)
    response = pipeline.client.post(
        integration["path"], data=body.replace(b"evt_t", b"evt_x"),
        headers={"Content-Type": "application/json", "X-Signed-Signature": signature},
    )
    _refused(pipeline, response, 401)


def test_wrong_signing_secret_is_401(pipeline):
    integration = pipeline.create_integration()
    _refused(pipeline, pipeline.deliver(integration["path"], event(), secret="not-the-secret"), 401)


def test_stale_timestamp_is_401(pipeline):
    integration = pipeline.create_integration()
    stale = int(time.time()) - 3600
    _refused(pipeline, pipeline.deliver(integration["path"], event(), secret=integration["signing_secret"], timestamp=stale), 401)


def test_missing_signature_is_401(pipeline):
    integration = pipeline.create_integration()
    response = pipeline.client.post(integration["path"], data=json.dumps(event()), headers={"Content-Type": "application/json"})
    _refused(pipeline, response, 401)


def test_unknown_secret_and_unknown_connector_get_the_same_404(pipeline):
    integration = pipeline.create_integration()
    wrong_secret = pipeline.deliver("/api/webhooks/signed/whk_not_a_real_secret", event(), secret=integration["signing_secret"])
    wrong_connector = pipeline.deliver(
        integration["path"].replace("/signed/", "/nosuch/"), event(), secret=integration["signing_secret"]
    )
    _refused(pipeline, wrong_secret, 404)
    _refused(pipeline, wrong_connector, 404)
    assert wrong_secret.json == wrong_connector.json


def test_secret_of_another_connector_is_404(pipeline):
    integration = pipeline.create_integration()
    other = integration["path"].replace("/signed/", "/stripe/")
    _refused(pipeline, pipeline.deliver(other, event(), secret=integration["signing_secret"]), 404)


def test_deleted_integration_is_410(pipeline):
    integration = pipeline.create_integration()
    assert pipeline.client.delete(f"/api/integrations/{integration['id']}", headers=pipeline.tenant.headers).status_code == 204
    _refused(pipeline, pipeline.deliver(integration["path"], event(), secret=integration["signing_secret"]), 410)


def test_oversized_body_is_413(pipeline):
    integration = pipeline.create_integration()
    pipeline.app.config["HUB_MAX_WEBHOOK_BYTES"] = 1024
    big = event("evt_big", blob="x" * 2048)
    _refused(pipeline, pipeline.deliver(integration["path"], big, secret=integration["signing_secret"]), 413)


def test_oversized_chunked_body_is_413(pipeline):
    integration = pipeline.create_integration()
    pipeline.app.config["HUB_MAX_WEBHOOK_BYTES"] = 1024
    body = json.dumps(event("evt_big", blob="x" * 4096)).encode()

    response = pipeline.client.post(
        integration["path"], input_stream=io.BytesIO(body), environ_base={"wsgi.input_terminated": True},
        headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked",
                 "X-Signed-Signature": sign(integration["signing_secret"], body)},
    )
    _refused(pipeline, response, 413)


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"type": "thing.created"}', b'{"id": 5, "type": "x"}'])
def test_malformed_body_under_a_valid_signature_is_400(pipeline, body):
    integration = pipeline.create_integration()
    _refused(pipeline, pipeline.deliver(integration["path"], body, secret=integration["signing_secret"]), 400)


def test_app_level_delivery_routes_to_every_live_integration_of_the_account(pipeline, other_tenant, signed_accounts):
    signed_accounts.accounts.update({"key_first": "acct_42", "key_second": "acct_42", "key_third": "acct_other"})
    first = pipeline.create_integration(api_key="key_first")
    second = pipeline.create_integration(api_key="key_second", tenant=other_tenant)
    pipeline.create_integration(api_key="key_third")
    response = pipeline.deliver(pipeline.app_path(), {**event("evt_app"), "account": "acct_42"}, secret=APP_SECRET)
    assert response.json == {"status": "accepted"}
    stored = pipeline.rows(WebhookEvent)
    assert sorted(row.integration_id for row in stored) == sorted([first["id"], second["id"]])
    assert {row.tenant_id for row in stored} == {pipeline.tenant.id, other_tenant.id}
    again = pipeline.deliver(pipeline.app_path(), {**event("evt_app"), "account": "acct_42"}, secret=APP_SECRET)
    assert again.json == {"status": "duplicate"}


def test_app_level_delivery_needs_the_app_secret(pipeline, signed_accounts):
    signed_accounts.accounts["key_123456"] = "acct_42"
    pipeline.create_integration()
    response = pipeline.deliver(pipeline.app_path(), {**event(), "account": "acct_42"}, secret="whsig_integration_secret")
    _refused(pipeline, response, 401)


def test_app_level_event_for_an_unknown_account_is_accepted_and_dropped(pipeline):
    response = pipeline.deliver(pipeline.app_path(), {**event(), "account": "acct_nobody"}, secret=APP_SECRET)
    assert response.status_code == 200
    assert pipeline.rows(WebhookEvent) == []


def test_deauthorization_event_revokes_the_integration_and_later_deliveries_get_410(pipeline):
    integration = pipeline.create_integration()
    response = pipeline.deliver(
        integration["path"], {"id": "evt_bye", "type": "account.deauthorized"}, secret=integration["signing_secret"]
    )
    assert response.status_code == 200
    shown = pipeline.client.get(f"/api/integrations/{integration['id']}", headers=pipeline.tenant.headers).json
    assert shown["status"] == "revoked"
    later = pipeline.deliver(integration["path"], event("evt_after"), secret=integration["signing_secret"])
    assert later.status_code == 410


def test_several_events_in_one_delivery_are_stored_together(pipeline):
    integration = pipeline.create_integration()
    response = pipeline.deliver(
        integration["path"], {"events": [event("evt_a"), event("evt_b"), event("evt_a")]}, secret=integration["signing_secret"]
    )
    assert response.json == {"status": "accepted"}
    assert sorted(row.provider_event_id for row in pipeline.rows(WebhookEvent)) == ["evt_a", "evt_b"]


@pytest.mark.parametrize("data", ["just text", 42, [1, "two"], None])
def test_event_data_of_any_json_shape_is_stored_as_sent(pipeline, data):
    integration = pipeline.create_integration()
    response = pipeline.deliver(integration["path"], {"id": "evt_shape", "type": "thing.created", "data": data}, secret=integration["signing_secret"])
    assert response.json == {"status": "accepted"}
    assert pipeline.events()[0]["event"]["data"] == data


def test_a_lone_event_and_events_delivered_together_are_written_alike(pipeline):
    """On PostgreSQL a lone event takes the one-statement path and several take the session's; the rows must not differ."""
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_lone"), secret=integration["signing_secret"])
    pipeline.deliver(integration["path"], {"events": [event("evt_together"), event("evt_too")]}, secret=integration["signing_secret"])
    events = {row.provider_event_id: row for row in pipeline.rows(WebhookEvent)}
    jobs = {row.event_id: row for row in pipeline.rows(Job)}
    varying = {"id", "provider_event_id", "received_at", "event_id", "run_at", "created_at", "updated_at", "lease_expires_at"}

    def columns(row):
        return {name: value for name, value in vars(row).items() if not name.startswith("_") and name not in varying}

    lone, together = events["evt_lone"], events["evt_together"]
    assert columns(lone) == columns(together)
    assert columns(jobs[lone.id]) == columns(jobs[together.id])
    for row in (lone, together):
        job = jobs[row.id]
        assert job.run_at == job.created_at == job.updated_at == row.received_at
