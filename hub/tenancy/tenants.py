"""Tenants: each is created with its first API key, and deleted by destroying its data keys."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hub.errors import BadRequest, NotFound
from hub.runtime import current_hub
from hub.storage.models import ApiKey, Integration, Tenant, db, utcnow
from hub.tenancy.api_keys import issue_api_key


def create_tenant(name: str) -> tuple[Tenant, str]:
    """Create a tenant and its first API key; the key is returned once, never stored."""
    name = name.strip()
    if not name or len(name) > 200:
        raise BadRequest("A tenant name must be 1 to 200 characters.")
    tenant = Tenant(name=name)
    db.session.add(tenant)
    db.session.flush()
    _row, api_key = issue_api_key(tenant.id)
    db.session.commit()
    return tenant, api_key


@dataclass
class TenantDeletion:
    integrations: int
    api_keys: int
    data_keys: int


def delete_tenant(tenant_id: str) -> TenantDeletion:
    """Crypto-shredding: soft-delete the tenant's integrations, revoke its API keys, destroy its data keys.

    With its data keys destroyed no ciphertext of the tenant opens again,
    whoever holds the database and the master key. Values still sealed
    under the shared ENCRYPTION_KEY ring (before data keys) cannot be shredded
    by destroying a key, so they are erased. Its webhooks then get 410, its
    keys 401. Running it again is harmless.
    """
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None:
        raise NotFound("No such tenant")
    now = utcnow()
    integrations = db.session.execute(
        sa.update(Integration).where(Integration.tenant_id == tenant_id, Integration.deleted_at.is_(None))
        .values(deleted_at=now, status="revoked", updated_at=now).execution_options(synchronize_session=False)
    ).rowcount
    for column in (Integration.credentials_ciphertext, Integration.webhook_secret_ciphertext):
        db.session.execute(
            sa.update(Integration).where(Integration.tenant_id == tenant_id, column.like("v1.%"))
            .values({column: ""}).execution_options(synchronize_session=False)
        )
    api_keys = db.session.execute(
        sa.update(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))
        .values(revoked_at=now).execution_options(synchronize_session=False)
    ).rowcount
    destroyed = current_hub().envelope.destroy_data_keys(tenant_id)
    tenant.deleted_at = tenant.deleted_at or now
    db.session.commit()
    return TenantDeletion(integrations=integrations, api_keys=api_keys, data_keys=len(destroyed))
