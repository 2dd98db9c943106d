"""Running jobs: claim, run under a kept lease, finish or fail.

The webhooks and automation queues run in batches: a consumer woken by one
job's doorbell claims up to `BATCH_SIZE` due jobs of that queue, loads their
events in one query, runs the plugins for each, and finishes the successes
in one transaction (the failures each get their retry or their death). The
doorbells of jobs that batch already finished are then answered from a
small per-process memory of finished ids, without a database round trip.
That memory is only a shortcut: a doorbell it does not know simply tries to
claim, and the database decides.

The sync queue runs one job at a time (`run_sync_job`): a sync page is a
provider call, not worth batching. Its handler stages its writes (records,
cursor, follow-up jobs) and `outbox.finish` commits them with the job's
completion, only if this consumer still holds the lease.

An exception becomes a retry, or a dead job when the error says retrying
cannot help (`retryable = False`) or attempts are exhausted.
"""

from __future__ import annotations

import contextvars
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from hub.logs import bind, describe_error, unbind
from hub.metrics import JOBS
from hub.provider.sync import run_sync
from hub.queue import outbox
from hub.queue.deliveries import DELIVERY_QUEUE
from hub.queue.queues import current_queues, enqueue
from hub.queue.recent import RecentIds
from hub.storage.models import db
from hub.worker.delivering import deliver
from hub.worker.processing import (
    automate, automation_jobs, dead_event_deliveries, event_deliveries, load_cloud_events, process_event,
)

log = logging.getLogger(__name__)

BATCH_SIZE = 50
BATCHED_QUEUES = ("webhooks", "automation")
# What each kind of job runs. The batched kinds get their stored event as a CloudEvent;
# the others run one at a time and return the jobs they staged, committed with their finish.
BATCHED_KINDS: Mapping[str, Callable[[dict[str, Any]], None]] = {"event": process_event, "automation": automate}
ALONE_KINDS: Mapping[str, Callable[[outbox.Claim], list[outbox.Dispatch]]] = {"sync": run_sync}
Handler = TypeVar("Handler")


def _finished() -> RecentIds:
    return current_queues().finished


def run_job(job_id: str, queue: str) -> str:
    """Answer one doorbell; returns the outcome (for metrics and tests)."""
    if queue in BATCHED_QUEUES:
        return run_batch(job_id, queue)
    if queue == DELIVERY_QUEUE:
        return deliver(job_id)
    return run_sync_job(job_id)


def _handler(kinds: Mapping[str, Handler], claimed: outbox.Claim) -> Handler:
    """The handler of the job's kind; a kind nothing handles is a job that can never succeed (dead, not retried)."""
    handler = kinds.get(claimed.kind)
    if handler is None:
        raise LookupError(f"no handler for job kind {claimed.kind}")
    return handler


def _run_batched(claimed: outbox.Claim, event: dict[str, Any] | None) -> None:
    handler = _handler(BATCHED_KINDS, claimed)
    if event is None:
        raise LookupError(f"event {claimed.event_id} no longer exists")
    handler(event)


def _retryable(error: BaseException) -> bool:
    return bool(getattr(error, "retryable", True)) and not isinstance(error, LookupError)


def _context(claimed: outbox.Claim) -> contextvars.Token:
    return bind(job_id=claimed.job_id, tenant_id=claimed.tenant_id, integration_id=claimed.integration_id, event_id=claimed.event_id)


def _record_failure(claimed: outbox.Claim, error: BaseException) -> str:
    retryable = _retryable(error)
    context = _context(claimed)
    try:
        log.warning(
            "job %s (%s) attempt %d/%d failed: %s",
            claimed.job_id, claimed.kind, claimed.attempts, claimed.max_attempts, describe_error(error),
        )
        announced: list[outbox.Dispatch] = []

        def announce_dead() -> None:
            if claimed.event_id:
                announced.extend(dead_event_deliveries([(claimed.event_id, claimed.job_id)]))

        retry = outbox.fail(claimed, error, retryable=retryable, on_dead=announce_dead)
    finally:
        unbind(context)
    enqueue(announced)
    if retry is not None:
        enqueue([retry])
        return "retry"
    return "dead" if not retryable or claimed.attempts >= claimed.max_attempts else "lost"


def run_batch(job_id: str, queue: str) -> str:
    if job_id in _finished():
        return "skipped"
    claims = outbox.claim_batch(queue, BATCH_SIZE)
    if not claims:
        return "skipped"
    failures: list[tuple[outbox.Claim, BaseException]] = []
    with outbox.lease_kept(claims[0].owner):
        events = load_cloud_events(c.event_id for c in claims if c.event_id)
        succeeded = []
        for claimed in claims:
            context = _context(claimed)
            try:
                _run_batched(claimed, events.get(claimed.event_id or ""))
                succeeded.append(claimed)
            except Exception as error:
                failures.append((claimed, error))
            finally:
                unbind(context)
        try:
            finished = outbox.finish_many(succeeded)
            dispatches = automation_jobs(finished) + event_deliveries(finished, events)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise  # the leases run out and the relay hands the batch out again
    enqueue(dispatches)
    _finished().add([c.job_id for c in finished])
    if len(finished) < len(succeeded):
        log.info("%d jobs were taken over by another consumer; their results are dropped", len(succeeded) - len(finished))
    JOBS.labels(queue=queue, outcome="done").inc(len(finished))
    for claimed, error in failures:
        db.session.rollback()
        JOBS.labels(queue=queue, outcome=_record_failure(claimed, error)).inc()
    return "done" if any(c.job_id == job_id for c in finished) else "batch"


def run_sync_job(job_id: str) -> str:
    claimed = outbox.claim(job_id)
    if claimed is None:
        return "skipped"
    context = _context(claimed)
    try:
        try:
            with outbox.lease_kept(claimed.owner):
                staged = _handler(ALONE_KINDS, claimed)(claimed)
                dispatches = outbox.finish(claimed, staged)
        except Exception as error:
            db.session.rollback()
            outcome = _record_failure(claimed, error)
        else:
            if dispatches is None:
                log.info("job %s was taken over by another consumer; its result is dropped", claimed.job_id)
                outcome = "lost"
            else:
                enqueue(dispatches)
                outcome = "done"
    finally:
        unbind(context)
    JOBS.labels(queue=claimed.queue, outcome=outcome).inc()
    return outcome
