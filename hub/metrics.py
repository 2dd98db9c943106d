"""Prometheus counters and histograms, updated where things happen (ingestion, jobs, token refreshes).

A leaf: every layer counts here, and this module imports nothing of the hub.
Under gunicorn set `PROMETHEUS_MULTIPROC_DIR` so every worker writes its
samples to that folder and `/metrics` aggregates them. Figures that live in
the database (queue depth, events needing attention, connector health,
readiness) are gauges instead (hub.monitoring.gauges).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

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
DELIVERIES = Counter("hub_deliveries_total", "Delivery attempts to destinations by outcome.", ["outcome"])
DELIVERY_SECONDS = Histogram(
    "hub_delivery_seconds",
    "Time of one delivery attempt, from connecting to the receiver's answer.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0),
)
DESTINATIONS_DISABLED = Counter("hub_destinations_disabled_total", "Destinations the hub disabled, by reason.", ["reason"])
PROXY_REQUESTS = Counter(
    "hub_proxy_requests_total", "Proxied calls by connector, method and outcome (the status class, timeout or unreachable).",
    ["connector", "method", "outcome"],
)
PROXY_SECONDS = Histogram(
    "hub_proxy_seconds",
    "Time from a proxied call to the provider's answer (headers; retries and refreshes included).",
    ["connector"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0),
)
KEY_PROVIDER_CALLS = Counter(
    "hub_key_provider_calls_total", "Calls to the key provider by provider, operation and outcome (ok, unavailable, refused).",
    ["provider", "operation", "outcome"],
)
KEY_PROVIDER_SECONDS = Histogram(
    "hub_key_provider_seconds", "Time of one key provider call.", ["provider", "operation"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)
DATA_KEY_CACHE = Counter("hub_data_key_cache_total", "Lookups of unwrapped data keys in process memory, by result (hit, miss).", ["result"])
