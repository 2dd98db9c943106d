"""Per-tenant limits, checked so that concurrent creates cannot overshoot them.

A limit is counted in the same transaction as the insert it guards, after
the tenant's row is locked: on PostgreSQL `SELECT ... FOR NO KEY UPDATE`
makes a second create for the same tenant wait and then count again (the
weaker NO KEY lock still lets rows that merely reference the tenant be
inserted); SQLite begins every transaction IMMEDIATE (hub.storage.database), so
its writers are serialized already and the count is current.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.errors import IntegrationQuotaExceeded
from hub.runtime import current_hub
from hub.storage.models import Integration, Tenant, db


def lock_tenant(tenant_id: str) -> None:
    """Hold the tenant's row until the transaction ends (PostgreSQL; SQLite's transaction already excludes writers)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(Tenant.id).where(Tenant.id == tenant_id).with_for_update(key_share=True))


def live_integrations(tenant_id: str) -> int:
    return db.session.execute(
        sa.select(sa.func.count()).select_from(Integration).where(Integration.tenant_id == tenant_id, Integration.deleted_at.is_(None))
    ).scalar_one()


def check_integration_quota(tenant_id: str, *, lock: bool = True) -> None:
    """Raise IntegrationQuotaExceeded when the tenant holds `HUB_MAX_INTEGRATIONS_PER_TENANT` live integrations.

    With `lock` (the default, for the transaction that inserts) the tenant's
    row is locked first; without it, the check is an early answer that saves
    a provider call, and the insert checks again.
    """
    limit = int(current_hub().settings["HUB_MAX_INTEGRATIONS_PER_TENANT"])
    if lock:
        lock_tenant(tenant_id)
    if live_integrations(tenant_id) >= limit:
        raise IntegrationQuotaExceeded(
            f"A tenant may hold {limit} integrations (HUB_MAX_INTEGRATIONS_PER_TENANT); delete one before adding another.",
            limit=limit,
        )
