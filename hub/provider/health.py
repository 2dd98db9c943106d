"""Periodic connector health checks.

For each active integration whose connector implements `check_health`, the
hub makes one cheap authenticated call and records the outcome and the time
on the integration. A revoked grant (the connector says `needs_reauth`)
moves the integration to `needs_reauth`, so the host app can ask its user to
connect again instead of discovering it when a sync fails.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from hub.metrics import HEALTH_CHECKS
from hub.provider.calls import provider_call
from hub.provider.sweeps import IntegrationRef, active_integrations, connectors_with, sweep
from hub.queue.deliveries import announce_integration
from hub.queue.queues import enqueue
from hub.runtime import current_hub
from hub.storage.models import Integration, db, utcnow
from hub.tenancy.integrations import get_integration_by_id, update_integration_status

log = logging.getLogger(__name__)


def check_integration_health(tenant_id: str, integration_id: str) -> str:
    """Run the connector's health check for one integration; returns the recorded status."""
    connector = get_integration_by_id(tenant_id, integration_id).connector
    try:
        with provider_call(tenant_id, integration_id) as call:
            result = current_hub().plugins.check_health(call.connector, session=call.session, credentials=call.credentials)
    except Exception as exc:  # a failing provider call is a health outcome, not a crash
        db.session.rollback()
        log.warning("health check of integration %s failed: %s", integration_id, type(exc).__name__)
        status = "error"
    else:
        if result is None:
            status = "unknown"
        elif result.needs_reauth:
            status = "needs_reauth"
        else:
            status = "ok" if result.ok else "error"
    db.session.execute(
        sa.update(Integration)
        .where(Integration.id == integration_id, Integration.tenant_id == tenant_id)
        .values(health_status=status, last_health_check_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if status == "needs_reauth":
        if get_integration_by_id(tenant_id, integration_id).status == "active":
            integration = update_integration_status(tenant_id, integration_id, "needs_reauth", commit=False)
            dispatches = announce_integration("hub.integration.needs_reauth", integration)
            db.session.commit()
            enqueue(dispatches)
        db.session.commit()
    HEALTH_CHECKS.labels(connector=connector, outcome=status).inc()
    return status


def check_all_integrations() -> dict[str, int]:
    """Check every active integration whose connector has a health check; counts by recorded status."""
    targets = active_integrations(connectors_with("check_health"))

    def check(target: IntegrationRef) -> str:
        return check_integration_health(target.tenant_id, target.integration_id)

    return sweep(targets, check, work="health check")
