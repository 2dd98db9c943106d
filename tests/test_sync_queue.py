"""The sync queue: pages through a fake provider on 127.0.0.1, cursor kept, records deduped with webhooks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask, jsonify, request

from hub import hookimpl
from hub.storage.models import Integration, Job, db, utcnow
from hub.testkit.http_server import serve_wsgi
from hub.types import ConnectorInfo


@dataclass
class FakeProvider:
    """Events e1..eN in pages of two; `after` is the last id seen."""

    total: int = 5
    throttle_once: bool = False
    retry_after: str = "0"
    calls: list[str] = field(default_factory=list)

    def app(self) -> Flask:
        api = Flask("fake-provider")

        @api.get("/events")
        def events():  # type: ignore[no-untyped-def]
            if request.headers.get("Authorization") is not None:
                return jsonify({"error": "an API-key provider gets no bearer token"}), 400
            after = request.args.get("after", "")
            self.calls.append(after)
            if self.throttle_once:
                self.throttle_once = False
                return jsonify({"error": "slow down"}), 429, {"Retry-After": self.retry_after}
            start = int(after[1:]) if after else 0
            numbers = range(start + 1, min(start + 2, self.total) + 1)
            page = [{"id": f"e{n}", "type": "thing.synced", "data": {"n": n}} for n in numbers]
            last = f"e{numbers[-1]}" if page else after
            return jsonify({"events": page, "cursor": last, "has_more": bool(page) and numbers[-1] < self.total})

        @api.get("/account")
        def account():  # type: ignore[no-untyped-def]
            return jsonify({"account": "acct_synced"})

        return api


@pytest.fixture
def provider(pipeline):
    fake = FakeProvider()
    with serve_wsgi(fake.app()) as url:
        pipeline.app.extensions["hub"].plugins.config = {**pipeline.app.extensions["hub"].plugins.config, "SIGNED_API_BASE_URL": url}
        yield fake


def request_sync(pipeline, integration_id: str, tenant=None):
    return pipeline.client.post(f"/api/integrations/{integration_id}/sync", headers=(tenant or pipeline.tenant).headers)


def test_sync_pages_through_the_provider_and_processes_every_record(pipeline, provider):
    integration = pipeline.create_integration()
    response = request_sync(pipeline, integration["id"])
    assert response.status_code == 202
    assert response.json["job_id"]
    pipeline.run_queues()
    assert provider.calls == ["", "e2", "e4"]
    synced = sorted(row["provider_event_id"] for row in pipeline.events())
    assert synced == ["e1", "e2", "e3", "e4", "e5"]
    assert len(pipeline.processed()) == 5
    shown = pipeline.client.get(f"/api/integrations/{integration['id']}", headers=pipeline.tenant.headers).json
    assert shown["last_synced_at"] is not None
    with pipeline.app.app_context():
        assert db.session.get(Integration, integration["id"]).sync_cursor == "e5"

    provider.total = 6
    request_sync(pipeline, integration["id"])
    pipeline.run_queues()
    assert provider.calls[-1] == "e5"
    assert len(pipeline.events()) == 6


def test_synced_records_dedupe_against_webhook_deliveries(pipeline, provider):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], {"id": "e1", "type": "thing.synced", "data": {"n": 1}}, secret=integration["signing_secret"])
    request_sync(pipeline, integration["id"])
    pipeline.run_queues()
    assert sorted(row["provider_event_id"] for row in pipeline.events()) == ["e1", "e2", "e3", "e4", "e5"]
    assert len(pipeline.processed()) == 5


def test_rate_limited_sync_comes_back_later_with_the_same_cursor(pipeline, provider):
    provider.throttle_once = True
    integration = pipeline.create_integration()
    request_sync(pipeline, integration["id"])
    pipeline.run_queues()
    assert provider.calls[:2] == ["", ""]
    assert len(pipeline.events()) == 5


def test_a_second_sync_request_reuses_the_unfinished_job(pipeline, provider):
    integration = pipeline.create_integration()
    first = request_sync(pipeline, integration["id"]).json["job_id"]
    second = request_sync(pipeline, integration["id"]).json["job_id"]
    assert first == second
    assert len(pipeline.rows(Job)) == 1


def test_sync_of_an_inactive_integration_is_409(pipeline, provider):
    integration = pipeline.create_integration()
    pipeline.client.patch(f"/api/integrations/{integration['id']}", json={"status": "disabled"}, headers=pipeline.tenant.headers)
    response = request_sync(pipeline, integration["id"])
    assert response.status_code == 409
    assert response.mimetype == "application/problem+json"
    assert pipeline.rows(Job) == []


def test_sync_of_another_tenants_integration_is_404(pipeline, provider, other_tenant):
    integration = pipeline.create_integration()
    assert request_sync(pipeline, integration["id"], tenant=other_tenant).status_code == 404
    assert request_sync(pipeline, "no-such-id").status_code == 404
    assert pipeline.rows(Job) == []


class NoSync:
    @hookimpl
    def connector_info(self):
        return ConnectorInfo(display_name="No sync", auth_kind="api_key", credential_fields={"api_key": "key"})


def test_sync_of_a_connector_without_sync_is_400(pipeline):
    pipeline.app.extensions["hub"].plugins.register_connector("nosync", NoSync())
    created = pipeline.client.post(
        "/api/integrations", json={"connector": "nosync", "name": "n", "credentials": {"api_key": "k_1234"}}, headers=pipeline.tenant.headers
    ).json
    response = request_sync(pipeline, created["id"])
    assert response.status_code == 400
    assert pipeline.rows(Job) == []


def test_periodic_sync_schedules_each_due_integration_once(pipeline, provider):
    from hub.provider.sync import schedule_due_syncs
    from hub.queue.queues import enqueue

    integration = pipeline.create_integration()
    with pipeline.app.app_context():
        due = schedule_due_syncs()
        assert len(due) == 1
        assert schedule_due_syncs() == []  # one unfinished sync is enough
        enqueue(due)
    pipeline.run_queues()
    with pipeline.app.app_context():
        assert db.session.get(Integration, integration["id"]).last_synced_at is not None
        assert schedule_due_syncs() == []  # synced within the interval
        db.session.execute(sa.update(Integration).values(last_synced_at=None))
        db.session.commit()
        assert len(schedule_due_syncs()) == 1


def test_periodic_work_runs_once_per_period_across_consumers(pipeline, provider):
    from hub.worker.periodic import run_periodic_work

    pipeline.create_integration()
    with pipeline.app.app_context():
        first = run_periodic_work()
        second = run_periodic_work()  # another consumer ticking in the same minute
    assert first["schedule-syncs"] == 1
    assert "relay" in first
    assert second == {}


@pytest.mark.parametrize("retry_after", ["1e12", "inf", "nan"], ids=["years", "infinite", "not a number"])
def test_a_retry_after_of_years_puts_the_next_page_off_by_a_day_at_most(pipeline, provider, retry_after):
    provider.throttle_once, provider.retry_after = True, retry_after
    integration = pipeline.create_integration()
    request_sync(pipeline, integration["id"])
    before = utcnow()
    pipeline.run_queues()
    assert provider.calls == [""], "the next page waits"
    jobs = sorted(pipeline.rows(Job), key=lambda job: job.created_at)
    assert [(job.kind, job.status) for job in jobs] == [("sync", "done"), ("sync", "pending")]
    wait = jobs[1].run_at - before
    assert timedelta(hours=23, minutes=59) <= wait <= timedelta(days=1, minutes=1)


def test_a_sync_job_that_names_no_integration_is_dead_without_calling_a_provider(pipeline, provider):
    from hub.queue import outbox
    from hub.queue.queues import enqueue

    with pipeline.app.app_context():
        enqueue(outbox.add_jobs([outbox.job_values(queue="sync", kind="sync", tenant_id=pipeline.tenant.id)]))
        db.session.commit()
    pipeline.run_queues()
    [job] = pipeline.rows(Job)
    assert (job.status, job.attempts) == ("dead", 1)
    assert job.last_error == f"LookupError: sync job {job.id} names no integration"
    assert provider.calls == []


def test_a_sync_job_waits_paused_while_its_integration_is_disabled_and_runs_once_enabled(pipeline, provider):
    integration = pipeline.create_integration()
    request_sync(pipeline, integration["id"])
    path = f"/api/integrations/{integration['id']}"
    assert pipeline.client.patch(path, json={"status": "disabled"}, headers=pipeline.tenant.headers).status_code == 200
    pipeline.run_queues()
    assert provider.calls == []
    [job] = pipeline.rows(Job)
    assert (job.status, job.attempts) == ("paused", 0), "parked, no attempt spent"
    assert pipeline.client.patch(path, json={"status": "active"}, headers=pipeline.tenant.headers).status_code == 200
    pipeline.run_queues()
    assert provider.calls == ["", "e2", "e4"]
    assert len(pipeline.events()) == 5
