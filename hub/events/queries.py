"""Reading stored events: their CloudEvent shape, the API view, one event, a list, and replay.

Every read is the tenant's: another tenant's event id behaves as unknown.
The command line reads across tenants by passing no tenant (`None`), as the
operator may. An event's status is its event job's, written by the outbox
(hub.queue.outbox): the statuses are that module's, named once.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from hub.errors import BadRequest, NotFound
from hub.queue import outbox
from hub.queue.outbox import EVENT_STATUSES
from hub.storage.models import WebhookEvent, db, isoformat
from hub.storage.pagination import DEFAULT_PAGE_LIMIT, page

__all__ = ["EVENT_STATUSES", "cloud_event", "get_event", "list_events", "replay_event", "serialize_event"]


def cloud_event(row: WebhookEvent) -> dict[str, Any]:
    """The event as a CloudEvents 1.0 JSON object, with the hub's ids as extension attributes.

    `id` is the hub's event id (unique across integrations; stable across
    retries and replays, so processors can use it as an idempotency key);
    the provider's own id is `providereventid`.
    """
    return {
        "specversion": "1.0",
        "id": row.id,
        "source": f"/connectors/{row.connector}/integrations/{row.integration_id}",
        "type": row.type,
        "subject": row.subject,
        "time": isoformat(row.occurred_at or row.received_at),
        "datacontenttype": "application/json",
        "data": row.payload,
        "tenantid": row.tenant_id,
        "integrationid": row.integration_id,
        "connector": row.connector,
        "providereventid": row.provider_event_id,
    }


def serialize_event(row: WebhookEvent) -> dict[str, Any]:
    """The API view: the CloudEvent plus delivery state."""
    return {
        "id": row.id,
        "integration_id": row.integration_id,
        "connector": row.connector,
        "provider_event_id": row.provider_event_id,
        "type": row.type,
        "subject": row.subject,
        "status": row.status,
        "attempts": row.attempts,
        "last_error": row.last_error,
        "occurred_at": isoformat(row.occurred_at),
        "received_at": isoformat(row.received_at),
        "processed_at": isoformat(row.processed_at),
        "event": cloud_event(row),
    }


def get_event(tenant_id: str | None, event_id: str) -> WebhookEvent:
    """One event of the tenant (another tenant's is not found); `tenant_id` None is the operator's reach (CLI)."""
    query = sa.select(WebhookEvent).where(WebhookEvent.id == event_id)
    if tenant_id is not None:
        query = query.where(WebhookEvent.tenant_id == tenant_id)
    row = db.session.execute(query).scalar_one_or_none()
    if row is None:
        raise NotFound("No such event")
    return row


def list_events(
    tenant_id: str | None,
    *,
    status: str | None = None,
    integration_id: str | None = None,
    connector: str | None = None,
    type: str | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
    cursor: str | None = None,
) -> tuple[list[WebhookEvent], str | None]:
    """The tenant's events, newest first, one page at a time; `tenant_id` None is the operator's reach (CLI)."""
    if status is not None and status not in EVENT_STATUSES:
        raise BadRequest(f"Unknown status; expected one of {', '.join(EVENT_STATUSES)}.")
    query = sa.select(WebhookEvent)
    if tenant_id is not None:
        query = query.where(WebhookEvent.tenant_id == tenant_id)
    if status:
        query = query.where(WebhookEvent.status == status)
    if integration_id:
        query = query.where(WebhookEvent.integration_id == integration_id)
    if connector:
        query = query.where(WebhookEvent.connector == connector)
    if type:
        query = query.where(WebhookEvent.type == type)
    return page(query, WebhookEvent.received_at, WebhookEvent.id, cursor=cursor, limit=limit, newest_first=True)


def replay_event(tenant_id: str | None, event_id: str) -> tuple[str, list[outbox.Dispatch]]:
    """Deliver the event to the processors again; returns the job id and what to enqueue.

    An event that is still on its way (pending, processing, waiting to
    retry, or paused with its integration) keeps its job: replaying it
    again does not queue it twice. `tenant_id` None is the operator's reach (CLI).
    """
    row = get_event(tenant_id, event_id)
    live = outbox.live_job(kind="event", event_id=row.id)
    if live is not None:
        db.session.commit()
        return live.id, []
    job_id, dispatches = outbox.requeue_event(tenant_id=row.tenant_id, event_id=row.id, integration_id=row.integration_id)
    db.session.commit()
    return job_id, dispatches
