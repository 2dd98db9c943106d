"""The delivery outbox: each event on its way to each destination, as a row the `deliveries` queue carries by id.

Delivery rows are written by the worker (the fan-out of a processed event
or a dead one) or by the call that changed an integration (lifecycle
events), in the transaction of what they announce, never by ingestion.
Huey then carries only the row's id, as it does for jobs, and the row is
the truth: a consumer *claims* it under a lease before the attempt and
records the outcome only while it still holds that lease; the relay
(`relay_deliveries`, periodic) re-enqueues rows whose enqueue was lost or
whose consumer died. A delivery may therefore be sent more than once, never
zero times, always with the same `webhook-id` (the row's id).

Per destination, a claim also applies the circuit breaker (after
`CIRCUIT_THRESHOLD` failures in a row, attempts wait until the circuit's
cool-down is over) and the limit of attempts in flight at once
(`HUB_DELIVERY_CONCURRENCY_PER_DESTINATION`); a delivery held back by either
is put back for later without spending an attempt, so a dead or slow
receiver cannot occupy every consumer.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hub.delivery.filters import matches
from hub.delivery.retry_schedule import attempts_allowed, retry_delay
from hub.delivery.transport import RESPONSE_BODY_LIMIT
from hub.errors import Conflict, NotFound
from hub.metrics import DESTINATIONS_DISABLED
from hub.queue.outbox import Dispatch
from hub.runtime import current_hub
from hub.storage.models import Delivery, Destination, Integration, db, isoformat, new_id, utcnow
from hub.storage.pagination import DEFAULT_PAGE_LIMIT, page
from hub.tenancy.destinations import DISABLED, ENABLED, secrets_in_force

DELIVERY_QUEUE = "deliveries"
PENDING, SUCCEEDED, FAILED = "pending", "succeeded", "failed"
STATUSES = (PENDING, SUCCEEDED, FAILED)
DELIVERIES = Delivery.__table__
D = DELIVERIES.c

PING = "hub.ping"
EVENT_DEAD = "hub.event.dead"
LIFECYCLE_TYPES = ("hub.integration.connected", "hub.integration.needs_reauth", "hub.integration.revoked", "hub.integration.deleted")
# The circuit opens after this many failed attempts in a row, for a cool-down that doubles each further failure.
CIRCUIT_THRESHOLD = 5
CIRCUIT_BASE_SECONDS = 30.0
CIRCUIT_MAX_SECONDS = 1800.0
# Deliveries to one destination a consumer takes at once, and the time each beyond the first may take in its lease.
BATCH_SIZE = 20
FAST_ATTEMPT_SECONDS = 1.0
# How long a delivery held back by its destination's concurrency limit waits before it asks again.
HELD_BACK_SECONDS = 1.0
RELAY_BATCH = 500


@dataclass(frozen=True)
class DeliveryClaim:
    """An attempt this consumer holds: what to send where, signed with which secrets; only `owner` may record its outcome."""

    delivery_id: str
    owner: str
    tenant_id: str
    destination_id: str
    url: str
    signing_secrets: tuple[str, ...]
    body: str
    attempts: int
    max_attempts: int
    failing: bool = False  # the destination's last attempt failed: a success ends its run of failures

    def __repr__(self) -> str:  # never the secrets
        return f"DeliveryClaim(delivery_id={self.delivery_id!r}, destination_id={self.destination_id!r}, attempts={self.attempts})"


def _settings() -> Mapping[str, Any]:
    return current_hub().settings


def attempt_seconds() -> float:
    """The longest one attempt may take: connect and answer within the timeout, twice over, and a margin."""
    return 2 * float(_settings()["HUB_DELIVERY_TIMEOUT_SECONDS"]) + 5.0


def lease_seconds(batch: int = 1) -> float:
    """How long a consumer holds a batch before the relay assumes it died: one full attempt, and a second for each other one.

    The consumer starts an attempt only while a full attempt still fits in
    the lease (hub.worker.delivering), so a slow receiver ends its batch early
    instead of outliving the lease.
    """
    return attempt_seconds() + (batch - 1) * FAST_ATTEMPT_SECONDS


def _redispatch(at: datetime) -> datetime:
    return at + timedelta(seconds=float(_settings()["HUB_JOB_REDISPATCH_SECONDS"]))


def delivery_body(event_type: str, timestamp: str | None, data: Any) -> str:
    """The JSON body of a delivery, as sent on every attempt (and signed as its exact UTF-8 bytes)."""
    return json.dumps({"type": event_type, "timestamp": timestamp, "data": data}, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class Announcement:
    """Something the tenant's destinations may receive: its type, what the filters look at, and the body's data."""

    tenant_id: str
    type: str
    data: Any
    timestamp: str | None
    connector: str | None = None
    integration_id: str | None = None
    event_id: str | None = None
    source_key: str | None = None  # unique per destination; a fresh id when None
    source_job_id: str | None = None


def _enabled_destinations(tenant_ids: Iterable[str]) -> dict[str, list[Any]]:
    wanted = sorted(set(tenant_ids))
    if not wanted:
        return {}
    rows = db.session.execute(
        sa.select(Destination.id, Destination.tenant_id, Destination.filter).where(
            Destination.tenant_id.in_(wanted), Destination.status == ENABLED
        )
    ).all()
    by_tenant: dict[str, list[Any]] = {}
    for row in rows:
        by_tenant.setdefault(row.tenant_id, []).append(row)
    return by_tenant


def fan_out(announcements: Iterable[Announcement]) -> list[Dispatch]:
    """In the caller's transaction: one delivery per announcement and matching enabled destination; returns what to enqueue after commit.

    A delivery that already exists for the same destination and source is
    left alone when the same job fans it out again (a job that ran twice),
    and sent again with the same id when another job does (an event replay).
    """
    announcements = list(announcements)
    destinations = _enabled_destinations(a.tenant_id for a in announcements)
    if not destinations:
        return []
    now = utcnow()
    max_attempts = attempts_allowed(_settings()["HUB_DELIVERY_SCHEDULE"])
    rows = []
    for announcement in announcements:
        body = None
        for destination in destinations.get(announcement.tenant_id, ()):
            if announcement.type != PING and not matches(
                destination.filter, event_type=announcement.type,
                connector=announcement.connector, integration_id=announcement.integration_id,
            ):
                continue
            body = body or delivery_body(announcement.type, announcement.timestamp, announcement.data)
            rows.append({
                "id": new_id(), "tenant_id": announcement.tenant_id, "destination_id": destination.id,
                "event_id": announcement.event_id, "type": announcement.type,
                "source_key": announcement.source_key or new_id(), "source_job_id": announcement.source_job_id,
                "body": body, "status": PENDING, "attempts": 0, "max_attempts": max_attempts,
                "next_attempt_at": now, "lease_owner": None, "lease_expires_at": _redispatch(now),
                "created_at": now, "updated_at": now,
            })
    if not rows:
        return []
    inserted = _upsert(rows)
    return [Dispatch(delivery_id, DELIVERY_QUEUE) for delivery_id in inserted]


def _upsert(rows: list[dict[str, Any]]) -> list[str]:
    insert = (postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert)(DELIVERIES)
    excluded = insert.excluded
    statement = insert.on_conflict_do_update(
        index_elements=[D.destination_id, D.source_key],
        set_={
            "status": PENDING, "attempts": 0, "max_attempts": excluded.max_attempts,
            "next_attempt_at": excluded.next_attempt_at, "lease_owner": None, "lease_expires_at": excluded.lease_expires_at,
            "source_job_id": excluded.source_job_id, "body": excluded.body, "updated_at": excluded.updated_at,
        },
        where=D.source_job_id.is_distinct_from(excluded.source_job_id),
    ).returning(D.id)
    ids: list[str] = []
    for start in range(0, len(rows), 200):
        ids.extend(db.session.execute(statement.values(rows[start:start + 200])).scalars())
    return ids


def event_announcements(events: Iterable[tuple[dict[str, Any], str | None]], *, dead: bool = False) -> list[Announcement]:
    """Announcements of stored events (CloudEvents, each with the job that fanned it out): their own type, or `hub.event.dead`."""
    return [
        Announcement(
            tenant_id=event["tenantid"], type=EVENT_DEAD if dead else event["type"], data=event, timestamp=event.get("time"),
            connector=event.get("connector"), integration_id=event.get("integrationid"), event_id=event["id"],
            source_key=f"dead:{event['id']}" if dead else event["id"], source_job_id=job_id,
        )
        for event, job_id in events
    ]


# What a lifecycle event says of its integration (and what a caller selecting rows, not objects, reads).
INTEGRATION_VIEW_COLUMNS = (
    Integration.id, Integration.tenant_id, Integration.connector, Integration.name, Integration.status,
    Integration.external_account_id, Integration.end_user_id, Integration.created_at, Integration.updated_at,
)


def integration_view(integration: Any) -> dict[str, Any]:
    """The data of a lifecycle event: the integration as the API shows it, without its webhook URL (which holds a secret)."""
    return {
        "id": integration.id,
        "connector": integration.connector,
        "name": integration.name,
        "status": integration.status,
        "external_account_id": integration.external_account_id,
        "end_user_id": integration.end_user_id,
        "created_at": isoformat(integration.created_at),
        "updated_at": isoformat(integration.updated_at),
    }


def announce_integration(event_type: str, integration: Any) -> list[Dispatch]:
    """In the caller's transaction: a lifecycle event of the integration to every destination that wants it."""
    if event_type not in LIFECYCLE_TYPES:
        raise ValueError(f"unknown lifecycle event {event_type}")
    return fan_out([Announcement(
        tenant_id=integration.tenant_id, type=event_type, data=integration_view(integration),
        timestamp=isoformat(utcnow()), connector=integration.connector, integration_id=integration.id,
    )])


def announce_integration_change(event_type: str, tenant_id: str, integration_id: str) -> list[Dispatch]:
    """After the change has committed: announce it in a transaction of its own, committed; returns what to enqueue.

    For the callers whose change commits inside a service they do not
    control; where the caller holds the transaction, `announce_integration`
    writes the announcement with the change itself.
    """
    integration = db.session.execute(
        sa.select(Integration).where(Integration.id == integration_id, Integration.tenant_id == tenant_id)
    ).scalar_one_or_none()
    if integration is None:
        return []
    dispatches = announce_integration(event_type, integration)
    db.session.commit()
    return dispatches


def ping(tenant_id: str, destination_id: str) -> Dispatch:
    """A `hub.ping` delivery to one destination, committed; returns it to enqueue (its id is the delivery's)."""
    destination = db.session.execute(
        sa.select(Destination).where(Destination.id == destination_id, Destination.tenant_id == tenant_id)
    ).scalar_one_or_none()
    if destination is None:
        raise NotFound("No such destination")
    if destination.status != ENABLED:
        raise Conflict("The destination is disabled; enable it before sending a test delivery.")
    now = utcnow()
    delivery = Delivery(
        id=new_id(), tenant_id=tenant_id, destination_id=destination.id, type=PING, source_key=new_id(),
        body=delivery_body(PING, isoformat(now), {"destination_id": destination.id}),
        status=PENDING, attempts=0, max_attempts=attempts_allowed(_settings()["HUB_DELIVERY_SCHEDULE"]),
        next_attempt_at=now, lease_expires_at=_redispatch(now), created_at=now, updated_at=now,
    )
    db.session.add(delivery)
    db.session.commit()
    return Dispatch(delivery.id, DELIVERY_QUEUE)


@contextmanager
def _statements() -> Iterator[sa.Connection]:
    """A connection for an attempt's own statements, each of which is atomic by itself.

    On PostgreSQL in autocommit: no BEGIN and COMMIT round trips, which cost
    more than the statements (a claim is a read and one conditional UPDATE;
    a success one UPDATE). On SQLite, whose single writer is taken by every
    transaction, the session's own transaction, committed at the end.
    """
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            yield connection
        return
    try:
        yield db.session.connection()
    except BaseException:
        db.session.rollback()
        raise
    db.session.commit()


def _commit_without_waiting_for_disk() -> Any:
    """A condition that, on PostgreSQL, lets the statement's own commit return before its WAL reaches the disk.

    Safe for an attempt's claim and success only: a crash of the database
    that loses one loses a claim (the delivery is attempted again) or a
    success (it is sent again, with the same webhook-id); at least once
    holds either way, and the attempt is spared waiting on a disk flush.
    """
    if db.engine.dialect.name != "postgresql":
        return sa.true()
    return sa.select(sa.func.set_config("synchronous_commit", "off", True)).scalar_subquery().is_not(None)


def claim(delivery_id: str) -> DeliveryClaim | Dispatch | None:
    """`claim_batch` of one: the delivery alone."""
    claimed = claim_batch(delivery_id, 1)
    return claimed[0] if isinstance(claimed, list) else claimed


def claim_batch(delivery_id: str, limit: int = BATCH_SIZE) -> list[DeliveryClaim] | Dispatch | None:
    """Take the delivery, and up to `limit - 1` more due deliveries to the same destination, for attempts in a row.

    Returns the claims, the doorbell's delivery first; or a Dispatch when the
    destination holds it back (open circuit, its consumers limit reached), to
    enqueue again with its delay, no attempt spent; or None when there is
    nothing to do (sent, failed, held by a live consumer, not due yet, or
    deleted). Only one destination's deliveries share a batch, so a hanging
    receiver holds up nobody else's.

    The destination's limit counts the consumers holding its deliveries, and
    is checked inside the claiming statement: claims racing on the same
    destination at the same instant may each see the count just below the
    limit and exceed it by the few that raced.
    """
    now = utcnow()
    with _statements() as connection:
        row = connection.execute(
            sa.select(
                D.status.label("delivery_status"), Destination.id, Destination.tenant_id, Destination.url, Destination.status,
                Destination.secret_ciphertext, Destination.previous_secret_ciphertext, Destination.previous_secret_expires_at,
                Destination.circuit_open_until, Destination.consecutive_failures,
            ).join(Destination, Destination.id == D.destination_id).where(D.id == delivery_id)
        ).first()
        if row is None or row.delivery_status != PENDING:
            return None
        claimable = sa.and_(
            D.status == PENDING, D.next_attempt_at <= now, D.attempts < D.max_attempts,
            sa.or_(D.lease_owner.is_(None), D.lease_expires_at < now),
        )
        this_one = sa.and_(D.id == delivery_id, claimable)
        if row.status != ENABLED:
            connection.execute(
                sa.update(DELIVERIES).where(this_one).values(
                    status=FAILED, lease_owner=None, lease_expires_at=None, last_error="the destination is disabled", updated_at=now,
                )
            )
            return None
        if row.circuit_open_until is not None and row.circuit_open_until > now:
            return _hold_back(connection, delivery_id, this_one, row.circuit_open_until, now)
        consumers = int(_settings()["HUB_DELIVERY_CONCURRENCY_PER_DESTINATION"])
        owner = secrets.token_hex(16)
        batch: Any = D.id == delivery_id
        if limit > 1:
            others = (
                sa.select(D.id).where(D.destination_id == row.id, D.id != delivery_id, claimable)
                .order_by(D.next_attempt_at).limit(limit - 1)
            )
            if db.engine.dialect.name == "postgresql":
                others = others.with_for_update(skip_locked=True)
            batch = sa.or_(batch, D.id.in_(others))
        taken = connection.execute(
            sa.update(DELIVERIES).where(
                batch, claimable, _consumers_of(row.id, now).scalar_subquery() < consumers, _commit_without_waiting_for_disk(),
            ).values(
                lease_owner=owner, lease_expires_at=now + timedelta(seconds=lease_seconds(limit)), attempts=D.attempts + 1,
                last_attempt_at=now, updated_at=now,
            ).returning(D.id, D.tenant_id, D.body, D.attempts, D.max_attempts)
        ).all()
        if not any(item.id == delivery_id for item in taken):
            if taken:  # the doorbell's own delivery was taken meanwhile; the others are given back to their doorbells
                _give_back(connection, [item.id for item in taken], owner, now)
                return None
            if connection.execute(_consumers_of(row.id, now)).scalar_one() >= consumers:
                later = now + timedelta(seconds=HELD_BACK_SECONDS * random.uniform(0.5, 1.5))
                return _hold_back(connection, delivery_id, this_one, later, now)
            return None
    signing = tuple(secrets_in_force(row))
    claims = [
        DeliveryClaim(
            item.id, owner, item.tenant_id, row.id, row.url, signing, item.body, item.attempts, item.max_attempts,
            failing=bool(row.consecutive_failures),
        )
        for item in taken
    ]
    return sorted(claims, key=lambda claimed: claimed.delivery_id != delivery_id)


def _consumers_of(destination_id: str, now: datetime) -> sa.Select:
    """How many consumers hold deliveries to the destination right now (each works through its batch one attempt at a time)."""
    return sa.select(sa.func.count(sa.distinct(D.lease_owner))).select_from(DELIVERIES).where(
        D.destination_id == destination_id, D.status == PENDING, D.lease_owner.is_not(None), D.lease_expires_at >= now,
    )


def _give_back(connection: sa.Connection, delivery_ids: list[str], owner: str, now: datetime) -> list[str]:
    return list(connection.execute(
        sa.update(DELIVERIES).where(D.id.in_(delivery_ids), D.lease_owner == owner, D.status == PENDING)
        .values(lease_owner=None, attempts=D.attempts - 1, next_attempt_at=now, lease_expires_at=_redispatch(now), updated_at=now)
        .returning(D.id)
    ).scalars())


def release(claims: list[DeliveryClaim]) -> list[Dispatch]:
    """Give back claimed deliveries not attempted (their batch stopped early): due now, the attempt not counted; returns them to enqueue."""
    if not claims:
        return []
    with _statements() as connection:
        released = _give_back(connection, [c.delivery_id for c in claims], claims[0].owner, utcnow())
    return [Dispatch(delivery_id, DELIVERY_QUEUE) for delivery_id in released]


def _hold_back(connection: sa.Connection, delivery_id: str, claimable: Any, until: datetime, now: datetime) -> Dispatch | None:
    """Put the delivery back until `until`, no attempt spent. None when it was not ours to move."""
    moved = connection.execute(
        sa.update(DELIVERIES).where(claimable).values(
            next_attempt_at=until, lease_owner=None, lease_expires_at=_redispatch(until), updated_at=now,
        )
    ).rowcount
    return Dispatch(delivery_id, DELIVERY_QUEUE, (until - now).total_seconds()) if moved else None


def _owned(claimed: DeliveryClaim) -> Any:
    return sa.and_(D.id == claimed.delivery_id, D.lease_owner == claimed.owner, D.status == PENDING)


def _kept(body: bytes | None) -> str | None:
    return body[:RESPONSE_BODY_LIMIT].decode("utf-8", "replace") if body is not None else None


def record_success(claimed: DeliveryClaim, status_code: int, response_body: bytes) -> bool:
    """The attempt got a 2xx: the delivery succeeded and the destination's failure run ends. False when the lease was lost."""
    return record_successes([(claimed, status_code, response_body)]) == 1


def record_successes(successes: list[tuple[DeliveryClaim, int, bytes]]) -> int:
    """Attempts of one batch that got a 2xx, in one statement; returns how many this consumer still held."""
    if not successes:
        return 0
    now = utcnow()
    claimed = successes[0][0]
    statement = sa.update(DELIVERIES).where(
        D.id == sa.bindparam("delivery_id"), D.lease_owner == claimed.owner, D.status == PENDING, _commit_without_waiting_for_disk(),
    ).values(
        status=SUCCEEDED, lease_owner=None, lease_expires_at=None, next_attempt_at=None, last_error=None, updated_at=now,
        last_status_code=sa.bindparam("status_code"), last_response_body=sa.bindparam("response_body"),
    )
    rows = [{"delivery_id": c.delivery_id, "status_code": code, "response_body": _kept(body)} for c, code, body in successes]
    with _statements() as connection:
        changed = connection.execute(statement, rows).rowcount
        if changed <= 0:
            return 0
        if claimed.failing:
            connection.execute(
                sa.update(Destination).where(Destination.id == claimed.destination_id, Destination.consecutive_failures > 0).values(
                    consecutive_failures=0, circuit_open_until=None, failing_since=None,
                )
            )
    return changed


@dataclass(frozen=True)
class AttemptFailure:
    """How an attempt failed, as the retry schedule and the destination's state need it."""

    error: str
    status_code: int | None = None
    response_body: bytes | None = None
    overloaded: bool = False  # a 429 or a timeout: wait at least a minute
    retry_after: float | None = None
    gone: bool = False  # 410: the receiver asks for nothing more; the destination is disabled


def record_failure(claimed: DeliveryClaim, failure: AttemptFailure) -> tuple[str, Dispatch | None]:
    """Record a failed attempt: retry on the schedule, or failed after the last attempt (or a 410); returns the outcome and the retry to enqueue."""
    now = utcnow()
    delay = None if failure.gone else retry_delay(
        _settings()["HUB_DELIVERY_SCHEDULE"], claimed.attempts, overloaded=failure.overloaded, retry_after=failure.retry_after,
    )
    if delay is not None and claimed.attempts < claimed.max_attempts:
        run_at = now + timedelta(seconds=delay)
        values: dict[str, Any] = {"next_attempt_at": run_at, "lease_expires_at": _redispatch(run_at)}
        outcome = "retry"
    else:
        run_at = None
        values = {"status": FAILED, "next_attempt_at": None, "lease_expires_at": None}
        outcome = FAILED
    changed = db.session.execute(
        sa.update(DELIVERIES).where(_owned(claimed)).values(
            lease_owner=None, last_status_code=failure.status_code, last_error=failure.error[:1000],
            last_response_body=_kept(failure.response_body), updated_at=now, **values,
        )
    ).rowcount
    if changed != 1:
        db.session.rollback()
        return "lost", None
    _count_failure(claimed.destination_id, failure, now)
    db.session.commit()
    if run_at is None:
        return outcome, None
    return outcome, Dispatch(claimed.delivery_id, DELIVERY_QUEUE, (run_at - now).total_seconds())


def _count_failure(destination_id: str, failure: AttemptFailure, now: datetime) -> None:
    """One more failure in the destination's run: maybe open its circuit, maybe disable it (410, or failing for too long)."""
    destination = db.session.get(Destination, destination_id)
    if destination is None:
        return
    destination.consecutive_failures = (destination.consecutive_failures or 0) + 1
    destination.failing_since = destination.failing_since or now
    beyond = destination.consecutive_failures - CIRCUIT_THRESHOLD
    if beyond >= 0:
        destination.circuit_open_until = now + timedelta(seconds=min(CIRCUIT_MAX_SECONDS, CIRCUIT_BASE_SECONDS * 2 ** min(beyond, 16)))
    disable_after = timedelta(hours=float(_settings()["HUB_DESTINATION_DISABLE_AFTER_HOURS"]))
    if destination.status == ENABLED:
        if failure.gone:
            _disable(destination, "the receiver answered 410 Gone", "gone")
        elif now - destination.failing_since >= disable_after:
            _disable(destination, "nothing but failures for HUB_DESTINATION_DISABLE_AFTER_HOURS", "failing")


def _disable(destination: Destination, reason: str, metric_reason: str) -> None:
    destination.status = DISABLED
    destination.disabled_reason = reason
    destination.updated_at = utcnow()
    DESTINATIONS_DISABLED.labels(reason=metric_reason).inc()


def relay_deliveries(limit: int = RELAY_BATCH) -> list[Dispatch]:
    """Find deliveries whose enqueue was lost or whose consumer died; returns them to enqueue.

    One whose consumer died on its last attempt becomes failed. Each update
    repeats its condition, so a consumer claiming the same row at the same
    moment wins or loses cleanly.
    """
    now = utcnow()
    lost_dispatch = sa.and_(
        D.status == PENDING, D.lease_owner.is_(None), D.next_attempt_at <= now,
        sa.or_(D.lease_expires_at.is_(None), D.lease_expires_at < now),
    )
    lost_consumer = sa.and_(D.status == PENDING, D.lease_owner.is_not(None), D.lease_expires_at < now)
    exhausted = sa.and_(lost_consumer, D.attempts >= D.max_attempts)
    db.session.execute(
        sa.update(DELIVERIES)
        .where(exhausted, D.id.in_(sa.select(D.id).where(exhausted).limit(limit)))
        .values(status=FAILED, lease_owner=None, lease_expires_at=None, next_attempt_at=None,
                last_error="the consumer was lost on the last attempt", updated_at=now)
    )
    revived = sa.or_(lost_dispatch, sa.and_(lost_consumer, D.attempts < D.max_attempts))
    ids = db.session.execute(
        sa.update(DELIVERIES)
        .where(revived, D.id.in_(sa.select(D.id).where(revived).order_by(D.next_attempt_at).limit(limit)))
        .values(lease_owner=None, next_attempt_at=now, lease_expires_at=_redispatch(now), updated_at=now)
        .returning(D.id)
    ).scalars().all()
    db.session.commit()
    return [Dispatch(delivery_id, DELIVERY_QUEUE) for delivery_id in ids]


def prune_deliveries(*, succeeded_before: datetime, failed_before: datetime, limit: int = 10_000) -> int:
    """Delete succeeded deliveries older than one cut-off and failed ones older than another; returns how many went.

    Pending ones stay whatever their age: they are still on their way.
    """
    old = sa.or_(
        sa.and_(D.status == SUCCEEDED, D.updated_at < succeeded_before),
        sa.and_(D.status == FAILED, D.updated_at < failed_before),
    )
    deleted = db.session.execute(sa.delete(DELIVERIES).where(D.id.in_(sa.select(D.id).where(old).limit(limit)))).rowcount
    db.session.commit()
    return deleted or 0


def _scoped(tenant_id: str | None, delivery_id: str) -> Delivery:
    """The delivery of this tenant (any tenant's for the operator's command line, `tenant_id` None)."""
    query = sa.select(Delivery).where(Delivery.id == delivery_id)
    if tenant_id is not None:
        query = query.where(Delivery.tenant_id == tenant_id)
    delivery = db.session.execute(query).scalar_one_or_none()
    if delivery is None:
        raise NotFound("No such delivery")
    return delivery


def get_delivery(tenant_id: str, delivery_id: str) -> Delivery:
    """One delivery of the tenant: another tenant's id is as unknown as a made-up one (404)."""
    return _scoped(tenant_id, delivery_id)


def retry_delivery(tenant_id: str | None, delivery_id: str) -> Dispatch:
    """A manual retry: one more attempt, now, with the same `webhook-id`; committed, and returned to enqueue."""
    delivery = _scoped(tenant_id, delivery_id)
    now = utcnow()
    in_flight = delivery.status == PENDING and delivery.lease_owner is not None and (delivery.lease_expires_at or now) >= now
    if in_flight:
        raise Conflict("The delivery is being attempted right now.")
    db.session.execute(
        sa.update(DELIVERIES).where(D.id == delivery.id).values(
            status=PENDING, max_attempts=sa.case((D.max_attempts > D.attempts, D.max_attempts), else_=D.attempts + 1),
            next_attempt_at=now, lease_owner=None, lease_expires_at=_redispatch(now), updated_at=now,
        )
    )
    db.session.commit()
    return Dispatch(delivery.id, DELIVERY_QUEUE)


def list_deliveries(
    tenant_id: str, destination_id: str, *, status: str | None = None, limit: int = DEFAULT_PAGE_LIMIT, cursor: str | None = None,
) -> tuple[list[Delivery], str | None]:
    """A destination's deliveries, newest first, one page at a time (the caller checked the destination is the tenant's)."""
    query = sa.select(Delivery).where(Delivery.tenant_id == tenant_id, Delivery.destination_id == destination_id)
    if status is not None:
        query = query.where(Delivery.status == status)
    return page(query, Delivery.created_at, Delivery.id, cursor=cursor, limit=limit, newest_first=True)


def recent_deliveries(*, tenant_id: str | None = None, status: str | None = None, limit: int = DEFAULT_PAGE_LIMIT) -> list[Delivery]:
    """Newest deliveries across tenants (or of one), for the operator's command line."""
    query = sa.select(Delivery)
    if tenant_id is not None:
        query = query.where(Delivery.tenant_id == tenant_id)
    if status is not None:
        query = query.where(Delivery.status == status)
    return list(db.session.execute(query.order_by(Delivery.created_at.desc(), Delivery.id.desc()).limit(limit)).scalars())


def serialize_delivery(delivery: Delivery) -> dict[str, Any]:
    return {
        "id": delivery.id,
        "destination_id": delivery.destination_id,
        "event_id": delivery.event_id,
        "type": delivery.type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "last_response_body": delivery.last_response_body,
        "next_attempt_at": isoformat(delivery.next_attempt_at) if delivery.status == PENDING else None,
        "last_attempt_at": isoformat(delivery.last_attempt_at),
        "created_at": isoformat(delivery.created_at),
    }
