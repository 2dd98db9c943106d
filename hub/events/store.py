"""Storing provider events: each new event with its pending job, dedupe on insert, in one of two ways.

Webhook deliveries and sync pages both end in `stage_events`, so an event
that arrives both ways is stored once. Dedupe is the database's unique index
on (integration, provider event id), used through `INSERT ... ON CONFLICT DO
NOTHING` on both PostgreSQL and SQLite: no read-then-write race, however
many deliveries of one event arrive at once. `store_event` is the webhook hot
path's way to the same rows (one statement on the driver connection, see
hub.storage.driver); the two stand side by side so they write the same rows.
Reading events back (CloudEvents, lists, replay) is hub.events.queries.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hub.errors import BadRequest, PluginError
from hub.queue import deliveries, outbox
from hub.queue.deliveries import INTEGRATION_VIEW_COLUMNS
from hub.storage.driver import DriverConnection
from hub.storage.models import Integration, db, new_id, utcnow
from hub.types import NormalizedEvent

# Statuses a connector may move an integration to through an event (e.g. Stripe's deauthorization).
EVENT_SETTABLE_STATUSES = ("revoked", "needs_reauth")
# An integration in one of these (or deleted) no longer takes events: its endpoint answers 410.
ENDPOINT_GONE_STATUSES = ("revoked",)


@dataclass(frozen=True)
class Recipient:
    """An integration an event is stored for."""

    tenant_id: str
    integration_id: str


@dataclass(frozen=True)
class StagedEvents:
    inserted: int
    duplicates: int
    dispatches: list[outbox.Dispatch]


EVENTS, JOBS = outbox.EVENTS, outbox.JOBS
DEDUPE_KEY = ["integration_id", "provider_event_id"]
# The job columns a new job is inserted with, besides its event id (which comes from the event insert).
NEW_JOB_COLUMNS = [name for name in JOBS.c.keys() if name not in ("event_id", "lease_owner", "last_error")]
EVENT_FIELDS = (
    "id", "tenant_id", "integration_id", "connector", "provider_event_id", "type", "subject",
    "occurred_at", "received_at", "payload", "status", "attempts",
)


@functools.cache
def _event_and_job_statements(dialect: str) -> tuple[Any, ...]:
    """The hot path's insert statements, built once with bind parameters (building them per request cost more than running them)."""
    event_values = {name: sa.bindparam(f"e_{name}", type_=EVENTS.c[name].type) for name in EVENT_FIELDS}
    if dialect == "postgresql":
        new_event = (
            postgresql.insert(EVENTS).values(event_values).on_conflict_do_nothing(index_elements=DEDUPE_KEY).returning(EVENTS.c.id).cte("new_event")
        )
        source = sa.select(
            *[sa.bindparam(f"j_{name}", type_=JOBS.c[name].type).label(name) for name in NEW_JOB_COLUMNS], new_event.c.id.label("event_id")
        )
        return (sa.insert(JOBS).from_select([*NEW_JOB_COLUMNS, "event_id"], source).returning(JOBS.c.id),)
    event_insert = sqlite.insert(EVENTS).values(event_values).on_conflict_do_nothing(index_elements=DEDUPE_KEY).returning(EVENTS.c.id)
    job_insert = sa.insert(JOBS).values({name: sa.bindparam(f"j_{name}", type_=JOBS.c[name].type) for name in [*NEW_JOB_COLUMNS, "event_id"]})
    return event_insert, job_insert


def _statement_parameters(event_row: dict[str, Any], job_row: dict[str, Any]) -> dict[str, Any]:
    parameters = {f"e_{name}": value for name, value in event_row.items()}
    parameters.update({f"j_{name}": value for name, value in job_row.items()})
    return parameters


def _insert_event_and_job(event_row: dict[str, Any], job_row: dict[str, Any]) -> bool:
    """Insert the event unless it is a duplicate, and its job with it, in the session's transaction; True when it was new.

    On PostgreSQL one statement does both: a CTE inserts the event with ON
    CONFLICT DO NOTHING and the job is inserted from what the CTE returned,
    so a duplicate inserts neither. SQLite runs the two inserts in turn.
    """
    parameters = _statement_parameters(event_row, job_row)
    statements = _event_and_job_statements(db.session.get_bind().dialect.name)
    if db.session.execute(statements[0], parameters).first() is None:
        return False
    if len(statements) > 1:
        db.session.execute(statements[1], parameters)
    return True


def _json_text(event: NormalizedEvent, connector: str) -> str:
    """The event's data encoded as strict JSON; refused before it reaches the database if it cannot be.

    hub.events.checks refuses unstorable data first; this is the second line
    (no NaN or Infinity, which PostgreSQL's json refuses and SQLite's keeps).
    """
    try:
        return json.dumps(event.data, allow_nan=False)
    except TypeError:
        raise PluginError(f"connector {connector} returned event data that is not JSON") from None
    except (ValueError, RecursionError):
        raise BadRequest(f"The {connector} connector's event data is not strict JSON.") from None


def _new_rows(connector: str, recipient: Recipient, event: NormalizedEvent, payload: Any, now: datetime) -> tuple[dict[str, Any], dict[str, Any]]:
    """The rows of a new pending event and its webhooks job."""
    event_row = {
        "id": new_id(),
        "tenant_id": recipient.tenant_id,
        "integration_id": recipient.integration_id,
        "connector": connector,
        "provider_event_id": event.id[:255],
        "type": event.type[:255],
        "subject": event.subject[:255] if event.subject else None,
        "occurred_at": event.time,
        "received_at": now,
        "payload": payload,
        "status": outbox.PENDING,
        "attempts": 0,
    }
    job_row = outbox.job_values(
        queue="webhooks", kind="event", tenant_id=recipient.tenant_id, event_id=event_row["id"],
        integration_id=recipient.integration_id, now=now,
    )
    return event_row, job_row


def stores_alone(event: NormalizedEvent) -> bool:
    """True when storing the event writes nothing but the event and its job (no status change, no sync job)."""
    return event.integration_status not in EVENT_SETTABLE_STATUSES and not event.request_sync


@functools.cache
def _live_event_and_job_statement() -> Any:
    """PostgreSQL: insert the event (unless a duplicate) and its job, only while the integration is live at a credentials version.

    One statement, so the check and the writes see the same instant: a
    `live` CTE reads the integration row, the event is inserted only if that
    found it (ON CONFLICT DO NOTHING on the dedupe index), the job from what
    the event insert returned. It answers (live, job id): live 0 means the
    integration was deleted, revoked or changed its credentials, and nothing
    was written; a null job id on a live integration means a duplicate.
    """
    integrations = Integration.__table__
    live = (
        sa.select(sa.literal_column("1").label("found"))
        .where(
            integrations.c.id == sa.bindparam("e_integration_id"),
            integrations.c.version == sa.bindparam("i_version"),
            integrations.c.deleted_at.is_(None),
            # constants written into the SQL: driver SQL takes only the named parameters
            *[integrations.c.status != sa.literal_column(f"'{status}'") for status in ENDPOINT_GONE_STATUSES],
        )
        .cte("live")
    )
    event_values = [_fast_path_value(EVENTS, name, f"e_{name}") for name in EVENT_FIELDS]
    event_source = sa.select(*event_values).where(sa.select(live.c.found).exists())
    new_event = (
        postgresql.insert(EVENTS).from_select(list(EVENT_FIELDS), event_source)
        .on_conflict_do_nothing(index_elements=DEDUPE_KEY).returning(EVENTS.c.id).cte("new_event")
    )
    job_values = [_fast_path_value(JOBS, name, JOB_FROM_EVENT.get(name, f"j_{name}")) for name in NEW_JOB_COLUMNS]
    job_source = sa.select(*job_values, new_event.c.id)
    new_job = sa.insert(JOBS).from_select([*NEW_JOB_COLUMNS, "event_id"], job_source).returning(JOBS.c.id).cte("new_job")
    return sa.select(
        sa.select(sa.func.count()).select_from(live).scalar_subquery(), sa.select(new_job.c.id).scalar_subquery()
    )


# What every new event and its job start with (the same values `_new_rows` writes),
# written into the hot statement as constants instead of sent with every delivery.
NEW_ROW_CONSTANTS = {
    ("webhook_events", "status"): f"'{outbox.PENDING}'", ("webhook_events", "attempts"): "0",
    ("jobs", "queue"): "'webhooks'", ("jobs", "kind"): "'event'", ("jobs", "status"): f"'{outbox.PENDING}'", ("jobs", "attempts"): "0",
}
# Job columns that repeat one of the event's parameters.
JOB_FROM_EVENT = {
    "tenant_id": "e_tenant_id", "integration_id": "e_integration_id",
    "run_at": "e_received_at", "created_at": "e_received_at", "updated_at": "e_received_at",
}


def _fast_path_value(table: sa.Table, column: str, parameter: str) -> Any:
    constant = NEW_ROW_CONSTANTS.get((table.name, column))
    if constant is not None:
        return sa.literal_column(constant)
    return sa.bindparam(parameter, type_=table.c[column].type)


def _fast_path_parameters(event_row: dict[str, Any], job_row: dict[str, Any], version: int) -> dict[str, Any]:
    """The hot statement's parameters: the event's columns but its constants, and what the job does not share with it."""
    parameters = {f"e_{name}": value for name, value in event_row.items() if ("webhook_events", name) not in NEW_ROW_CONSTANTS}
    parameters.update({f"j_{name}": job_row[name] for name in ("id", "max_attempts", "lease_expires_at")})
    parameters["i_version"] = version
    return parameters


def store_event(driver: DriverConnection, connector: str, recipient: Recipient, event: NormalizedEvent, version: int) -> StagedEvents | None:
    """`stage_events` for one event that `stores_alone`, as one autocommitted statement on the driver connection.

    The hot path of webhook ingestion on PostgreSQL: the same rows and the
    same dedupe as `stage_events`, without the session (see hub.storage.driver),
    written only if the integration is still live at credentials `version`.
    None when it is not (nothing was written).
    """
    event_row, job_row = _new_rows(connector, recipient, event, _json_text(event, connector), utcnow())
    row = driver.first_row(_live_event_and_job_statement(), _fast_path_parameters(event_row, job_row, version))
    live, job_id = row if row is not None else (0, None)
    if not live:
        return None
    if job_id is None:
        return StagedEvents(0, 1, [])
    return StagedEvents(1, 0, [outbox.Dispatch(job_id, job_row["queue"])])


def stage_events(connector: str, recipients: Sequence[Recipient], events: Iterable[NormalizedEvent]) -> StagedEvents:
    """Insert each event for each recipient (duplicates skipped) with its pending job.

    Runs in the caller's transaction and does not commit: the caller commits
    the events, their jobs and anything else it wrote at once, then enqueues
    the returned dispatches.
    """
    now = utcnow()
    inserted = duplicates = 0
    dispatches: list[outbox.Dispatch] = []
    to_sync: set[Recipient] = set()
    for event in events:
        _json_text(event, connector)
        for recipient in recipients:
            event_row, job_row = _new_rows(connector, recipient, event, event.data, now)
            if not _insert_event_and_job(event_row, job_row):
                duplicates += 1
                continue
            inserted += 1
            dispatches.append(outbox.Dispatch(job_row["id"], job_row["queue"]))
            if event.request_sync:
                to_sync.add(recipient)
        if event.integration_status in EVENT_SETTABLE_STATUSES:
            changed = db.session.execute(
                sa.update(Integration)
                .where(
                    sa.or_(*[sa.and_(Integration.tenant_id == r.tenant_id, Integration.id == r.integration_id) for r in recipients]),
                    Integration.deleted_at.is_(None),
                    Integration.status != event.integration_status,
                )
                .values(status=event.integration_status, updated_at=now)
                .returning(*INTEGRATION_VIEW_COLUMNS)
            ).all()
            for integration in changed:
                dispatches.extend(deliveries.announce_integration(f"hub.integration.{event.integration_status}", integration))
    sync_rows = [
        outbox.job_values(queue="sync", kind="sync", tenant_id=r.tenant_id, integration_id=r.integration_id, now=now)
        for r in sorted(to_sync, key=lambda r: r.integration_id)
        if outbox.live_job(kind="sync", integration_id=r.integration_id) is None
    ]
    return StagedEvents(inserted, duplicates, dispatches + outbox.add_jobs(sync_rows))
