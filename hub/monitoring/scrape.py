"""What a scrape of `/metrics` answers: the counters, then the database gauges.

The counters (hub.metrics) are this process's, or with
`PROMETHEUS_MULTIPROC_DIR` set every process's that writes there (gunicorn
workers, consumers on the same host); the gauges are read from the database
(hub.monitoring.gauges), the same whichever process serves the scrape.
"""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import REGISTRY

from hub.monitoring.gauges import DatabaseCollector


def render_metrics() -> bytes:
    """The Prometheus text format of every counter and gauge."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        process_registry = CollectorRegistry()
        MultiProcessCollector(process_registry)
    else:
        process_registry = REGISTRY
    database_registry = CollectorRegistry()
    database_registry.register(DatabaseCollector())
    return generate_latest(process_registry) + generate_latest(database_registry)
