"""Processing: retries with backoff, dead letters, replay, isolation of failing events, the relay."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from hub.queue.queues import Queues
from hub.storage.models import Job, WebhookEvent, db, utcnow


def event(event_id: str, **data):
    return {"id": event_id, "type": "thing.created", "data": data}


def test_failing_processor_retries_then_succeeds(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_flaky", fail_times=2), secret=integration["signing_secret"])
    pipeline.run_queues()
    [stored] = pipeline.events()
    assert stored["status"] == "processed"
    assert stored["attempts"] == 3
    assert pipeline.processed() == [stored["id"]]


def test_exhausted_attempts_make_the_event_dead_and_replay_processes_it(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_poison", fail=True), secret=integration["signing_secret"])
    pipeline.run_queues()
    [dead] = pipeline.events(status="dead")
    assert dead["attempts"] == 3
    assert "RuntimeError" in dead["last_error"]
    assert pipeline.processed() == []
    assert pipeline.automated() == []

    response = pipeline.client.post(f"/api/events/{dead['id']}/replay", headers=pipeline.tenant.headers)
    assert response.status_code == 202
    assert response.json["job_id"]
    assert pipeline.events()[0]["status"] == "pending"
    pipeline.run_queues()
    assert pipeline.events()[0]["status"] == "dead"  # still poisoned: replay ran it again, three more times

    with pipeline.app.app_context():
        db.session.execute(sa.update(WebhookEvent).values(payload={"fixed": True}))
        db.session.commit()
    pipeline.client.post(f"/api/events/{dead['id']}/replay", headers=pipeline.tenant.headers)
    pipeline.run_queues()
    [done] = pipeline.events()
    assert done["status"] == "processed"
    assert pipeline.processed() == [dead["id"]]


def test_replaying_an_event_still_in_flight_does_not_queue_it_twice(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_wait"), secret=integration["signing_secret"])
    [stored] = pipeline.events()
    first = pipeline.client.post(f"/api/events/{stored['id']}/replay", headers=pipeline.tenant.headers)
    second = pipeline.client.post(f"/api/events/{stored['id']}/replay", headers=pipeline.tenant.headers)
    assert first.status_code == second.status_code == 202
    assert first.json["job_id"] == second.json["job_id"]
    assert len(pipeline.rows(Job)) == 1
    pipeline.run_queues()
    assert pipeline.processed() == [stored["id"]]


def test_replay_of_another_tenants_event_is_404(pipeline, other_tenant):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_mine"), secret=integration["signing_secret"])
    [stored] = pipeline.events()
    response = pipeline.client.post(f"/api/events/{stored['id']}/replay", headers=other_tenant.headers)
    assert response.status_code == 404
    assert pipeline.client.get(f"/api/events/{stored['id']}", headers=other_tenant.headers).status_code == 404
    assert pipeline.client.get("/api/events", headers=other_tenant.headers).json["events"] == []


def test_a_failing_event_does_not_block_the_others(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_bad", fail=True), secret=integration["signing_secret"])
    for number in range(5):
        pipeline.deliver(integration["path"], event(f"evt_ok_{number}"), secret=integration["signing_secret"])
    pipeline.run_queues()
    statuses = {row["provider_event_id"]: row["status"] for row in pipeline.events()}
    assert statuses.pop("evt_bad") == "dead"
    assert set(statuses.values()) == {"processed"}
    assert len(pipeline.processed()) == 5


def test_processing_is_idempotent_when_the_queue_delivers_twice(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_twice"), secret=integration["signing_secret"])
    [job] = pipeline.rows(Job)
    from hub.queue.outbox import Dispatch
    from hub.queue.queues import enqueue

    with pipeline.app.app_context():
        enqueue([Dispatch(job.id, "webhooks"), Dispatch(job.id, "webhooks")])
    pipeline.run_queues()
    assert len(pipeline.processed()) == 1


def test_events_list_filters_and_pages(pipeline):
    integration = pipeline.create_integration()
    other = pipeline.create_integration(signing_secret="whsig_second")
    for number in range(5):
        pipeline.deliver(integration["path"], event(f"evt_{number}"), secret=integration["signing_secret"])
    pipeline.deliver(other["path"], event("evt_other"), secret=other["signing_secret"])
    assert len(pipeline.events()) == 6
    assert len(pipeline.events(integration_id=other["id"])) == 1
    assert pipeline.events(status="processed") == []
    first = pipeline.client.get("/api/events", query_string={"limit": 4}, headers=pipeline.tenant.headers).json
    assert len(first["events"]) == 4 and first["next_cursor"]
    rest = pipeline.client.get(
        "/api/events", query_string={"limit": 4, "cursor": first["next_cursor"]}, headers=pipeline.tenant.headers
    ).json
    assert len(rest["events"]) == 2 and rest["next_cursor"] is None
    seen = [row["id"] for row in first["events"] + rest["events"]]
    assert len(set(seen)) == 6


def test_events_list_rejects_bad_filters(pipeline):
    for params in ({"status": "exploded"}, {"limit": "0"}, {"limit": "many"}, {"cursor": "!!!"}, {"tenant_id": "x"}):
        response = pipeline.client.get("/api/events", query_string=params, headers=pipeline.tenant.headers)
        assert response.status_code == 400, params
        assert response.mimetype == "application/problem+json"
    assert pipeline.client.get("/api/events").status_code == 401


def test_relay_enqueues_a_job_whose_enqueue_was_lost(pipeline):
    """A crash between commit and enqueue: the row exists, the queue never heard of it."""
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_lost"), secret=integration["signing_secret"])
    from hub.queue.queues import current_queues

    with pipeline.app.app_context():
        for huey in current_queues().hueys.values():
            huey.flush()
        db.session.execute(sa.update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert pipeline.run_queues() == 0
    assert pipeline.relay() == 1
    pipeline.run_queues()
    assert pipeline.events()[0]["status"] == "processed"


def test_relay_leaves_jobs_inside_their_dispatch_lease_alone(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_fresh"), secret=integration["signing_secret"])
    assert pipeline.relay() == 0


def test_relay_takes_over_a_job_whose_consumer_died(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_orphan"), secret=integration["signing_secret"])
    from hub.queue.outbox import claim
    from hub.queue.queues import current_queues

    with pipeline.app.app_context():
        [job] = db.session.execute(sa.select(Job)).scalars().all()
        assert claim(job.id) is not None  # a consumer claimed it, then died
        for huey in current_queues().hueys.values():
            huey.flush()
        db.session.execute(sa.update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert pipeline.events()[0]["status"] == "processing"
    assert pipeline.relay() == 1
    pipeline.run_queues()
    [done] = pipeline.events()
    assert done["status"] == "processed"
    assert done["attempts"] == 2


def test_a_consumer_that_lost_its_lease_cannot_finish_the_job(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_race"), secret=integration["signing_secret"])
    from hub.queue.outbox import claim, finish

    with pipeline.app.app_context():
        [job] = db.session.execute(sa.select(Job)).scalars().all()
        slow = claim(job.id)
        db.session.execute(sa.update(Job).values(lease_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        fast = claim(job.id)
        assert slow is not None and fast is not None and fast.owner != slow.owner
        assert finish(slow) is None
        assert finish(fast) == []
        assert db.session.get(Job, job.id).status == "done"


def test_last_attempt_lost_with_its_consumer_becomes_dead(pipeline):
    integration = pipeline.create_integration()
    pipeline.deliver(integration["path"], event("evt_last"), secret=integration["signing_secret"])
    with pipeline.app.app_context():
        db.session.execute(
            sa.update(Job).values(status="processing", attempts=Job.max_attempts, lease_expires_at=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    pipeline.relay()
    [dead] = pipeline.events()
    assert dead["status"] == "dead"


def test_retry_delay_grows_exponentially_with_jitter(make_app):
    from hub.queue.outbox import backoff_seconds

    app = make_app(HUB_JOB_BACKOFF_SECONDS=2)
    with app.app_context():
        for attempt, full in ((1, 2), (2, 4), (3, 8), (10, 1024)):
            delays = {backoff_seconds(attempt) for _ in range(20)}
            assert all(full / 2 <= delay <= full for delay in delays)
            assert len(delays) > 1
        assert backoff_seconds(40) <= 3600


def test_concurrent_batch_claims_take_disjoint_jobs(pipeline):
    import threading

    from hub.queue.outbox import claim_batch

    integration = pipeline.create_integration()
    for number in range(40):
        pipeline.deliver(integration["path"], event(f"evt_batch_{number}"), secret=integration["signing_secret"])
    taken: list[list[str]] = []
    barrier = threading.Barrier(4)

    def consumer() -> None:
        with pipeline.app.app_context():
            barrier.wait()
            taken.append([claimed.job_id for claimed in claim_batch("webhooks", 15)])

    threads = [threading.Thread(target=consumer) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [job_id for batch in taken for job_id in batch]
    assert len(every) == len(set(every)) == 40
    assert {row["status"] for row in pipeline.events()} == {"processing"}


def test_one_doorbell_processes_a_batch_and_the_rest_cost_nothing(pipeline):
    integration = pipeline.create_integration()
    for number in range(60):
        pipeline.deliver(integration["path"], event(f"evt_many_{number}"), secret=integration["signing_secret"])
    pipeline.run_queues()
    assert len(pipeline.processed()) == 60
    assert len(pipeline.automated()) == 60
    assert {row["status"] for row in pipeline.events(limit="100")} == {"processed"}
    finished = pipeline.app.extensions["hub"].part(Queues).finished
    assert len(finished) == 120  # 60 event jobs and 60 automation jobs, answered from memory when their doorbells rang


def test_an_event_shows_its_jobs_attempts_whichever_way_the_job_was_claimed(pipeline):
    from hub.queue import outbox

    integration = pipeline.create_integration()
    for number in range(2):
        pipeline.deliver(integration["path"], event(f"evt_attempts_{number}"), secret=integration["signing_secret"])
    with pipeline.app.app_context():
        db.session.execute(sa.update(Job).values(attempts=1))  # the events still say 0: the claim must not count from there
        db.session.commit()
        first, second = db.session.execute(sa.select(Job.id).order_by(Job.run_at, Job.id)).scalars().all()
        alone = outbox.claim(first)
        [batched] = outbox.claim_batch("webhooks", 10)
        assert (alone.job_id, batched.job_id, alone.attempts, batched.attempts) == (first, second, 2, 2)
    assert sorted((row["status"], row["attempts"]) for row in pipeline.events()) == [("processing", 2), ("processing", 2)]


def test_a_job_of_a_kind_nothing_handles_is_dead_on_every_queue(pipeline):
    from hub.queue import outbox
    from hub.queue.queues import enqueue

    with pipeline.app.app_context():
        rows = [outbox.job_values(queue=queue, kind="mystery", tenant_id=pipeline.tenant.id) for queue in outbox.JOB_QUEUES]
        enqueue(outbox.add_jobs(rows))
        db.session.commit()
    pipeline.run_queues()
    jobs = pipeline.rows(Job)
    assert sorted(job.queue for job in jobs) == sorted(outbox.JOB_QUEUES)
    assert {(job.status, job.attempts, job.last_error) for job in jobs} == {("dead", 1, "LookupError: no handler for job kind mystery")}


def test_a_finished_batch_job_is_processed_and_a_lost_one_is_left_to_its_new_owner(pipeline):
    from hub.queue import outbox

    integration = pipeline.create_integration()
    for number in range(2):
        pipeline.deliver(integration["path"], event(f"evt_finish_{number}"), secret=integration["signing_secret"])
    with pipeline.app.app_context():
        kept, lost = outbox.claim_batch("webhooks", 10)
        db.session.execute(sa.update(Job).where(Job.id == lost.job_id).values(lease_owner="another-consumer"))
        db.session.commit()
        assert outbox.finish_many([kept, lost]) == [kept]
        db.session.commit()
        statuses = dict(db.session.execute(sa.select(Job.id, Job.status)).all())
    assert statuses == {kept.job_id: "done", lost.job_id: "processing"}
    assert sorted(row["status"] for row in pipeline.events()) == ["processed", "processing"]
