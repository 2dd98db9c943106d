"""Tenant API keys: issue (shown once), list, revoke, and authenticate a call by one.

A tenant holds several live keys at once, so a key is rotated without
downtime: issue a new one, move the callers to it, revoke the old one. Only
a key's SHA-256 is stored (256 bits of randomness need no slow KDF), with
its first characters (`prefix`) so people can tell keys apart. Every call
reads the key's row, nothing is cached: a revoked key is refused by every
process from the next request on.

`last_used_at` is kept to the minute. It is written only when the stored
value is older than that, by a conditional UPDATE committed at once, so a
busy key costs one short write a minute instead of one per request, and
the write never holds SQLite's lock beyond its own statement.
"""

from __future__ import annotations

import hmac
import logging
import secrets
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import SQLAlchemyError

from hub.errors import ApiKeyLimitReached, NotFound
from hub.storage.models import ApiKey, Tenant, db, isoformat, utcnow
from hub.storage.secrets import hash_secret
from hub.tenancy.quotas import lock_tenant

log = logging.getLogger(__name__)

API_KEY_PREFIX = "hub_sk_"
# Enough for any rotation scheme; bounds what one leaked key could mint.
MAX_LIVE_KEYS = 100
LAST_USED_RESOLUTION = timedelta(minutes=1)


def issue_api_key(tenant_id: str, name: str | None = None) -> tuple[ApiKey, str]:
    """Add a key to the session (the caller commits); returns its row and the key, which is never stored."""
    key = API_KEY_PREFIX + secrets.token_urlsafe(32)
    row = ApiKey(tenant_id=tenant_id, key_hash=hash_secret(key), prefix=key[: len(API_KEY_PREFIX) + 4], name=name, created_at=utcnow())
    db.session.add(row)
    db.session.flush()
    return row, key


def create_api_key(tenant_id: str, name: str | None = None) -> tuple[ApiKey, str]:
    """A new live key for the tenant, within `MAX_LIVE_KEYS`; 404 for an unknown or deleted tenant."""
    lock_tenant(tenant_id)
    tenant = db.session.get(Tenant, tenant_id)
    if tenant is None or tenant.deleted_at is not None:
        db.session.rollback()
        raise NotFound("No such tenant")
    live = db.session.execute(
        sa.select(sa.func.count()).select_from(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))
    ).scalar_one()
    if live >= MAX_LIVE_KEYS:
        db.session.rollback()
        raise ApiKeyLimitReached(f"A tenant may hold {MAX_LIVE_KEYS} live API keys; revoke one before creating another.", limit=MAX_LIVE_KEYS)
    row, key = issue_api_key(tenant_id, name)
    db.session.commit()
    return row, key


def list_api_keys(tenant_id: str) -> list[ApiKey]:
    """The tenant's live keys, oldest first."""
    return list(
        db.session.execute(
            sa.select(ApiKey).where(ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None)).order_by(ApiKey.created_at, ApiKey.id)
        ).scalars()
    )


def revoke_api_key(key_id: str, *, tenant_id: str | None) -> None:
    """Revoke one live key; `tenant_id` None is the operator's reach (CLI). Unknown, revoked or another tenant's: 404."""
    condition = [ApiKey.id == key_id, ApiKey.revoked_at.is_(None)]
    if tenant_id is not None:
        condition.append(ApiKey.tenant_id == tenant_id)
    revoked = db.session.execute(
        sa.update(ApiKey).where(*condition).values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount
    if revoked != 1:
        db.session.rollback()
        raise NotFound("No such API key")
    db.session.commit()


def tenant_for_api_key(presented: str) -> str | None:
    """The tenant id a live API key belongs to, or None. Compares hashes in constant time."""
    found = live_api_key(presented)
    return found[1] if found is not None else None


_api_keys = ApiKey.__table__
# Built once: every authenticated call runs it, and building an ORM statement costs more than running this one.
_LIVE_KEY_BY_HASH = sa.select(_api_keys.c.id, _api_keys.c.tenant_id, _api_keys.c.key_hash, _api_keys.c.last_used_at).where(
    _api_keys.c.key_hash == sa.bindparam("digest"), _api_keys.c.revoked_at.is_(None)
)


def live_api_key(presented: str) -> tuple[str, str] | None:
    """The id and tenant id of a live API key, or None. Compares hashes in constant time."""
    if not presented.startswith(API_KEY_PREFIX) or len(presented) > 200:
        return None
    digest = hash_secret(presented)
    row = db.session.connection().execute(_LIVE_KEY_BY_HASH, {"digest": digest}).first()
    if row is None or not hmac.compare_digest(row.key_hash, digest):
        return None
    _note_use(row.id, row.last_used_at)
    return row.id, row.tenant_id


def api_key_is_live(key_id: str, tenant_id: str) -> bool:
    """Whether this key of this tenant is still unrevoked: a console session lives only as long as its key."""
    found = db.session.execute(
        sa.select(ApiKey.id).where(ApiKey.id == key_id, ApiKey.tenant_id == tenant_id, ApiKey.revoked_at.is_(None))
    ).first()
    return found is not None


def _note_use(key_id: str, last_used_at: datetime | None) -> None:
    """Record the key's use when the stored time is more than a minute old; bookkeeping never fails a call."""
    now = utcnow()
    if last_used_at is not None and now - last_used_at < LAST_USED_RESOLUTION:
        return
    stale = sa.or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < now - LAST_USED_RESOLUTION)
    try:
        db.session.execute(
            sa.update(ApiKey).where(ApiKey.id == key_id, stale).values(last_used_at=now).execution_options(synchronize_session=False)
        )
        db.session.commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        log.warning("could not record the use of API key %s: %s", key_id, type(error).__name__)


def serialize_api_key(row: ApiKey) -> dict[str, Any]:
    """The API view of a key: never the key, never its hash."""
    return {
        "id": row.id,
        "name": row.name,
        "prefix": row.prefix,
        "created_at": isoformat(row.created_at),
        "last_used_at": isoformat(row.last_used_at),
    }
