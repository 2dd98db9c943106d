"""Bulk-loading events and jobs straight into the hub's tables, as the hub itself would have written them.

One `INSERT ... SELECT FROM generate_series` per table (events, then one job
per event through a data-modifying CTE), so 10^6 rows take seconds instead
of the hours 10^6 webhooks would. Ids look like the real ones: time-ordered
UUIDv7 text primary keys (as `hub.models.new_id` makes them) and random
24-character Stripe event ids, so the dedupe index takes inserts at random
places, as it does in production.
"""

from __future__ import annotations

import json
import time

import psycopg

from loadgen import stripe_event

_PAYLOAD = json.dumps(stripe_event("evt_bulk", int(time.time()), 0), separators=(",", ":"))

_EVENTS_AND_JOBS = """
WITH source AS (
    SELECT n, at, lpad(to_hex((extract(epoch FROM at) * 1000)::bigint), 12, '0') AS ms, md5(random()::text || n::text) AS r
    FROM (
        SELECT n, (now() AT TIME ZONE 'utc') - make_interval(secs => n * %(spacing)s) AS at
        FROM generate_series(1, %(count)s) AS n
    ) AS spaced
), events AS (
    INSERT INTO webhook_events (id, tenant_id, integration_id, connector, provider_event_id, type, subject,
                                occurred_at, received_at, payload, status, attempts, last_error, processed_at)
    SELECT substr(ms, 1, 8) || '-' || substr(ms, 9, 4) || '-7' || substr(r, 1, 3) || '-8' || substr(r, 4, 3) || '-' || substr(r, 7, 12),
           %(tenant)s, %(integration)s, 'stripe',
           'evt_' || substr(md5(random()::text || n::text), 1, 24), 'charge.succeeded',
           'ch_' || substr(md5(n::text), 1, 24), at, at, %(payload)s::json,
           %(event_status)s, %(attempts)s, NULL, CASE WHEN %(processed)s THEN at END
    FROM source
    RETURNING id, received_at
)
INSERT INTO jobs (id, queue, kind, tenant_id, event_id, integration_id, status, attempts, max_attempts,
                  run_at, lease_expires_at, lease_owner, last_error, created_at, updated_at)
SELECT substr(events.id, 1, 19) || '8' || substr(md5(events.id), 1, 3) || '-' || substr(md5(events.id), 4, 12), 'webhooks', 'event', %(tenant)s, events.id, %(integration)s, %(job_status)s, %(attempts)s, 8,
       events.received_at, %(lease)s, NULL, NULL, events.received_at, events.received_at
FROM events
RETURNING id
"""


def _plain_indexes(connection: psycopg.Connection) -> list[tuple[str, str]]:
    """(name, definition) of the indexes on events and jobs that no constraint owns."""
    return connection.execute(
        """
        SELECT i.indexname, i.indexdef FROM pg_indexes i
        WHERE i.schemaname = current_schema() AND i.tablename IN ('webhook_events', 'jobs')
          AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)
        """
    ).fetchall()


def load_history(database_url: str, tenant_id: str, integration_id: str, count: int) -> float:
    """`count` processed events (one second apart, going back in time) with their done jobs; returns seconds taken.

    To load 10^6 rows in seconds, the plain indexes are dropped and built
    again afterwards from their own definitions, and triggers (the foreign
    keys of schemas before revision 0011) are skipped for the load (the rows
    reference the tenant, integration and events by construction). Primary keys and the dedupe constraint stay in
    place throughout. Then VACUUM ANALYZE and CHECKPOINT, so the table is in
    the state a table that grew over weeks would be in (visibility map set,
    statistics known, nothing left to flush) and the run that follows pays
    only for its own writes.
    """
    started = time.perf_counter()
    with psycopg.connect(database_url, autocommit=True) as connection:
        connection.execute("SET maintenance_work_mem = '256MB'")
        indexes = _plain_indexes(connection)
        with connection.transaction():
            connection.execute("SET LOCAL session_replication_role = replica")
            for name, _definition in indexes:
                connection.execute(f'DROP INDEX "{name}"')
            connection.execute(
                _EVENTS_AND_JOBS,
                dict(count=count, spacing=1.0, tenant=tenant_id, integration=integration_id, payload=_PAYLOAD,
                     event_status="processed", processed=True, job_status="done", attempts=1, lease=None),
            )
            for _name, definition in indexes:
                connection.execute(definition)
        connection.execute("VACUUM (ANALYZE) webhook_events")
        connection.execute("VACUUM (ANALYZE) jobs")
        connection.execute("CHECKPOINT")
    return round(time.perf_counter() - started, 1)


def load_pending(database_url: str, tenant_id: str, integration_id: str, count: int) -> list[str]:
    """`count` pending events with pending jobs (as ingestion leaves them); returns the job ids to enqueue."""
    with psycopg.connect(database_url, autocommit=True) as connection:
        rows = connection.execute(
            _EVENTS_AND_JOBS.replace("%(lease)s", "(now() AT TIME ZONE 'utc') + interval '1 hour'"),
            dict(count=count, spacing=0.0, tenant=tenant_id, integration=integration_id, payload=_PAYLOAD,
                 event_status="pending", processed=False, job_status="pending", attempts=0),
        ).fetchall()
        connection.execute("VACUUM (ANALYZE) webhook_events")
        connection.execute("VACUUM (ANALYZE) jobs")
        connection.execute("CHECKPOINT")
    return [row[0] for row in rows]
