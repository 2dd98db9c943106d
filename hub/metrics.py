"""Prometheus metrics.

Counters and histograms are updated where things happen (ingestion, jobs,
token refreshes). Under gunicorn set `PROMETHEUS_MULTIPROC_DIR` so every
worker writes its samples to that folder and `/metrics` aggregates them.
Figures that live in the database (queue depth, dead events, connector
health) are read at scrape time, so they are true whichever process serves
the scrape.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY, Collector

WEBHOOKS_RECEIVED = Counter(
    "hub_webhooks_received_total", "Webhook deliveries by connector and outcome.", ["connector", "outcome"]
)
INGEST_SECONDS = Histogram(
    "hub_webhook_ingest_seconds",
    "Time to verify, store and enqueue one webhook delivery.",
    ["connector"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
JOBS = Counter("hub_jobs_total", "Jobs run by queue and outcome.", ["queue", "outcome"])
TOKEN_REFRESHES = Counter("hub_token_refreshes_total", "OAuth token refreshes by connector and outcome.", ["connector", "outcome"])
EVENTS_PRUNED = Counter("hub_events_pruned_total", "Events deleted past their retention window, by status.", ["status"])
HEALTH_CHECKS = Counter("hub_health_checks_total", "Connector health checks by connector and outcome.", ["connector", "outcome"])


class DatabaseCollector(Collector):
    """Queue depth, dead events and integration health, read from the database at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from hub.models import Integration, Job, WebhookEvent, db

        depth = GaugeMetricFamily("hub_queue_depth", "Jobs waiting (pending or failed awaiting retry) by queue.", labels=["queue"])
        for queue, count in db.session.execute(
            sa.select(Job.queue, sa.func.count()).where(Job.status.in_(("pending", "failed", "processing"))).group_by(Job.queue)
        ):
            depth.add_metric([queue], count)
        yield depth
        events = GaugeMetricFamily("hub_events", "Stored events by status.", labels=["status"])
        for status, count in db.session.execute(sa.select(WebhookEvent.status, sa.func.count()).group_by(WebhookEvent.status)):
            events.add_metric([status], count)
        yield events
        health = GaugeMetricFamily(
            "hub_integrations", "Live integrations by connector, status and last health check.", labels=["connector", "status", "health"]
        )
        for connector, status, health_status, count in db.session.execute(
            sa.select(Integration.connector, Integration.status, Integration.health_status, sa.func.count())
            .where(Integration.deleted_at.is_(None))
            .group_by(Integration.connector, Integration.status, Integration.health_status)
        ):
            health.add_metric([connector, status, health_status or "unknown"], count)
        yield health


def render_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process_registry = CollectorRegistry()
        MultiProcessCollector(process_registry)
    else:
        process_registry = REGISTRY
    database_registry = CollectorRegistry()
    database_registry.register(DatabaseCollector())
    return generate_latest(process_registry) + generate_latest(database_registry)
