"""Periodic maintenance, run once per period however many consumers tick.

Every consumer fires the maintenance tick each minute. Each piece of work
first takes a lease named after it for its whole period and never releases
it: the lease is the record that this period's run has happened, shared
through Redis or the database, so no piece runs twice in one period on any
number of machines, and a crashed run is retried next period.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from hub.logs import describe_error
from hub.queue import outbox
from hub.queue.queues import enqueue
from hub.runtime import current_hub
from hub.storage.models import db, utcnow

log = logging.getLogger(__name__)


def relay() -> int:
    """Re-enqueue jobs and deliveries whose enqueue was lost or whose consumer died."""
    from hub.queue.deliveries import relay_deliveries
    from hub.worker.processing import dead_event_deliveries

    return enqueue(outbox.relay_jobs(on_dead=dead_event_deliveries)) + enqueue(relay_deliveries())


def schedule_syncs() -> int:
    from hub.provider.sync import schedule_due_syncs

    return enqueue(schedule_due_syncs())


def refresh_tokens() -> dict[str, int]:
    from hub.provider.credentials import refresh_expiring_tokens

    return refresh_expiring_tokens()


def check_health() -> dict[str, int]:
    from hub.provider.health import check_all_integrations

    return check_all_integrations()


def renew_subscriptions() -> dict[str, int]:
    from hub.provider.subscriptions import renew_all_subscriptions

    return renew_all_subscriptions()


def verify_accounts() -> dict[str, int]:
    from hub.provider.accounts import verify_accounts as verify

    return verify()


def prune_jobs() -> int:
    return outbox.prune_finished_jobs(timedelta(days=current_hub().settings["HUB_JOB_RETENTION_DAYS"]))


def prune_deliveries() -> int:
    """Succeeded deliveries go with done jobs (HUB_JOB_RETENTION_DAYS), failed ones with dead events (HUB_DEAD_EVENT_RETENTION_DAYS)."""
    from hub.queue.deliveries import prune_deliveries as prune

    settings = current_hub().settings
    now = utcnow()
    return prune(
        succeeded_before=now - timedelta(days=settings["HUB_JOB_RETENTION_DAYS"]),
        failed_before=now - timedelta(days=settings["HUB_DEAD_EVENT_RETENTION_DAYS"]),
    )


def prune_leases() -> int:
    return current_hub().leases.prune_expired()


def prune_events() -> dict[str, int]:
    from hub.events.retention import prune_events as prune

    return prune()


def periodic_schedule() -> list[tuple[str, float, Callable[[], Any]]]:
    """Each piece of periodic work: its name (the lease it takes), its period in seconds, and the work."""
    settings = current_hub().settings
    return [
        ("relay", 50, relay),
        ("schedule-syncs", 50, schedule_syncs),
        ("refresh-tokens", 5 * 60, refresh_tokens),
        ("health-checks", float(settings["HUB_HEALTH_CHECK_INTERVAL_SECONDS"]), check_health),
        ("renew-subscriptions", 6 * 3600, renew_subscriptions),
        ("verify-accounts", 600, verify_accounts),
        ("prune-jobs", 24 * 3600, prune_jobs),
        ("prune-events", 3600, prune_events),
        ("prune-deliveries", 3600, prune_deliveries),
        ("prune-leases", 3600, prune_leases),
    ]


def run_periodic_work() -> dict[str, Any]:
    """Run every piece whose period has come; returns what each run reported."""
    report: dict[str, Any] = {}
    for name, period_seconds, work in periodic_schedule():
        if current_hub().leases.acquire(f"periodic:{name}", period_seconds) is None:
            continue  # another consumer ran it this period
        try:
            report[name] = work()
        except Exception as error:  # one piece failing must not stop the others
            db.session.rollback()
            log.warning("periodic %s failed: %s", name, describe_error(error))
            report[name] = "failed"
    return report
