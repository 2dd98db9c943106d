"""A disabled integration is paused: its webhooks are stored and wait, nothing is lost, enabling resumes them.

Runs through the real webhook endpoint, the outbox and the queues (embedded
and Redis), on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from hub import hookimpl
from hub.storage.models import Job, WebhookEvent, db, utcnow
from hub.types import ConnectorInfo, HealthResult, OAuthConfig, SyncResult
from tests.pipeline_fixtures import APP_SECRET


def event(event_id: str, **data):
    return {"id": event_id, "type": "thing.created", "data": data}


def set_status(pipeline, integration_id: str, status: str):
    response = pipeline.client.patch(f"/api/integrations/{integration_id}", json={"status": status}, headers=pipeline.tenant.headers)
    assert response.status_code == 200, response.json
    return response


def jobs_of(pipeline, kind: str = "event") -> list[Job]:
    return [job for job in pipeline.rows(Job) if job.kind == kind]


def run(pipeline, *queues: str) -> None:
    from hub.queue.queues import current_queues

    with pipeline.app.app_context():
        current_queues().run_pending(list(queues))


def test_webhooks_to_a_disabled_integration_are_stored_and_wait(pipeline):
    integration = pipeline.create_integration()
    set_status(pipeline, integration["id"], "disabled")
    first = pipeline.deliver(integration["path"], event("evt_while_paused"), secret=integration["signing_secret"])
    again = pipeline.deliver(integration["path"], event("evt_while_paused"), secret=integration["signing_secret"])
    assert (first.status_code, first.json, again.json) == (200, {"status": "accepted"}, {"status": "duplicate"})
    pipeline.run_queues()
    assert pipeline.processed() == []
    [stored] = pipeline.events()
    assert (stored["status"], stored["attempts"]) == ("pending", 0)
    [job] = jobs_of(pipeline)
    assert (job.status, job.attempts, job.lease_owner) == ("paused", 0, None), "parked, no attempt spent"
    pipeline.relay()
    pipeline.run_queues()
    assert pipeline.processed() == [] and jobs_of(pipeline)[0].status == "paused", "the relay leaves it parked"


def test_enabling_resumes_every_parked_event_and_nothing_is_lost(pipeline):
    integration = pipeline.create_integration()
    set_status(pipeline, integration["id"], "disabled")
    for number in range(3):
        pipeline.deliver(integration["path"], event(f"evt_{number}"), secret=integration["signing_secret"])
    pipeline.run_queues()
    assert pipeline.processed() == []

    set_status(pipeline, integration["id"], "active")
    assert {job.status for job in jobs_of(pipeline)} == {"pending"}
    pipeline.run_queues()
    events = pipeline.events()
    assert sorted(pipeline.processed()) == sorted(e["id"] for e in events) and len(events) == 3
    assert {(e["status"], e["attempts"]) for e in events} == {("processed", 1)}
    assert sorted(pipeline.automated()) == sorted(e["id"] for e in events)


def test_a_retrying_event_pauses_with_its_attempts_and_resumes(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_flaky", fail_times=1), secret=integration["signing_secret"])
    with pipeline.app.app_context():
        from hub.worker.runner import run_job

        [job] = jobs_of(pipeline)
        assert run_job(job.id, "webhooks") == "batch"  # the first attempt fails and is scheduled to retry
    set_status(pipeline, integration["id"], "disabled")
    with pipeline.app.app_context():
        db.session.execute(sa.update(Job).values(run_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    pipeline.run_queues()
    [job] = jobs_of(pipeline)
    [stored] = pipeline.events()
    assert (job.status, job.attempts) == ("paused", 1)
    assert stored["status"] == "failed", "the event keeps its state while paused"
    set_status(pipeline, integration["id"], "active")
    pipeline.run_queues()
    [stored] = pipeline.events()
    assert (stored["status"], stored["attempts"]) == ("processed", 2)


def test_automation_of_a_disabled_integration_waits_too(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_automate"), secret=integration["signing_secret"])
    run(pipeline, "webhooks")
    [stored] = pipeline.events()
    assert pipeline.processed() == [stored["id"]] and pipeline.automated() == []
    set_status(pipeline, integration["id"], "disabled")
    run(pipeline, "automation")
    assert pipeline.automated() == []
    assert [job.status for job in jobs_of(pipeline, "automation")] == ["paused"]
    set_status(pipeline, integration["id"], "active")
    run(pipeline, "automation")
    assert pipeline.automated() == [stored["id"]]


def test_a_parked_job_that_enabling_missed_is_healed_by_the_relay(pipeline):
    """A claim that read the integration as disabled can park a job just after enabling un-parked the others."""
    integration = pipeline.create_integration()
    set_status(pipeline, integration["id"], "disabled")
    pipeline.deliver(integration["path"], event("evt_raced"), secret=integration["signing_secret"])
    pipeline.run_queues()
    with pipeline.app.app_context():  # enabled by a writer that found nothing parked yet
        from hub.tenancy.integrations import update_integration_status

        update_integration_status(pipeline.tenant.id, integration["id"], "active")
    assert jobs_of(pipeline)[0].status == "paused"
    assert pipeline.relay() == 1
    pipeline.run_queues()
    [stored] = pipeline.events()
    assert stored["status"] == "processed" and pipeline.processed() == [stored["id"]]


def test_replaying_a_paused_event_does_not_queue_it_twice(pipeline):
    integration = pipeline.create_integration()
    set_status(pipeline, integration["id"], "disabled")
    pipeline.deliver(integration["path"], event("evt_replayed"), secret=integration["signing_secret"])
    pipeline.run_queues()
    [stored] = pipeline.events()
    replayed = pipeline.client.post(f"/api/events/{stored['id']}/replay", headers=pipeline.tenant.headers)
    assert replayed.status_code == 202 and replayed.json["job_id"] == jobs_of(pipeline)[0].id
    set_status(pipeline, integration["id"], "active")
    pipeline.run_queues()
    assert pipeline.processed() == [stored["id"]]


def test_app_level_events_for_a_disabled_integration_are_kept_for_it(pipeline, signed_accounts):
    signed_accounts.accounts["key_123456"] = "acct_42"
    integration = pipeline.create_integration()
    set_status(pipeline, integration["id"], "disabled")
    response = pipeline.deliver(pipeline.app_path(), {**event("evt_app"), "account": "acct_42"}, secret=APP_SECRET)
    assert response.json == {"status": "accepted"}
    pipeline.run_queues()
    assert pipeline.processed() == []
    set_status(pipeline, integration["id"], "active")
    pipeline.run_queues()
    assert [row.provider_event_id for row in pipeline.rows(WebhookEvent) if row.status == "processed"] == ["evt_app"]


def test_sync_of_a_disabled_integration_is_409_and_stores_nothing(pipeline):
    integration = pipeline.create_integration()
    set_status(pipeline, integration["id"], "disabled")
    response = pipeline.client.post(f"/api/integrations/{integration['id']}/sync", headers=pipeline.tenant.headers)
    assert response.status_code == 409 and response.mimetype == "application/problem+json"
    assert jobs_of(pipeline, "sync") == []


class Recorder:
    """A connector whose periodic hooks record which credentials they were called with."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    @hookimpl
    def connector_info(self) -> ConnectorInfo:
        return ConnectorInfo(
            display_name="Recorder", auth_kind="api_key", credential_fields={"api_key": "key"},
            supports_sync=True, supports_health_check=True,
        )

    @hookimpl
    def oauth_config(self) -> OAuthConfig:
        return OAuthConfig(authorize_url="https://recorder.test/authorize", token_url="https://recorder.test/token")

    @hookimpl
    def check_health(self, credentials):  # type: ignore[no-untyped-def]
        self.calls.append(("health", credentials["api_key"]))
        return HealthResult(ok=True)

    @hookimpl
    def renew_subscription(self, credentials):  # type: ignore[no-untyped-def]
        self.calls.append(("renew", credentials["api_key"]))

    @hookimpl
    def sync(self, credentials):  # type: ignore[no-untyped-def]
        self.calls.append(("sync", credentials["api_key"]))
        return SyncResult(records=[], cursor=None)


@pytest.fixture
def recorder_app(make_app):
    app = make_app()
    recorder = Recorder()
    app.extensions["hub"].plugins.register_connector("recorder", recorder)
    return app, recorder


def test_periodic_work_leaves_a_disabled_integration_alone(recorder_app, tenant):
    from hub.provider.credentials import refresh_expiring_tokens
    from hub.provider.health import check_all_integrations
    from hub.provider.subscriptions import renew_all_subscriptions
    from hub.queue.pausing import switch_status
    from hub.queue.queues import current_queues
    from hub.tenancy.integrations import create_integration
    from hub.worker.periodic import schedule_syncs

    app, recorder = recorder_app
    soon = utcnow() + timedelta(minutes=10)  # due for the periodic refresh, not yet for callers
    with app.app_context():
        active = create_integration(tenant.id, connector="recorder", name="on", credentials={"api_key": "on"}, token_expires_at=soon).id
        paused = create_integration(tenant.id, connector="recorder", name="off", credentials={"api_key": "off"}, token_expires_at=soon).id
        switch_status(tenant.id, paused, "disabled")
        schedule_syncs()
        current_queues().run_pending(["sync"])
        check_all_integrations()
        renew_all_subscriptions()
        refreshed = refresh_expiring_tokens()
        synced = {job.integration_id for job in db.session.execute(sa.select(Job)).scalars()}
    assert synced == {active}
    assert sorted(recorder.calls) == [("health", "on"), ("renew", "on"), ("sync", "on")]
    assert sum(refreshed.values()) == 1, "only the active integration's token is looked at"
    assert paused not in synced
