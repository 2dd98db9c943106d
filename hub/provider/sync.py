"""The sync queue: pull records from a provider through the connector's `sync` hook.

One job fetches one page. The records go through the same dedupe and
processing path as webhooks (`hub.events.store.stage_events`), and the new
cursor is stored in the same transaction, written only over the cursor the
page started from: two syncs of one integration can overlap without one
moving the cursor back (their records dedupe). A connector that has more
pages asks for a follow-up job, so a long backfill never holds a worker; a
rate-limited one names when to come back (within a day: see `retry_delay`).
"""

from __future__ import annotations

import logging
import math
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from hub.errors import BadRequest, Conflict
from hub.events.store import Recipient, stage_events
from hub.provider.calls import provider_call
from hub.provider.sweeps import active_integrations
from hub.queue import outbox
from hub.runtime import current_hub
from hub.storage.models import Integration, Job, db, utcnow
from hub.tenancy.integrations import get_integration_by_id

log = logging.getLogger(__name__)

# The longest a connector's `retry_after` can put the next page off: a provider's
# Retry-After of years (or an infinite one) must not overflow the date, nor park the sync forever.
MAX_RETRY_AFTER_SECONDS = 24 * 3600.0


def _syncable(connector: str) -> bool:
    plugins = current_hub().plugins
    return connector in plugins.connectors and plugins.describe(connector)["supports"]["sync"]


def request_sync(tenant_id: str, integration_id: str) -> tuple[str, list[outbox.Dispatch]]:
    """Queue a sync of the integration; an unfinished sync job is reused, not doubled."""
    integration = get_integration_by_id(tenant_id, integration_id)
    if integration.status != "active":
        raise Conflict(f"The integration is {integration.status}; only an active integration can sync.")
    if not _syncable(integration.connector):
        raise BadRequest(f"The {integration.connector} connector does not support sync.")
    live = outbox.live_job(kind="sync", integration_id=integration_id)
    if live is not None:
        db.session.commit()
        return live.id, []
    values = outbox.job_values(queue="sync", kind="sync", tenant_id=tenant_id, integration_id=integration_id)
    dispatches = outbox.add_jobs([values])
    db.session.commit()
    return values["id"], dispatches


def retry_delay(retry_after: float | None) -> float:
    """Seconds until the next page: what the connector asked, from 0 to a day; anything not a finite number waits the day."""
    if retry_after is None:
        return 0.0
    if not math.isfinite(retry_after):
        return MAX_RETRY_AFTER_SECONDS
    return min(max(0.0, float(retry_after)), MAX_RETRY_AFTER_SECONDS)


def run_sync(claimed: outbox.Claim) -> list[outbox.Dispatch]:
    """One page of a claimed sync job; returns the jobs it staged (records, and the next page's job)."""
    if claimed.tenant_id is None or claimed.integration_id is None:
        raise LookupError(f"sync job {claimed.job_id} names no integration")
    tenant_id, integration_id = claimed.tenant_id, claimed.integration_id
    integration = db.session.execute(
        sa.select(Integration.status, Integration.deleted_at, Integration.sync_cursor).where(
            Integration.id == integration_id, Integration.tenant_id == tenant_id
        )
    ).first()
    if integration is None or integration.deleted_at is not None or integration.status != "active":
        log.info("sync of integration %s skipped: it is no longer active", integration_id)
        return []
    cursor = integration.sync_cursor
    with provider_call(tenant_id, integration_id) as call:
        result = current_hub().plugins.sync(call.connector, session=call.session, credentials=call.credentials, cursor=cursor)
    connector = call.connector
    staged = stage_events(connector, [Recipient(tenant_id, integration_id)], result.records)
    finished = not result.has_more and result.retry_after is None
    values: dict[str, Any] = {"sync_cursor": result.cursor}
    if finished:
        values["last_synced_at"] = utcnow()
    db.session.execute(
        sa.update(Integration)
        .where(
            Integration.id == integration_id,
            Integration.tenant_id == tenant_id,
            Integration.sync_cursor.is_not_distinct_from(cursor),
        )
        .values(**values)
    )
    if finished:
        return staged.dispatches
    run_at = utcnow() + timedelta(seconds=retry_delay(result.retry_after))
    follow_up = outbox.job_values(queue="sync", kind="sync", tenant_id=tenant_id, integration_id=integration_id, run_at=run_at)
    return staged.dispatches + outbox.add_jobs([follow_up])


def schedule_due_syncs() -> list[outbox.Dispatch]:
    """Queue a sync for every active, syncable integration not synced within `HUB_SYNC_INTERVAL_SECONDS`."""
    plugins = current_hub().plugins
    cutoff = utcnow() - timedelta(seconds=current_hub().settings["HUB_SYNC_INTERVAL_SECONDS"])
    unfinished = sa.select(Job.id).where(
        Job.kind == "sync", Job.integration_id == Integration.id, Job.status.in_(outbox.LIVE_STATUSES)
    )
    due = active_integrations(
        [connector for connector in plugins.connectors if _syncable(connector)],
        sa.or_(Integration.last_synced_at.is_(None), Integration.last_synced_at < cutoff),
        ~unfinished.exists(),
    )
    rows = [outbox.job_values(queue="sync", kind="sync", tenant_id=d.tenant_id, integration_id=d.integration_id) for d in due]
    dispatches = outbox.add_jobs(rows)
    db.session.commit()
    return dispatches
