"""Prometheus metrics.

Counters and histograms are updated where things happen (ingestion, jobs,
token refreshes). Under gunicorn set `PROMETHEUS_MULTIPROC_DIR` so every
worker writes its samples to that folder and `/metrics` aggregates them.
Figures that live in the database (queue depth, events needing attention,
connector health, readiness) come from `hub.monitoring.gauges`: bounded
queries, cached a few seconds per process, true whichever process serves
the scrape.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY

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


def render_metrics() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process_registry = CollectorRegistry()
        MultiProcessCollector(process_registry)
    else:
        process_registry = REGISTRY
    from hub.monitoring.gauges import DatabaseCollector  # it reads the database; this module is imported by everything

    database_registry = CollectorRegistry()
    database_registry.register(DatabaseCollector())
    return generate_latest(process_registry) + generate_latest(database_registry)
