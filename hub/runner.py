"""Running one job: claim it, run its handler under a kept lease, finish or fail it.

A handler receives the claim, does its work (provider calls and processors
run with no database transaction open), stages its writes in the session
(follow-up jobs included, through `jobs.add_jobs`) and returns the
dispatches of the jobs it staged. `jobs.finish` commits all of that
together with the job's completion, and only if this consumer still holds
the lease; an exception becomes a retry, or a dead job when the error says
retrying cannot help (`retryable = False`) or attempts are exhausted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from hub import jobs
from hub.logs import bind, unbind
from hub.metrics import JOBS
from hub.models import db
from hub.queues import enqueue

log = logging.getLogger(__name__)

Handler = Callable[[jobs.Claim], list[jobs.Dispatch]]


def _handlers() -> dict[str, Handler]:
    from hub.processing import run_automation, run_event_processors
    from hub.syncing import run_sync

    return {"event": run_event_processors, "automation": run_automation, "sync": run_sync}


def run_job(job_id: str) -> str:
    """Run the job if it is due and free; returns the outcome (for metrics and tests)."""
    claimed = jobs.claim(job_id)
    if claimed is None:
        return "skipped"
    context = bind(job_id=job_id, tenant_id=claimed.tenant_id, integration_id=claimed.integration_id, event_id=claimed.event_id)
    try:
        outcome = _run_claimed(claimed)
    finally:
        unbind(context)
    JOBS.labels(queue=claimed.queue, outcome=outcome).inc()
    return outcome


def _run_claimed(claimed: jobs.Claim) -> str:
    handler = _handlers().get(claimed.kind)
    try:
        if handler is None:
            raise LookupError(f"no handler for job kind {claimed.kind}")
        with jobs.lease_kept(claimed):
            staged = handler(claimed)
            dispatches = jobs.finish(claimed, staged)
    except Exception as error:
        db.session.rollback()
        retryable = getattr(error, "retryable", True) and not isinstance(error, LookupError)
        log.warning(
            "job %s (%s) attempt %d/%d failed: %s",
            claimed.job_id, claimed.kind, claimed.attempts, claimed.max_attempts, jobs.describe_error(error),
        )
        retry = jobs.fail(claimed, error, retryable=retryable)
        if retry is None:
            return "dead" if not retryable or claimed.attempts >= claimed.max_attempts else "lost"
        enqueue([retry])
        return "retry"
    if dispatches is None:
        log.info("job %s was taken over by another consumer; its result is dropped", claimed.job_id)
        return "lost"
    enqueue(dispatches)
    return "done"
