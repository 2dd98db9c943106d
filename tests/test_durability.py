"""Nothing is lost: a consumer killed mid-task, Redis down at enqueue, the database refusing the write.

These start real `hub worker` processes and use the real queues and databases.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from hub.storage.models import Job, WebhookEvent, db

UNREACHABLE_REDIS = "redis://127.0.0.1:1/0"


def event(event_id: str, **data):
    return {"id": event_id, "type": "thing.created", "data": data}


def start_worker(pipeline, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hub", "worker", "--queue", "webhooks", "--no-periodic", *args],
        env=pipeline.worker_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def wait_for(condition, timeout: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def lease_seconds(pipeline):
    pipeline.app.config["HUB_JOB_LEASE_SECONDS"] = 2.0
    pipeline.app.extensions["hub"].settings["HUB_JOB_LEASE_SECONDS"] = 2.0
    pipeline.config["HUB_JOB_LEASE_SECONDS"] = 2.0
    return 2.0


def test_consumer_killed_mid_task_loses_nothing(pipeline, lease_seconds):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_slow", sleep=60), secret=integration["signing_secret"])
    [stored] = pipeline.events()
    doomed = start_worker(pipeline)
    try:
        wait_for(lambda: lines(pipeline.record_dir / "started.log"), what="the first consumer to start the event")
        assert pipeline.events()[0]["status"] == "processing"
        os.killpg(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
    finally:
        if doomed.poll() is None:
            os.killpg(doomed.pid, signal.SIGKILL)
    assert pipeline.processed() == []

    time.sleep(lease_seconds + 0.5)  # the dead consumer's lease runs out
    assert pipeline.relay() == 1
    survivor = start_worker(pipeline)
    try:
        wait_for(lambda: pipeline.processed(), what="the second consumer to finish the event")
        wait_for(lambda: pipeline.events()[0]["status"] == "processed", what="the event to be marked processed")
    finally:
        os.killpg(survivor.pid, signal.SIGTERM)
        survivor.wait(timeout=30)
    assert pipeline.processed() == [stored["id"]]
    assert pipeline.events()[0]["attempts"] == 2


def test_worker_with_several_queues_processes_and_stops_on_sigterm(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_multi"), secret=integration["signing_secret"])
    worker = subprocess.Popen(
        [sys.executable, "-m", "hub", "worker", "--no-periodic"],
        env=pipeline.worker_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )
    try:
        wait_for(lambda: pipeline.automated(), what="the event to pass processing and automation")
    finally:
        os.kill(worker.pid, signal.SIGTERM)
        code = worker.wait(timeout=30)
    assert code == 0
    assert pipeline.events()[0]["status"] == "processed"


def test_redis_down_at_enqueue_still_stores_the_event_and_it_is_processed_later(redis_pipeline, make_app):
    pipeline = redis_pipeline
    integration = pipeline.create_integration()
    outage = make_app(**{**_pipeline_settings(pipeline), "REDIS_URL": UNREACHABLE_REDIS})
    response = pipeline.deliver(integration["path"], event("evt_outage"), secret=integration["signing_secret"], client=outage.test_client())
    assert response.status_code == 200
    assert response.json == {"status": "accepted"}
    assert [row.status for row in pipeline.rows(WebhookEvent)] == ["pending"]
    assert pipeline.run_queues() == 0  # the queue never heard of it
    assert pipeline.relay() == 1  # Redis is back: the relay takes the job at once
    pipeline.run_queues()
    assert pipeline.events()[0]["status"] == "processed"


def _pipeline_settings(pipeline) -> dict:
    keys = ("HUB_PLUGINS", "SIGNED_APP_SECRET", "HUB_JOB_BACKOFF_SECONDS", "HUB_JOB_MAX_ATTEMPTS", "HUB_REDIS_PREFIX")
    return {key: pipeline.config[key] for key in keys}


def test_unreachable_database_gives_503(pipeline, make_app):
    integration = pipeline.create_integration()
    down = make_app(**{**_pipeline_settings(pipeline), "DATABASE_URL": "postgresql://127.0.0.1:1/test"})
    response = pipeline.deliver(integration["path"], event("evt_nodb"), secret=integration["signing_secret"], client=down.test_client())
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    assert response.headers["Retry-After"]
    assert pipeline.rows(WebhookEvent) == []


REFUSE_JOBS = {
    "sqlite": ["CREATE TRIGGER refuse_jobs BEFORE INSERT ON jobs BEGIN SELECT RAISE(ABORT, 'disk full'); END"],
    "postgresql": [
        "CREATE FUNCTION refuse_jobs() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full'; END $$ LANGUAGE plpgsql",
        "CREATE TRIGGER refuse_jobs BEFORE INSERT ON jobs FOR EACH ROW EXECUTE FUNCTION refuse_jobs()",
    ],
}
ALLOW_JOBS = {
    "sqlite": ["DROP TRIGGER refuse_jobs"],
    "postgresql": ["DROP TRIGGER refuse_jobs ON jobs", "DROP FUNCTION refuse_jobs()"],
}


def _run_sql(app, statements: list[str]) -> None:
    with app.app_context(), db.engine.begin() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))


def test_database_failing_mid_transaction_gives_503_and_stores_nothing_half_way(pipeline):
    integration = pipeline.create_integration()
    with pipeline.app.app_context():
        dialect = db.engine.dialect.name
    _run_sql(pipeline.app, REFUSE_JOBS[dialect])
    try:
        response = pipeline.deliver(integration["path"], event("evt_half"), secret=integration["signing_secret"])
    finally:
        _run_sql(pipeline.app, ALLOW_JOBS[dialect])
    assert response.status_code == 503
    assert response.headers["Retry-After"]
    assert pipeline.rows(WebhookEvent) == []  # the event went with its job
    assert pipeline.rows(Job) == []
    retried = pipeline.deliver(integration["path"], event("evt_half"), secret=integration["signing_secret"])
    assert retried.json == {"status": "accepted"}  # the provider's retry is not taken for a duplicate


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_connection_the_database_dropped_costs_one_503_and_the_pool_recovers(pipeline):
    integration = pipeline.create_integration()
    with pipeline.app.app_context():
        db.engine.dispose()  # from here on the pool holds the one connection the next delivery opens
    assert pipeline.deliver(integration["path"], event("evt_before"), secret=integration["signing_secret"]).status_code == 200
    with pipeline.app.app_context():
        pooled = db.engine.raw_connection()
        backend = pooled.driver_connection.info.backend_pid
        pooled.close()
        admin = sa.create_engine(db.engine.url)  # outside the app's pool
        with admin.connect() as connection:
            connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": backend})
        admin.dispose()
    dropped = pipeline.deliver(integration["path"], event("evt_dropped"), secret=integration["signing_secret"])
    assert dropped.status_code == 503
    assert dropped.headers["Retry-After"]
    assert dropped.mimetype == "application/problem+json"
    retried = pipeline.deliver(integration["path"], event("evt_dropped"), secret=integration["signing_secret"])
    assert retried.json == {"status": "accepted"}
    assert sorted(row.provider_event_id for row in pipeline.rows(WebhookEvent)) == ["evt_before", "evt_dropped"]
