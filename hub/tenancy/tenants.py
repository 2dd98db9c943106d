"""Tenants: each is created with its first API key."""

from __future__ import annotations

from hub.errors import BadRequest
from hub.storage.models import Tenant, db
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
