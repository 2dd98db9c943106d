"""Tenants and their API keys.

An API key is shown once, at creation; only its SHA-256 is stored. Keys
carry 256 bits of randomness, so a plain hash (not a slow KDF) is the right
tool: lookups stay O(1) and a leaked table does not reveal usable keys.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

import sqlalchemy as sa

from hub.errors import BadRequest
from hub.models import ApiKey, Tenant, db, utcnow

API_KEY_PREFIX = "hub_sk_"


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()


def create_tenant(name: str) -> tuple[Tenant, str]:
    """Create a tenant and its first API key; the key is returned once, never stored."""
    name = name.strip()
    if not name or len(name) > 200:
        raise BadRequest("A tenant name must be 1 to 200 characters.")
    tenant = Tenant(name=name)
    db.session.add(tenant)
    db.session.flush()
    api_key = issue_api_key(tenant.id)
    db.session.commit()
    return tenant, api_key


def issue_api_key(tenant_id: str) -> str:
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiKey(tenant_id=tenant_id, key_hash=hash_secret(key), prefix=key[: len(API_KEY_PREFIX) + 4]))
    return key


def tenant_for_api_key(presented: str) -> str | None:
    """The tenant id an API key belongs to, or None. Compares hashes in constant time."""
    if not presented.startswith(API_KEY_PREFIX) or len(presented) > 200:
        return None
    digest = hash_secret(presented)
    row = db.session.execute(
        sa.select(ApiKey.tenant_id, ApiKey.key_hash).where(ApiKey.key_hash == digest, ApiKey.revoked_at.is_(None))
    ).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    return row.tenant_id


def revoke_api_keys(tenant_id: str) -> int:
    result = db.session.execute(
        sa.update(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None)).values(revoked_at=utcnow())
    )
    db.session.commit()
    return result.rowcount or 0
