"""Event retention: finished events past their window go, with their jobs; nothing else does.

The windows are counted from when an event was received, so the tests age
stored events by moving `received_at` back, on both databases.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from hub.errors import ConfigurationError
from hub.events.retention import prune_events
from hub.queue import outbox
from hub.storage.models import Job, WebhookEvent, db, new_id, utcnow

DAY = timedelta(days=1)
GUARD_SECONDS = 120  # only keeps a broken run from hanging; nothing is timed


def event(event_id: str) -> dict[str, Any]:
    return {"id": event_id, "type": "thing.created", "data": {"n": event_id}}


def delivered(pipeline, integration, *event_ids: str) -> dict[str, str]:
    """Deliver and process the events; their hub ids by provider event id."""
    for event_id in event_ids:
        response = pipeline.deliver(integration["path"], event(event_id), secret=integration["signing_secret"])
        assert response.json == {"status": "accepted"}
    pipeline.run_queues()
    return {row.provider_event_id: row.id for row in pipeline.rows(WebhookEvent)}


def age(app, event_ids: list[str], days: float, status: str | None = None) -> None:
    """Make stored events look `days` old, and move them (and their jobs) to `status`."""
    job_status = {"processed": "done", "dead": "dead", "failed": "failed", "pending": "pending"}
    with app.app_context():
        values: dict[str, Any] = {"received_at": utcnow() - timedelta(days=days)}
        if status is not None:
            values["status"] = status
            db.session.execute(sa.update(Job).where(Job.event_id.in_(event_ids)).values(status=job_status[status]))
        db.session.execute(sa.update(WebhookEvent).where(WebhookEvent.id.in_(event_ids)).values(**values))
        db.session.commit()


def prune(app, **options: Any) -> dict[str, int]:
    with app.app_context():
        return prune_events(**options)


def stored_ids(pipeline, model: Any, column: str = "id") -> set[str]:
    return {getattr(row, column) for row in pipeline.rows(model)}


def test_a_redelivery_inside_the_retention_window_is_a_duplicate(redis_pipeline):
    pipeline = redis_pipeline
    integration = pipeline.create_integration()
    ids = delivered(pipeline, integration, "evt_late_retry")
    age(pipeline.app, list(ids.values()), days=29)

    assert prune(pipeline.app)["processed"] == 0
    again = pipeline.deliver(integration["path"], event("evt_late_retry"), secret=integration["signing_secret"])

    assert again.status_code == 200 and again.json == {"status": "duplicate"}
    assert stored_ids(pipeline, WebhookEvent) == set(ids.values())


def test_an_event_past_the_window_is_pruned_and_a_redelivery_after_it_is_new(redis_pipeline):
    pipeline = redis_pipeline
    integration = pipeline.create_integration()
    ids = delivered(pipeline, integration, "evt_old")
    age(pipeline.app, list(ids.values()), days=31)

    assert prune(pipeline.app)["processed"] == 1
    again = pipeline.deliver(integration["path"], event("evt_old"), secret=integration["signing_secret"])

    assert again.json == {"status": "accepted"}
    assert ids["evt_old"] not in stored_ids(pipeline, WebhookEvent)


def test_pruning_removes_finished_events_past_their_window_and_only_those(redis_pipeline):
    pipeline = redis_pipeline
    app = pipeline.app
    integration = pipeline.create_integration()
    ids = delivered(pipeline, integration, *(
        "processed_old", "processed_recent", "dead_in_dead_window", "dead_old", "failed_old", "pending_old", "processed_old_automating",
    ))
    age(app, [ids["processed_old"], ids["processed_old_automating"]], days=31, status="processed")
    age(app, [ids["processed_recent"]], days=29, status="processed")
    age(app, [ids["dead_in_dead_window"]], days=89, status="dead")
    age(app, [ids["dead_old"]], days=91, status="dead")
    age(app, [ids["failed_old"]], days=400, status="failed")
    age(app, [ids["pending_old"]], days=400, status="pending")
    with app.app_context():  # an automation of an old event still on its way, and a sync job (no event)
        live = outbox.job_values(queue="automation", kind="automation", tenant_id=pipeline.tenant.id, event_id=ids["processed_old_automating"])
        sync = outbox.job_values(queue="sync", kind="sync", tenant_id=pipeline.tenant.id, integration_id=integration["id"])
        sync["created_at"] = sync["updated_at"] = utcnow() - 400 * DAY
        outbox.add_jobs([live, sync])
        db.session.commit()
    jobs_before = {row.id: row.event_id for row in pipeline.rows(Job)}

    report = prune(app)

    assert (report["processed"], report["dead"]) == (1, 1)
    pruned = {ids["processed_old"], ids["dead_old"]}
    assert stored_ids(pipeline, WebhookEvent) == set(ids.values()) - pruned
    jobs_after = {row.id: row.event_id for row in pipeline.rows(Job)}
    assert jobs_after == {job: event_id for job, event_id in jobs_before.items() if event_id not in pruned}
    assert report["jobs"] == len(jobs_before) - len(jobs_after) > 0
    assert prune(app)["processed"] == 0, "a second run finds nothing more"


def test_the_dead_window_is_never_shorter_than_the_event_window(redis_pipeline, make_app):
    pipeline = redis_pipeline
    integration = pipeline.create_integration()
    ids = delivered(pipeline, integration, "dead_young")
    age(pipeline.app, list(ids.values()), days=40, status="dead")
    strict = make_app(HUB_EVENT_RETENTION_DAYS=60, HUB_DEAD_EVENT_RETENTION_DAYS=10, REDIS_URL=pipeline.config["REDIS_URL"])

    assert prune(strict)["dead"] == 0
    assert stored_ids(pipeline, WebhookEvent) == set(ids.values())


def test_pruning_deletes_at_most_one_batch_per_transaction(app):
    """Each batch is its own short transaction, so a writer waits for one batch at most, never for the whole prune."""
    with app.app_context():
        old = utcnow() - 31 * DAY
        rows = [_finished_event(old) for _ in range(23)]
        db.session.execute(sa.insert(WebhookEvent.__table__), rows)
        db.session.commit()
        statements: list[str] = []

        def record(_conn, _cursor, statement, _parameters, _context, _executemany):
            keyword = statement.lstrip().split(None, 1)[0].upper()
            if keyword == "DELETE" and "webhook_events" in statement:
                statements.append("DELETE")
            elif keyword in ("COMMIT", "BEGIN"):
                statements.append(keyword)

        def committed(_conn):
            statements.append("COMMIT")

        sa.event.listen(db.engine, "after_cursor_execute", record)
        sa.event.listen(db.engine, "commit", committed)
        try:
            report = prune_events(batch_size=5)
        finally:
            sa.event.remove(db.engine, "after_cursor_execute", record)
            sa.event.remove(db.engine, "commit", committed)
        remaining = db.session.execute(sa.select(sa.func.count()).select_from(WebhookEvent)).scalar_one()

    assert report["processed"] == 23 and remaining == 0
    deletes = [i for i, s in enumerate(statements) if s == "DELETE"]
    assert len(deletes) == 5, "23 events in batches of 5"
    for this, following in zip(deletes, deletes[1:]):
        assert "COMMIT" in statements[this:following], "every batch commits before the next one starts"


def test_webhooks_are_accepted_while_a_prune_runs(redis_pipeline):
    pipeline = redis_pipeline
    integration = pipeline.create_integration()
    with pipeline.app.app_context():
        old = utcnow() - 31 * DAY
        db.session.execute(sa.insert(WebhookEvent.__table__), [_finished_event(old) for _ in range(3000)])
        db.session.commit()
    outcome: list[Any] = []

    def run_prune() -> None:
        with pipeline.app.app_context():
            try:
                outcome.append(prune_events(batch_size=50))
            except BaseException as error:  # reported in the test's thread
                outcome.append(error)

    pruning = threading.Thread(target=run_prune, name="prune")
    pruning.start()
    answers = []
    for number in range(200):
        answers.append(pipeline.deliver(integration["path"], event(f"evt_during_{number}"), secret=integration["signing_secret"]))
        if not pruning.is_alive():
            break
    pruning.join(GUARD_SECONDS)

    assert [a.status_code for a in answers] == [200] * len(answers)
    assert not isinstance(outcome[0], BaseException), outcome
    assert outcome[0]["processed"] == 3000
    kept = {row.provider_event_id for row in pipeline.rows(WebhookEvent)}
    assert kept == {f"evt_during_{number}" for number in range(len(answers))}


def _finished_event(received_at) -> dict[str, Any]:
    event_id = new_id()
    return {
        "id": event_id, "tenant_id": new_id(), "integration_id": new_id(), "connector": "signed",
        "provider_event_id": event_id, "type": "thing.created", "subject": None, "occurred_at": None,
        "received_at": received_at, "payload": {}, "status": "processed", "attempts": 1, "last_error": None,
        "processed_at": received_at,
    }


@pytest.mark.parametrize("setting", ["HUB_EVENT_RETENTION_DAYS", "HUB_DEAD_EVENT_RETENTION_DAYS"])
@pytest.mark.parametrize("value", ["0", "-3", "forever"])
def test_a_retention_window_shorter_than_a_day_is_refused(tmp_path, setting, value):
    from hub.app import create_app

    with pytest.raises(ConfigurationError, match=setting):
        create_app(None, environ={"HUB_INSTANCE_PATH": str(tmp_path), setting: value})
