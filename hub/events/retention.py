"""Event retention: finished events past their window are deleted, with their jobs.

Payloads carry customers' data (emails, message text), so events are not
kept forever. A processed event is kept `HUB_EVENT_RETENTION_DAYS` (default
30) after it was received: longer than any provider retries a delivery, so
a late retry still meets its stored twin and is answered as a duplicate. A
dead event is kept `HUB_DEAD_EVENT_RETENTION_DAYS` (default 90, never less
than the first window) so operators have time to look at it and replay it.
Pending, processing and failed events are never pruned, nor is an event
that still has a job on its way (an automation, a replay).

The prune runs periodically in small batches, one short transaction each,
so it never holds the database (SQLite's one write lock above all) long
enough to keep a webhook waiting. It reads the oldest finished events of one
status through `ix_webhook_events_finished`; each delete repeats its
conditions, so an event replayed between the read and the delete stays.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hub.metrics import EVENTS_PRUNED
from hub.queue.outbox import EVENT_FINISHED_STATUSES, EVENTS, JOBS, LIVE_STATUSES
from hub.runtime import current_hub
from hub.storage.models import db, utcnow

log = logging.getLogger(__name__)

E, J = EVENTS.c, JOBS.c
BATCH_SIZE = 500
# A run stops after this many batches per status and goes on next period, so one run never holds a consumer long.
MAX_BATCHES_PER_RUN = 200
# The partial index's own predicate, written as its constants so both databases can prove the index applies.
FINISHED = E.status.in_([sa.literal_column(f"'{status}'") for status in EVENT_FINISHED_STATUSES])


@dataclass
class PruneReport:
    processed: int = 0
    dead: int = 0
    jobs: int = 0
    batches: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"processed": self.processed, "dead": self.dead, "jobs": self.jobs, "batches": self.batches}


def retention_cutoffs(now: datetime | None = None) -> dict[str, datetime]:
    """The received-at moment before which a finished event of each status is pruned."""
    settings = current_hub().settings
    now = now or utcnow()
    processed_days = int(settings["HUB_EVENT_RETENTION_DAYS"])
    dead_days = max(int(settings["HUB_DEAD_EVENT_RETENTION_DAYS"]), processed_days)
    return {"processed": now - timedelta(days=processed_days), "dead": now - timedelta(days=dead_days)}


def _prunable(status: str, cutoff: datetime) -> Any:
    no_live_job = ~sa.exists().where(J.event_id == E.id, J.status.in_(LIVE_STATUSES))
    return sa.and_(FINISHED, E.status == sa.literal_column(f"'{status}'"), E.received_at < cutoff, no_live_job)


def oldest_prunable(status: str, cutoff: datetime, limit: int) -> sa.Select:
    """The ids of the oldest events of `status` received before `cutoff` that nothing still works on."""
    return sa.select(E.id).where(_prunable(status, cutoff)).order_by(E.received_at).limit(limit)


def prune_batch(status: str, cutoff: datetime, limit: int = BATCH_SIZE) -> tuple[int, int]:
    """Delete up to `limit` prunable events of `status` and their jobs in one transaction; (events, jobs) deleted."""
    ids = list(db.session.execute(oldest_prunable(status, cutoff, limit)).scalars())
    if not ids:
        db.session.commit()
        return 0, 0
    deleted = list(
        db.session.execute(sa.delete(EVENTS).where(E.id.in_(ids), _prunable(status, cutoff)).returning(E.id)).scalars()
    )
    jobs = db.session.execute(sa.delete(JOBS).where(J.event_id.in_(deleted))).rowcount if deleted else 0
    db.session.commit()
    return len(deleted), jobs or 0


def prune_events(
    *, now: datetime | None = None, batch_size: int = BATCH_SIZE, max_batches: int = MAX_BATCHES_PER_RUN
) -> dict[str, int]:
    """Delete finished events past their retention window, oldest first, one small transaction per batch."""
    report = PruneReport()
    for status, cutoff in retention_cutoffs(now).items():
        for _batch in range(max_batches):
            events, jobs = prune_batch(status, cutoff, batch_size)
            report.batches += 1
            report.jobs += jobs
            setattr(report, status, getattr(report, status) + events)
            if events:
                EVENTS_PRUNED.labels(status=status).inc(events)
            if events < batch_size:
                break
    if report.processed or report.dead:
        log.info("pruned %d processed and %d dead events past their retention", report.processed, report.dead)
    return report.as_dict()
