"""What `disabled` means: paused. Nothing is lost, nothing runs, until the integration is enabled again.

A tenant disables an integration to stop work for it for a while. Its
webhooks are still verified and stored (answered 200, deduplicated as
ever), but consumers never run its jobs: a claimed job of a disabled
integration is parked as `paused`, with the attempt it was claimed with
given back, and its event stays `pending` (hub.queue.outbox). Enabling the
integration (`PATCH ... {"status": "active"}`) un-parks its jobs and
dispatches them. A claim that read the integration as disabled just as it
was enabled can park a job after the un-park ran; the relay heals that,
since paused jobs of an integration that is not disabled go back to
pending. Manual sync answers 409, and periodic work (due syncs, health
checks, subscription renewal, token refresh) looks at active integrations
only: a paused integration makes no provider calls.

Webhook ingestion does no work for this; pausing is the consumers' business.
"""

from __future__ import annotations

from hub.errors import BadRequest
from hub.queue import outbox
from hub.storage.models import Integration, db
from hub.tenancy.integrations import get_integration_by_id

# Statuses a tenant may switch between; the others are the provider's verdict and need a reconnect.
TENANT_SWITCHABLE_STATUSES = ("active", outbox.PAUSING_STATUS)


def switch_status(tenant_id: str, integration_id: str, status: str) -> tuple[Integration, list[outbox.Dispatch]]:
    """Pause or resume an integration; returns it and, on resuming, its parked jobs to enqueue after the commit."""
    if status not in TENANT_SWITCHABLE_STATUSES:
        raise BadRequest(f"A tenant sets status to one of {', '.join(TENANT_SWITCHABLE_STATUSES)}.")
    integration = get_integration_by_id(tenant_id, integration_id)
    integration.status = status
    dispatches = [] if status == outbox.PAUSING_STATUS else outbox.unpark_jobs(integration_id)
    db.session.commit()
    return integration, dispatches
