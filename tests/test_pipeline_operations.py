"""Operating the pipeline: webhook rate limits, metrics, readiness, and the worker and events CLI."""

from __future__ import annotations

import pytest

from hub.cli import main
from hub.storage.models import WebhookEvent


def event(event_id: str, **data):
    return {"id": event_id, "type": "thing.created", "data": data}


def test_webhook_rate_limit_is_per_integration_shared_by_processes_and_stores_nothing_past_it(redis_pipeline, make_app):
    pipeline = redis_pipeline
    pipeline.app.extensions["hub"].rate_limits.webhook_limit = __import__("limits").parse("3/minute")
    second_process = make_app(**{key: pipeline.config[key] for key in (
        "HUB_PLUGINS", "SIGNED_APP_SECRET", "REDIS_URL", "HUB_REDIS_PREFIX")}, HUB_WEBHOOK_RATE_LIMIT="3/minute")
    busy = pipeline.create_integration()
    quiet = pipeline.create_integration(signing_secret="whsig_quiet")
    clients = [pipeline.client, second_process.test_client()]
    statuses = [
        pipeline.deliver(busy["path"], event(f"evt_{n}"), secret=busy["signing_secret"], client=clients[n % 2]).status_code
        for n in range(5)
    ]
    assert statuses == [200, 200, 200, 429, 429]
    limited = pipeline.deliver(busy["path"], event("evt_9"), secret=busy["signing_secret"])
    assert limited.mimetype == "application/problem+json"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert len(pipeline.rows(WebhookEvent)) == 3
    assert pipeline.deliver(quiet["path"], event("evt_q"), secret=quiet["signing_secret"]).status_code == 200


def test_metrics_count_deliveries_jobs_and_events(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_m1"), secret=integration["signing_secret"])
    pipeline.deliver(integration["path"], event("evt_m1"), secret=integration["signing_secret"])
    pipeline.deliver(integration["path"], event("evt_m2", fail=True), secret=integration["signing_secret"])
    pipeline.deliver(integration["path"], event("evt_m3"), secret="wrong")
    pipeline.run_queues()
    text = pipeline.client.get("/metrics").get_data(as_text=True)
    for sample in (
        'hub_webhooks_received_total{connector="signed",outcome="accepted"}',
        'hub_webhooks_received_total{connector="signed",outcome="duplicate"}',
        'hub_webhooks_received_total{connector="signed",outcome="unauthorized"}',
        'hub_webhook_ingest_seconds_bucket{connector="signed",le="0.1"}',
        'hub_jobs_total{outcome="done",queue="webhooks"}',
        'hub_jobs_total{outcome="retry",queue="webhooks"}',
        'hub_jobs_total{outcome="dead",queue="webhooks"}',
        'hub_jobs_total{outcome="done",queue="automation"}',
        'hub_events_needing_attention{status="dead"} 1.0',
        'hub_events_needing_attention{status="failed"} 0.0',
    ):
        assert sample in text, sample
    assert integration["signing_secret"] not in text


def test_readyz_is_503_when_the_queue_is_down(make_app):
    response = make_app(REDIS_URL="redis://127.0.0.1:1/0").test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["checks"] == {"database": "ok", "keys": "ok", "key_provider": "ok", "queue": "unavailable"}


def test_readyz_checks_the_queue(pipeline):
    response = pipeline.client.get("/readyz")
    assert response.status_code == 200
    assert response.json["checks"] == {"database": "ok", "keys": "ok", "key_provider": "ok", "queue": "ok"}


def test_cli_lists_dead_events_and_replays_one(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_cli", fail=True), secret=integration["signing_secret"])
    pipeline.run_queues()
    [dead] = pipeline.events(status="dead")
    runner = pipeline.app.test_cli_runner()
    listed = runner.invoke(main, args=["events", "list", "--status", "dead"])
    assert listed.exit_code == 0, listed.output
    assert dead["id"] in listed.output and "RuntimeError" in listed.output
    replayed = runner.invoke(main, args=["events", "replay", dead["id"]])
    assert replayed.exit_code == 0, replayed.output
    assert "queued as job" in replayed.output
    assert pipeline.events()[0]["status"] == "pending"
    assert runner.invoke(main, args=["events", "replay", "no-such-event"]).exit_code != 0


def test_worker_drain_runs_what_is_queued(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_drain"), secret=integration["signing_secret"])
    result = pipeline.app.test_cli_runner().invoke(main, args=["worker", "--drain"])
    assert result.exit_code == 0, result.output
    assert pipeline.events()[0]["status"] == "processed"


@pytest.mark.parametrize("queue", ["nope", "webhooks,nope", ","])
def test_worker_refuses_unknown_queues(pipeline, queue):
    result = pipeline.app.test_cli_runner().invoke(main, args=["worker", "--queue", queue])
    assert result.exit_code == 2
    assert "unknown queue" in result.output


def test_the_cli_lists_every_tenants_events_with_the_statuses_the_api_knows(pipeline, other_tenant):
    from hub.queue.outbox import EVENT_STATUSES

    ours = pipeline.create_integration()
    theirs = pipeline.create_integration(tenant=other_tenant)
    pipeline.deliver(ours["path"], event("evt_ours"), secret=ours["signing_secret"])
    pipeline.deliver(theirs["path"], event("evt_theirs"), secret=theirs["signing_secret"])
    runner = pipeline.app.test_cli_runner()
    listed = runner.invoke(main, args=["events", "list"])
    assert listed.exit_code == 0, listed.output
    assert len(listed.output.splitlines()) == 2, "across tenants"
    [only_one] = runner.invoke(main, args=["events", "list", "--tenant", other_tenant.id]).output.splitlines()
    assert " pending " in only_one and "thing.created" in only_one
    unknown = runner.invoke(main, args=["events", "list", "--status", "nope"])
    assert unknown.exit_code != 0
    for status in EVENT_STATUSES:
        assert status in unknown.output, "the CLI offers exactly the event statuses"
    assert runner.invoke(main, args=["events", "list", "--limit", "1000"]).exit_code == 0, "the operator's page is larger than the API's"
