"""Per-tenant limits, checked so that concurrent creates cannot overshoot them.

A limit is counted in the same transaction as the insert it guards, after
the tenant's row is locked: on PostgreSQL `SELECT ... FOR NO KEY UPDATE`
makes a second create for the same tenant wait and then count again (the
weaker NO KEY lock still lets rows that merely reference the tenant be
inserted); SQLite begins every transaction IMMEDIATE (hub.database), so
its writers are serialized already and the count is current.
"""

from __future__ import annotations

import sqlalchemy as sa

from hub.models import Tenant, db


def lock_tenant(tenant_id: str) -> None:
    """Hold the tenant's row until the transaction ends (PostgreSQL; SQLite's transaction already excludes writers)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(Tenant.id).where(Tenant.id == tenant_id).with_for_update(key_share=True))
