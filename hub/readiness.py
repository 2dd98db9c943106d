"""Readiness: are the hub's dependencies reachable? Answered by `/readyz` and the `hub_ready` gauge.

The database probe runs on a read-only connection, so on SQLite it never
waits behind (or holds) the write lock: a busy writer must not make a
load balancer or Prometheus think the hub is down.
"""

from __future__ import annotations

from hub.database import read_only_connection
from hub.jobs import QUEUES
from hub.queues import current_queues


def readiness_checks() -> dict[str, str]:
    """Each dependency by name: "ok" or "unavailable"."""
    checks: dict[str, str] = {}
    try:
        with read_only_connection() as connection:
            connection.exec_driver_sql("SELECT 1")
        checks["database"] = "ok"
    except Exception:
        checks["database"] = "unavailable"
    try:
        for name in QUEUES:
            current_queues().depth(name)
        checks["queue"] = "ok"
    except Exception:
        checks["queue"] = "unavailable"
    return checks


def is_ready(checks: dict[str, str]) -> bool:
    return all(value == "ok" for value in checks.values())
