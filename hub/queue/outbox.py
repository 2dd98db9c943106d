"""The job outbox: the durable truth behind the Huey queues.

Huey does not acknowledge tasks: one a consumer pulled and then died on is
gone from the queue. So every piece of queued work is first a row here,
written in the same transaction as whatever produced it, and Huey carries
nothing but the row's id. A consumer *claims* the row under a lease before
working and *finishes* it only while it still owns that lease; the relay
(`relay_jobs`, periodic) re-enqueues rows whose enqueue was lost or whose
consumer died. Work may therefore run more than once, never zero times:
processors must be idempotent, and finishing is idempotent by the lease.

Statuses: pending → processing → done; processing → failed (retry later,
with exponential backoff and jitter) → processing ...; after the last
attempt, dead. A job of a disabled integration is paused instead of run
(see hub.queue.pausing). An event's status mirrors its event job, and this
module is the one that writes it (`_mirror_events`), from each transition
of the job: claimed (processing, with the job's attempts), finished
(processed), failed (failed, or dead), replayed (pending again).
"""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from hub.logs import describe_error
from hub.runtime import current_hub
from hub.storage.models import Integration, Job, WebhookEvent, db, new_id, utcnow

# The queues of jobs; the fourth Huey queue, `deliveries`, carries delivery rows (hub.queue.deliveries).
JOB_QUEUES = ("webhooks", "sync", "automation")
QUEUES = (*JOB_QUEUES, "deliveries")
# Core tables: the outbox is written with plain statements, not through the ORM's unit of work.
JOBS = Job.__table__
J = JOBS.c
EVENTS = WebhookEvent.__table__
E = EVENTS.c

# A job's statuses (see hub.storage.models.Job), and the sets every reader of the jobs table uses.
PENDING, PROCESSING, FAILED, DONE, DEAD, PAUSED = "pending", "processing", "failed", "done", "dead", "paused"
# Waiting for a consumer from `run_at` on.
DUE_STATUSES = (PENDING, FAILED)
# Carried by the queues: exactly the rows of the partial index ix_jobs_unfinished_run_at.
UNFINISHED_STATUSES = (PENDING, PROCESSING, FAILED)
# Not finished: the job will still run (a paused one once its integration is enabled).
LIVE_STATUSES = (*UNFINISHED_STATUSES, PAUSED)
# The one integration status whose jobs wait instead of running.
PAUSING_STATUS = "disabled"

# An event's statuses, as the API and the command line show them: its event job's, mirrored.
PROCESSED = "processed"  # the event status of a done event job
EVENT_STATUSES = (PENDING, PROCESSING, PROCESSED, FAILED, DEAD)
# Events a person may need to look at, retrying or dead: the partial index ix_webhook_events_attention.
EVENT_ATTENTION_STATUSES = (FAILED, DEAD)
# Events nothing runs again unless they are replayed: the partial index ix_webhook_events_finished.
EVENT_FINISHED_STATUSES = (PROCESSED, DEAD)
MAX_BACKOFF_SECONDS = 3600.0
RELAY_BATCH = 500


@dataclass(frozen=True)
class Claim:
    """A job this consumer holds; only the holder of `owner` may finish it."""

    job_id: str
    owner: str
    queue: str
    kind: str
    tenant_id: str | None
    event_id: str | None
    integration_id: str | None
    attempts: int
    max_attempts: int


@dataclass(frozen=True)
class Dispatch:
    """A job to put on its Huey queue once the transaction that wrote it has committed."""

    job_id: str
    queue: str
    delay_seconds: float = 0.0


def _settings() -> Mapping[str, Any]:
    return current_hub().settings


def job_values(
    *,
    queue: str,
    kind: str,
    tenant_id: str | None = None,
    event_id: str | None = None,
    integration_id: str | None = None,
    run_at: datetime | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The row of a new pending job, for the caller to insert in its own transaction.

    The job starts with a dispatch lease: the writer promises to enqueue it
    by then, and the relay takes over if it did not (a crash between commit
    and enqueue).
    """
    if queue not in JOB_QUEUES:
        raise ValueError(f"unknown job queue {queue}")
    now = now or utcnow()
    run_at = run_at or now
    return {
        "id": new_id(),
        "queue": queue,
        "kind": kind,
        "tenant_id": tenant_id,
        "event_id": event_id,
        "integration_id": integration_id,
        "status": PENDING,
        "attempts": 0,
        "max_attempts": int(_settings()["HUB_JOB_MAX_ATTEMPTS"]),
        "run_at": run_at,
        "lease_expires_at": run_at + timedelta(seconds=_settings()["HUB_JOB_REDISPATCH_SECONDS"]),
        "created_at": now,
        "updated_at": now,
    }


def add_jobs(rows: list[dict[str, Any]]) -> list[Dispatch]:
    """Insert job rows in the current transaction; returns what to enqueue after commit."""
    if not rows:
        return []
    db.session.execute(sa.insert(JOBS), rows)
    now = utcnow()
    return [Dispatch(row["id"], row["queue"], max(0.0, (row["run_at"] - now).total_seconds())) for row in rows]


def claim(job_id: str) -> Claim | None:
    """Take the job if it is due (or its consumer's lease ran out) and nobody holds it; None when there is nothing to do.

    A duplicate delivery of the same id (the relay re-enqueued it, Huey
    delivered it twice) finds the row claimed or done and does nothing.
    """
    now = utcnow()
    claims = _take(sa.and_(J.id == job_id, _claimable(now, take_over_lost=True)), now)
    return claims[0] if claims else None


def claim_batch(queue: str, limit: int) -> list[Claim]:
    """Take up to `limit` due jobs of `queue`, oldest first, under one lease owner.

    A consumer woken for one job takes a batch, so the database work (claim,
    load, finish) is paid once per batch instead of once per event. On
    PostgreSQL, SKIP LOCKED lets consumers claim side by side without
    waiting on each other's rows; SQLite serializes writers anyway. Jobs
    whose consumer died are not taken here: the relay hands them back first.
    """
    now = utcnow()
    claimable = sa.and_(J.queue == queue, _claimable(now, take_over_lost=False))
    pick = sa.select(J.id).where(claimable).order_by(J.run_at).limit(limit)
    if db.engine.dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    return _take(sa.and_(J.id.in_(pick), claimable), now)


def _claimable(now: datetime, *, take_over_lost: bool) -> Any:
    """Due jobs with an attempt left; with `take_over_lost`, also a processing job whose lease ran out."""
    due = sa.and_(J.status.in_(DUE_STATUSES), J.run_at <= now)
    if take_over_lost:
        due = sa.or_(due, sa.and_(J.status == PROCESSING, J.lease_expires_at < now))
    return sa.and_(J.attempts < J.max_attempts, due)


def _take(claimable: Any, now: datetime) -> list[Claim]:
    """The one way jobs are claimed, alone or in a batch; commits.

    The rows `claimable` selects are leased to a new owner with one more
    attempt counted; those of a disabled integration are parked; the events
    of the others show their job's status and attempts.
    """
    owner = secrets.token_hex(16)
    lease = timedelta(seconds=_settings()["HUB_JOB_LEASE_SECONDS"])
    rows = db.session.execute(
        sa.update(JOBS)
        .where(claimable)
        .values(status=PROCESSING, attempts=J.attempts + 1, lease_owner=owner, lease_expires_at=now + lease, updated_at=now)
        .returning(J.id, J.queue, J.kind, J.tenant_id, J.event_id, J.integration_id, J.attempts, J.max_attempts)
    ).all()
    if not rows:
        db.session.rollback()
        return []
    parked = _park_paused(rows, owner, now)
    rows = [row for row in rows if row.id not in parked]
    attempts_of_events: dict[int, list[str]] = {}
    for row in rows:
        if row.kind == "event" and row.event_id:
            attempts_of_events.setdefault(row.attempts, []).append(row.event_id)
    for attempts, event_ids in attempts_of_events.items():
        _mirror_events(event_ids, PROCESSING, attempts=attempts)
    db.session.commit()
    return [
        Claim(row.id, owner, row.queue, row.kind, row.tenant_id, row.event_id, row.integration_id, row.attempts, row.max_attempts)
        for row in rows
    ]


def _park_paused(rows: list[Any], owner: str, now: datetime) -> set[str]:
    """In the claim's transaction: park the just-claimed jobs whose integration is disabled; returns their ids.

    The attempt the claim counted is given back and the event is left as it
    was (`pending`, or `failed` awaiting its retry): a paused job has not run.
    """
    integration_ids = {row.integration_id for row in rows if row.integration_id}
    if not integration_ids:
        return set()
    disabled = set(
        db.session.execute(
            sa.select(Integration.id).where(Integration.id.in_(integration_ids), Integration.status == PAUSING_STATUS)
        ).scalars()
    )
    parked = {row.id for row in rows if row.integration_id in disabled}
    if parked:
        db.session.execute(
            sa.update(JOBS)
            .where(J.id.in_(parked), J.lease_owner == owner)
            .values(status=PAUSED, attempts=J.attempts - 1, lease_owner=None, lease_expires_at=None, updated_at=now)
        )
    return parked


def unpark_jobs(integration_id: str) -> list[Dispatch]:
    """In the caller's transaction: the integration's paused jobs become due again; returns what to enqueue after commit."""
    now = utcnow()
    redispatch = now + timedelta(seconds=_settings()["HUB_JOB_REDISPATCH_SECONDS"])
    rows = db.session.execute(
        sa.update(JOBS)
        .where(J.integration_id == integration_id, J.status == PAUSED)
        .values(status=PENDING, run_at=now, lease_expires_at=redispatch, updated_at=now)
        .returning(J.id, J.queue)
    ).all()
    return [Dispatch(row.id, row.queue) for row in rows]


def _unpark_resumed(now: datetime, redispatch: datetime, limit: int) -> list[Dispatch]:
    """Paused jobs whose integration is no longer disabled (an un-park missed by a racing claim) become due again."""
    resumed = sa.and_(
        J.status == PAUSED,
        ~sa.select(Integration.id).where(Integration.id == J.integration_id, Integration.status == PAUSING_STATUS).exists(),
    )
    rows = db.session.execute(
        sa.update(JOBS)
        .where(J.status == PAUSED, J.id.in_(sa.select(J.id).where(resumed).limit(limit)))
        .values(status=PENDING, run_at=now, lease_expires_at=redispatch, updated_at=now)
        .returning(J.id, J.queue)
    ).all()
    return [Dispatch(row.id, row.queue) for row in rows]


def _mirror_events(event_ids: list[str], status: str, **values: Any) -> None:
    """Write the events' status (and `values`) from a transition of their job: the one writer of an event's status."""
    if event_ids:
        db.session.execute(sa.update(EVENTS).where(E.id.in_(event_ids)).values(status=status, **values))


def _owned(claimed: Claim) -> Any:
    return sa.and_(J.id == claimed.job_id, J.lease_owner == claimed.owner, J.status == PROCESSING)


def _finish(claims: list[Claim]) -> list[Claim]:
    """The one way a job is finished: done while its owner still holds it, its event processed; in the caller's transaction.

    Returns the claims this consumer still owned; a job another consumer
    took over in the meantime is left to it.
    """
    if not claims:
        return []
    now = utcnow()
    done: set[str] = set()
    for owner in {c.owner for c in claims}:
        done.update(
            db.session.execute(
                sa.update(JOBS)
                .where(J.id.in_([c.job_id for c in claims if c.owner == owner]), J.lease_owner == owner, J.status == PROCESSING)
                .values(status=DONE, lease_expires_at=None, last_error=None, updated_at=now)
                .returning(J.id)
            ).scalars()
        )
    finished = [c for c in claims if c.job_id in done]
    _mirror_events([c.event_id for c in finished if c.kind == "event" and c.event_id], PROCESSED, processed_at=now, last_error=None)
    return finished


def finish_many(claims: list[Claim]) -> list[Claim]:
    """Mark a batch's successful jobs done in the current transaction (the caller commits); returns those still owned."""
    return _finish(claims)


def finish(claimed: Claim, staged: list[Dispatch] | None = None) -> list[Dispatch] | None:
    """Mark the job done, committing with it whatever the handler staged in the session.

    Returns the staged jobs to enqueue, or None when the lease was lost
    (another consumer took the job over): then nothing of this run is kept.
    """
    if not _finish([claimed]):
        db.session.rollback()
        return None
    db.session.commit()
    return list(staged or [])


def backoff_seconds(attempt: int) -> float:
    """Exponential backoff with equal jitter: half the delay fixed, half random.

    Jitter spreads the retries of events that failed together (a provider
    outage) so they do not all come back at the same second.
    """
    base = float(_settings()["HUB_JOB_BACKOFF_SECONDS"])
    delay = min(MAX_BACKOFF_SECONDS, base * (2 ** max(0, attempt - 1)))
    return delay / 2 + random.uniform(0, delay / 2)


def fail(
    claimed: Claim, error: BaseException, *, retryable: bool = True, on_dead: Callable[[], object] | None = None
) -> Dispatch | None:
    """Record a failed attempt: retry later, or dead after the last attempt.

    Returns the retry to enqueue (with its delay), or None when the job is
    dead or the lease was lost. `on_dead` runs in the transaction that makes
    the job dead, so what it writes (the announcement of a dead event) is
    committed with the death or not at all.
    """
    now = utcnow()
    message = describe_error(error)
    if retryable and claimed.attempts < claimed.max_attempts:
        run_at = now + timedelta(seconds=backoff_seconds(claimed.attempts))
        redispatch = run_at + timedelta(seconds=_settings()["HUB_JOB_REDISPATCH_SECONDS"])
        values: dict[str, Any] = {"status": FAILED, "run_at": run_at, "lease_expires_at": redispatch}
    else:
        run_at = None
        values = {"status": DEAD, "lease_expires_at": None}
    changed = db.session.execute(
        sa.update(JOBS).where(_owned(claimed)).values(lease_owner=None, last_error=message, updated_at=now, **values)
    ).rowcount
    if changed != 1:
        db.session.rollback()
        return None
    # An event job's failure is its event's; any job of the event that dies (its automation) makes the event dead.
    if claimed.event_id and (claimed.kind == "event" or values["status"] == DEAD):
        _mirror_events([claimed.event_id], values["status"], last_error=message)
    if values["status"] == DEAD and on_dead is not None:
        on_dead()
    db.session.commit()
    if run_at is None:
        return None
    return Dispatch(claimed.job_id, claimed.queue, (run_at - now).total_seconds())


@contextmanager
def lease_kept(owner: str) -> Iterator[None]:
    """Extend the lease of every job held by `owner` while the block runs, so a long job is not taken over.

    The heartbeat writes on a connection of its own; it stops with the block.
    """
    lease_seconds = float(_settings()["HUB_JOB_LEASE_SECONDS"])
    engine = db.engine
    stopped = threading.Event()

    def beat() -> None:
        while not stopped.wait(lease_seconds / 3):
            try:
                with engine.begin() as connection:
                    connection.execute(
                        sa.update(JOBS)
                        .where(J.lease_owner == owner, J.status == PROCESSING)
                        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
                    )
            except Exception:  # a missed beat only shortens the lease; the next one may succeed
                continue

    thread = threading.Thread(target=beat, name=f"lease-{owner[:8]}", daemon=True)
    thread.start()
    try:
        yield
    finally:
        stopped.set()
        thread.join()


def relay_jobs(limit: int = RELAY_BATCH, on_dead: Callable[[list[tuple[str, str]]], list[Dispatch]] | None = None) -> list[Dispatch]:
    """Find jobs whose enqueue was lost or whose consumer died; returns them to enqueue.

    A job that died on its last attempt becomes dead; `on_dead` gets the
    (event id, job id) of each such job that had an event, in the same
    transaction, and returns what it staged to enqueue. Each update repeats
    its condition, so a consumer claiming the same row at the same moment
    wins or loses cleanly. Paused jobs of an integration that is no longer
    disabled are handed out again too.
    """
    now = utcnow()
    redispatch = now + timedelta(seconds=_settings()["HUB_JOB_REDISPATCH_SECONDS"])
    lost_dispatch = sa.and_(
        J.status.in_(DUE_STATUSES),
        J.run_at <= now,
        sa.or_(J.lease_expires_at.is_(None), J.lease_expires_at < now),
    )
    lost_consumer = sa.and_(J.status == PROCESSING, J.lease_expires_at < now)
    exhausted = sa.and_(lost_consumer, J.attempts >= J.max_attempts)
    lost = "the consumer was lost on the last attempt"
    dead = db.session.execute(
        sa.update(JOBS)
        .where(exhausted, J.id.in_(sa.select(J.id).where(exhausted).limit(limit)))
        .values(status=DEAD, lease_owner=None, lease_expires_at=None, last_error=lost, updated_at=now)
        .returning(J.event_id, J.id)
    ).all()
    dead_events = [(row.event_id, row.id) for row in dead if row.event_id]
    _mirror_events([event_id for event_id, _ in dead_events], DEAD, last_error=lost)
    announced = on_dead(dead_events) if on_dead is not None and dead_events else []
    revived = sa.or_(lost_dispatch, sa.and_(lost_consumer, J.attempts < J.max_attempts))
    rows = db.session.execute(
        sa.update(JOBS)
        .where(revived, J.id.in_(sa.select(J.id).where(revived).order_by(J.run_at).limit(limit)))
        .values(status=sa.case((J.status == PROCESSING, PENDING), else_=J.status), lease_owner=None, lease_expires_at=redispatch, updated_at=now)
        .returning(J.id, J.queue)
    ).all()
    resumed = _unpark_resumed(now, redispatch, limit)
    db.session.commit()
    return [Dispatch(row.id, row.queue) for row in rows] + resumed + announced


def mark_enqueue_lost(job_ids: list[str]) -> None:
    """After a failed enqueue, let the relay take the jobs at its next run instead of after the dispatch lease."""
    if not job_ids:
        return
    with db.engine.begin() as connection:
        connection.execute(
            sa.update(JOBS).where(J.id.in_(job_ids), J.status.in_(DUE_STATUSES)).values(lease_expires_at=None)
        )


def requeue_event(*, tenant_id: str, event_id: str, integration_id: str) -> tuple[str, list[Dispatch]]:
    """In the caller's transaction: a new job for the event, and the event pending again with no attempt spent (a replay).

    Returns the job id and what to enqueue after the commit.
    """
    values = job_values(queue="webhooks", kind="event", tenant_id=tenant_id, event_id=event_id, integration_id=integration_id)
    dispatches = add_jobs([values])
    _mirror_events([event_id], PENDING, attempts=0, last_error=None, processed_at=None)
    return values["id"], dispatches


def live_job(*, kind: str, event_id: str | None = None, integration_id: str | None = None) -> Job | None:
    """A job of this kind for the event or integration that has not finished yet."""
    query = sa.select(Job).where(J.kind == kind, J.status.in_(LIVE_STATUSES))
    if event_id is not None:
        query = query.where(J.event_id == event_id)
    if integration_id is not None:
        query = query.where(J.integration_id == integration_id)
    return db.session.execute(query.limit(1)).scalars().first()


def prune_finished_jobs(older_than: timedelta) -> int:
    """Delete done jobs past the retention period (dead ones stay: they are the dead-letter list)."""
    cutoff = utcnow() - older_than
    deleted = db.session.execute(sa.delete(JOBS).where(J.status == DONE, J.updated_at < cutoff)).rowcount
    db.session.commit()
    return deleted or 0
