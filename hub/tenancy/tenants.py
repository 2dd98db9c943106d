"""Tenants, and the digest that finds a stored secret by its value.

Secrets the hub must recognise but never show again (API keys, webhook
URL secrets) are stored as their SHA-256. They carry 256 bits of
randomness, so a plain hash (not a slow KDF) is the right tool: lookups
stay O(1) and a leaked table does not reveal usable secrets.
"""

from __future__ import annotations

import hashlib

from hub.errors import BadRequest
from hub.storage.models import Tenant, db


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def create_tenant(name: str) -> tuple[Tenant, str]:
    """Create a tenant and its first API key; the key is returned once, never stored."""
    from hub.tenancy.api_keys import issue_api_key  # hub.tenancy.api_keys finds keys by hash_secret, defined here

    name = name.strip()
    if not name or len(name) > 200:
        raise BadRequest("A tenant name must be 1 to 200 characters.")
    tenant = Tenant(name=name)
    db.session.add(tenant)
    db.session.flush()
    _row, api_key = issue_api_key(tenant.id)
    db.session.commit()
    return tenant, api_key
