"""The gauges `/metrics` reads from the database: cheap at any table size, cached a few seconds.

Every figure is answered through a partial index whose rows are bounded by
work still to do or needing a person, never by how many events were ever
stored: unfinished jobs by queue and the age of the oldest one due
(`ix_jobs_unfinished_run_at`), failed and dead events
(`ix_webhook_events_attention`), and integrations by status and health
(one row per connection). Totals of processed work come from counters
(`hub_jobs_total`), not from counting rows.

The queries run on a read-only connection (on SQLite a deferred
transaction, so a scrape never takes the write lock a webhook needs), and
each process answers scrapes from what it read in the last few seconds, so
any number of scrapers costs the database one read per process per period.
The statuses are written into the SQL as the indexes' own constants, so
both databases can prove the partial index applies.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from hub.monitoring.readiness import is_ready, readiness_checks
from hub.queue.outbox import DUE_STATUSES, EVENT_ATTENTION_STATUSES, QUEUES, UNFINISHED_STATUSES
from hub.runtime import current_hub
from hub.storage.database import read_only_connection
from hub.storage.models import Integration, Job, WebhookEvent, utcnow

log = logging.getLogger(__name__)

CACHE_SECONDS = 5.0


def _constants(*values: str) -> list[Any]:
    return [sa.literal_column(f"'{value}'") for value in values]


UNFINISHED_JOBS = Job.status.in_(_constants(*UNFINISHED_STATUSES))
EVENTS_NEEDING_ATTENTION = WebhookEvent.status.in_(_constants(*EVENT_ATTENTION_STATUSES))


def queue_depth_query() -> sa.Select:
    """Unfinished jobs (waiting, running, or failed awaiting retry) by queue."""
    return sa.select(Job.queue, sa.func.count()).where(UNFINISHED_JOBS).group_by(Job.queue)


def oldest_due_job_query(now: Any) -> sa.Select:
    """The earliest `run_at` of jobs that are due and not yet taken, by queue."""
    waiting = Job.status.in_(_constants(*DUE_STATUSES))
    return sa.select(Job.queue, sa.func.min(Job.run_at)).where(UNFINISHED_JOBS, waiting, Job.run_at <= now).group_by(Job.queue)


def events_needing_attention_query() -> sa.Select:
    """Failed (retrying) and dead events, by status."""
    return sa.select(WebhookEvent.status, sa.func.count()).where(EVENTS_NEEDING_ATTENTION).group_by(WebhookEvent.status)


def integrations_query() -> sa.Select:
    """Live integrations by connector, status and last health check."""
    return (
        sa.select(Integration.connector, Integration.status, Integration.health_status, sa.func.count())
        .where(Integration.deleted_at.is_(None))
        .group_by(Integration.connector, Integration.status, Integration.health_status)
    )


def collector_queries() -> list[sa.Select]:
    """Every statement a scrape runs (the tests read their plans)."""
    return [queue_depth_query(), oldest_due_job_query(utcnow()), events_needing_attention_query(), integrations_query()]


def read_gauges() -> list[GaugeMetricFamily]:
    """Read every database gauge now; readiness is reported even when the database is down."""
    checks = readiness_checks()
    families = _readiness(checks)
    if checks.get("database") != "ok":
        return families
    now = utcnow()
    depth = GaugeMetricFamily("hub_queue_depth", "Unfinished jobs (waiting, running or awaiting retry) by queue.", labels=["queue"])
    oldest = GaugeMetricFamily(
        "hub_oldest_pending_job_age_seconds", "How long the oldest due job of each queue has waited to be taken.", labels=["queue"]
    )
    attention = GaugeMetricFamily(
        "hub_events_needing_attention", "Failed events (retrying) and dead events (attempts exhausted).", labels=["status"]
    )
    integrations = GaugeMetricFamily(
        "hub_integrations", "Live integrations by connector, status and last health check.", labels=["connector", "status", "health"]
    )
    try:
        with read_only_connection() as connection:
            depths = dict(connection.execute(queue_depth_query()).all())
            due = dict(connection.execute(oldest_due_job_query(now)).all())
            statuses = dict(connection.execute(events_needing_attention_query()).all())
            live = connection.execute(integrations_query()).all()
    except Exception as error:  # a scrape must answer; readiness already says what is down
        log.warning("could not read the database gauges: %s", type(error).__name__)
        return families
    for queue in sorted(set(QUEUES) | set(depths)):
        depth.add_metric([queue], depths.get(queue, 0))
        run_at = due.get(queue)
        oldest.add_metric([queue], max(0.0, (now - run_at).total_seconds()) if run_at is not None else 0.0)
    for status in EVENT_ATTENTION_STATUSES:
        attention.add_metric([status], statuses.get(status, 0))
    for connector, status, health, count in live:
        integrations.add_metric([connector, status, health or "unknown"], count)
    return families + [depth, oldest, attention, integrations]


def _readiness(checks: dict[str, str]) -> list[GaugeMetricFamily]:
    ready = GaugeMetricFamily("hub_ready", "1 when every dependency is reachable (what /readyz answers), else 0.")
    ready.add_metric([], 1.0 if is_ready(checks) else 0.0)
    up = GaugeMetricFamily("hub_dependency_up", "1 when the dependency is reachable, else 0.", labels=["dependency"])
    for name, state in sorted(checks.items()):
        up.add_metric([name], 1.0 if state == "ok" else 0.0)
    return [ready, up]


@dataclass
class GaugeCache:
    """The last read of the database gauges in this process; one reader at a time refreshes it."""

    max_age: float = CACHE_SECONDS
    families: list[GaugeMetricFamily] = field(default_factory=list)
    read_at: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> list[GaugeMetricFamily]:
        with self.lock:
            if self.read_at is None or time.monotonic() - self.read_at >= self.max_age:
                self.families = read_gauges()
                self.read_at = time.monotonic()
            return self.families


def gauge_cache() -> GaugeCache:
    """This app's cache (per process: each gunicorn worker keeps its own)."""
    return current_hub().part(GaugeCache)


class DatabaseCollector(Collector):
    """Yields the cached database gauges of the current app."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield from gauge_cache().current()
