"""Readiness: are the hub's dependencies reachable? Answered by `/readyz` and the `hub_ready` gauge.

The database probe runs on a read-only connection, so on SQLite it never
waits behind (or holds) the write lock: a busy writer must not make a
load balancer or Prometheus think the hub is down.
"""

from __future__ import annotations

import logging

from hub.queue.outbox import QUEUES
from hub.queue.queues import current_queues
from hub.runtime import current_hub
from hub.storage.database import read_only_connection
from hub.storage.key_check import ring_problems

log = logging.getLogger(__name__)


def readiness_checks() -> dict[str, str]:
    """Each dependency by name: "ok", "unavailable", or "failed" for keys that do not open the stored data.

    `keys` is the ENCRYPTION_KEY ring against what it sealed; `key_provider`
    is the provider behind KMS_KEY, asked to unwrap the newest data key.
    """
    checks: dict[str, str] = {}
    try:
        with read_only_connection() as connection:
            connection.exec_driver_sql("SELECT 1")
            checks["database"] = "ok"
            checks["keys"] = _keys_check(connection)
            checks["key_provider"] = current_hub().envelope.probe(connection)
    except Exception:
        checks.setdefault("database", "unavailable")
        checks.setdefault("keys", "unavailable")
        checks.setdefault("key_provider", "unavailable")
    try:
        for name in QUEUES:
            current_queues().depth(name)
        checks["queue"] = "ok"
    except Exception:
        checks["queue"] = "unavailable"
    return checks


def is_ready(checks: dict[str, str]) -> bool:
    return all(value == "ok" for value in checks.values())


def _keys_check(connection: object) -> str:
    """"ok" when the key ring opens the stored data (see hub.storage.key_check); which key fails goes to the log only."""
    problems = ring_problems(current_hub().keyring, connection)  # type: ignore[arg-type]
    if problems:
        log.error("not ready: %s", "; ".join(problems))
        return "failed"
    return "ok"
