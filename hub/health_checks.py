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

from hub.http import provider_session
from hub.integrations import update_integration_status
from hub.metrics import HEALTH_CHECKS
from hub.models import Integration, db, utcnow
from hub.state import current_hub
from hub.tokens import fresh_credentials

log = logging.getLogger(__name__)


def check_integration_health(tenant_id: str, integration_id: str) -> str:
    """Run the connector's health check for one integration; returns the recorded status."""
    integration = db.session.execute(
        sa.select(Integration).where(Integration.id == integration_id, Integration.tenant_id == tenant_id)
    ).scalar_one()
    connector = integration.connector
    plugins = current_hub().plugins
    try:
        credentials = fresh_credentials(tenant_id, integration_id)
        result = plugins.check_health(connector, session=provider_session(credentials), credentials=credentials)
    except Exception as exc:  # a failing provider call is a health outcome, not a crash
        log.warning("health check of integration %s failed: %s", integration_id, type(exc).__name__)
        result = None
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
        .where(Integration.id == integration_id)
        .values(health_status=status, last_health_check_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    if status == "needs_reauth":
        current = db.session.get(Integration, integration_id)
        if current is not None and current.status == "active":
            update_integration_status(tenant_id, integration_id, "needs_reauth")
    HEALTH_CHECKS.labels(connector=connector, outcome=status).inc()
    return status


def integrations_to_check() -> list[tuple[str, str]]:
    """(tenant id, integration id) of every active integration whose connector has a health check."""
    plugins = current_hub().plugins
    checkable = [cid for cid in plugins.connectors if plugins.has_hook(cid, "check_health")]
    if not checkable:
        return []
    rows = db.session.execute(
        sa.select(Integration.tenant_id, Integration.id).where(
            Integration.status == "active", Integration.deleted_at.is_(None), Integration.connector.in_(checkable)
        )
    ).all()
    db.session.commit()
    return [(row.tenant_id, row.id) for row in rows]


def check_all_integrations() -> dict[str, int]:
    outcomes: dict[str, int] = {}
    for tenant_id, integration_id in integrations_to_check():
        status = check_integration_health(tenant_id, integration_id)
        outcomes[status] = outcomes.get(status, 0) + 1
    return outcomes
