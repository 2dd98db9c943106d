"""Tenant-scoped integrations with credentials sealed by the tenant's data key (hub.storage.envelope).

Every function takes the tenant explicitly and filters on it, so another
tenant's integration id behaves exactly like an unknown one. Credential
writes are compare-and-set on `version`, so two writers (two token
refreshes, a refresh and a rotation) cannot silently overwrite each other.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NamedTuple

import sqlalchemy as sa

from hub.errors import BadRequest, Conflict, HubError, NotFound
from hub.runtime import current_hub
from hub.storage.crypto import integration_context
from hub.storage.envelope import key_id_of
from hub.storage.models import Integration, db, isoformat, new_id, utcnow
from hub.storage.pagination import DEFAULT_PAGE_LIMIT, page
from hub.storage.secrets import hash_secret
from hub.tenancy.quotas import check_integration_quota

STATUSES = ("active", "disabled", "needs_reauth", "revoked", "error")
_UNSET: Any = object()


def new_webhook_secret() -> str:
    return "whk_" + secrets.token_urlsafe(32)


def _seal_credentials(tenant_id: str, integration_id: str, credentials: Mapping[str, Any]) -> str:
    return current_hub().envelope.seal_json(tenant_id, integration_context(tenant_id, integration_id, "credentials"), dict(credentials))


def _seal_webhook_secret(tenant_id: str, integration_id: str, secret: str) -> str:
    return current_hub().envelope.seal(tenant_id, integration_context(tenant_id, integration_id, "webhook_secret"), secret.encode())


def create_integration(
    tenant_id: str,
    *,
    connector: str,
    name: str,
    credentials: Mapping[str, Any],
    external_account_id: str | None = None,
    end_user_id: str | None = None,
    token_expires_at: datetime | None = None,
    status: str = "active",
    commit: bool = True,
) -> Integration:
    """Store a new integration; credentials and its webhook secret are sealed to this row.

    `external_account_id` must be what the provider said (see hub.provider.accounts),
    never a caller's claim: it routes app-level webhooks, so it is stored
    as verified. Within the tenant's integration quota, counted under the
    tenant's lock in the transaction that inserts.
    """
    if status not in STATUSES:
        raise BadRequest(f"Unknown status; expected one of {', '.join(STATUSES)}.")
    try:
        check_integration_quota(tenant_id)
    except HubError:
        db.session.rollback()
        raise
    integration_id = new_id()
    secret = new_webhook_secret()
    try:
        webhook_secret_ciphertext = _seal_webhook_secret(tenant_id, integration_id, secret)
        credentials_ciphertext = _seal_credentials(tenant_id, integration_id, credentials)
    except HubError:  # the key provider is unavailable: nothing is stored
        db.session.rollback()
        raise
    integration = Integration(
        id=integration_id,
        tenant_id=tenant_id,
        connector=connector,
        name=name,
        status=status,
        external_account_id=external_account_id,
        account_verified_at=utcnow() if external_account_id is not None else None,
        end_user_id=end_user_id,
        webhook_secret_hash=hash_secret(secret),
        webhook_secret_ciphertext=webhook_secret_ciphertext,
        credentials_ciphertext=credentials_ciphertext,
        key_id=key_id_of(credentials_ciphertext),
        version=1,
        token_expires_at=token_expires_at,
    )
    db.session.add(integration)
    if commit:
        db.session.commit()
    return integration


def _scoped(tenant_id: str, integration_id: str, include_deleted: bool = False) -> sa.Select:
    query = sa.select(Integration).where(Integration.id == integration_id, Integration.tenant_id == tenant_id)
    if not include_deleted:
        query = query.where(Integration.deleted_at.is_(None))
    return query


def get_integration_by_id(tenant_id: str, integration_id: str, *, include_deleted: bool = False) -> Integration:
    integration = db.session.execute(_scoped(tenant_id, integration_id, include_deleted)).scalar_one_or_none()
    if integration is None:
        raise NotFound("No such integration")
    return integration


def tenant_of_integration(integration_id: str) -> str:
    """The tenant a live integration belongs to: for operators' commands, which name an integration by id alone."""
    tenant_id = db.session.execute(
        sa.select(Integration.tenant_id).where(Integration.id == integration_id, Integration.deleted_at.is_(None))
    ).scalar_one_or_none()
    if tenant_id is None:
        raise NotFound("No such integration")
    return tenant_id


def decrypt_credentials(integration: Integration) -> dict[str, Any]:
    return open_credentials(integration.tenant_id, integration.id, integration.credentials_ciphertext)


def open_credentials(tenant_id: str, integration_id: str, ciphertext: str) -> dict[str, Any]:
    """Decrypt a credentials ciphertext of this row (for callers that read columns, not rows)."""
    return current_hub().envelope.open_json(tenant_id, integration_context(tenant_id, integration_id, "credentials"), ciphertext)


def webhook_secret_of(integration: Integration) -> str:
    return current_hub().envelope.open(
        integration.tenant_id,
        integration_context(integration.tenant_id, integration.id, "webhook_secret"),
        integration.webhook_secret_ciphertext,
    ).decode()


def get_integration_with_credentials(tenant_id: str, integration_id: str) -> tuple[Integration, dict[str, Any]]:
    """The integration and its decrypted credentials (for workers and connectors only)."""
    integration = get_integration_by_id(tenant_id, integration_id)
    return integration, decrypt_credentials(integration)


class IntegrationInUse(NamedTuple):
    """The columns a call through an integration reads: who it is, its connector, its state and its token's expiry."""

    id: str
    tenant_id: str
    connector: str
    status: str
    token_expires_at: datetime | None
    credentials_ciphertext: str


_integrations = Integration.__table__
# Built once: the hot path (every proxied call) pays neither statement construction nor ORM loading.
_IN_USE = sa.select(*(_integrations.c[name] for name in IntegrationInUse._fields)).where(
    _integrations.c.id == sa.bindparam("integration_id"),
    _integrations.c.tenant_id == sa.bindparam("tenant_id"),
    _integrations.c.deleted_at.is_(None),
)


def integration_in_use(tenant_id: str, integration_id: str) -> tuple[IntegrationInUse, dict[str, Any]]:
    """A live integration of this tenant, as the values a call needs, with its decrypted credentials; 404 otherwise."""
    row = db.session.connection().execute(_IN_USE, {"integration_id": integration_id, "tenant_id": tenant_id}).first()
    if row is None:
        raise NotFound("No such integration")
    integration = IntegrationInUse(*row)
    return integration, open_credentials(integration.tenant_id, integration.id, integration.credentials_ciphertext)


def update_integration_credentials(
    tenant_id: str,
    integration_id: str,
    credentials: Mapping[str, Any],
    *,
    expected_version: int | None = None,
    token_expires_at: datetime | None = _UNSET,
    status: str | None = None,
    external_account_id: str | None = _UNSET,
) -> Integration:
    """Replace the credentials; with `expected_version`, fail with Conflict if another writer won.

    `external_account_id`, when given, is what the provider said the new
    credentials belong to (None: no account), written with them.
    """
    integration = get_integration_by_id(tenant_id, integration_id)
    version = integration.version if expected_version is None else expected_version
    try:
        credentials_ciphertext = _seal_credentials(tenant_id, integration_id, credentials)
        # key_id names the key of every ciphertext in the row, so the webhook secret moves with it
        webhook_secret_ciphertext = _seal_webhook_secret(tenant_id, integration_id, webhook_secret_of(integration))
    except HubError:
        db.session.rollback()
        raise
    values: dict[str, Any] = {
        "credentials_ciphertext": credentials_ciphertext,
        "webhook_secret_ciphertext": webhook_secret_ciphertext,
        "key_id": key_id_of(credentials_ciphertext),
        "version": version + 1,
        "updated_at": utcnow(),
    }
    if token_expires_at is not _UNSET:
        values["token_expires_at"] = token_expires_at
    if status is not None:
        values["status"] = status
    if external_account_id is not _UNSET:
        values["external_account_id"] = external_account_id
        values["account_verified_at"] = utcnow() if external_account_id is not None else None
    result = db.session.execute(
        sa.update(Integration)
        .where(Integration.id == integration_id, Integration.tenant_id == tenant_id, Integration.version == version)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        db.session.rollback()
        raise Conflict("The integration was changed by another writer; reload and retry.")
    db.session.commit()
    db.session.refresh(integration)
    return integration


def list_integrations(
    tenant_id: str,
    *,
    connector: str | None = None,
    status: str | None = None,
    limit: int = DEFAULT_PAGE_LIMIT,
    cursor: str | None = None,
) -> tuple[list[Integration], str | None]:
    """The tenant's live integrations, oldest first, one page at a time; and the cursor of the next page."""
    if status is not None and status not in STATUSES:
        raise BadRequest(f"Unknown status; expected one of {', '.join(STATUSES)}.")
    query = sa.select(Integration).where(Integration.tenant_id == tenant_id, Integration.deleted_at.is_(None))
    if connector:
        query = query.where(Integration.connector == connector)
    if status:
        query = query.where(Integration.status == status)
    return page(query, Integration.created_at, Integration.id, cursor=cursor, limit=limit, newest_first=False)


def delete_integration(tenant_id: str, integration_id: str, *, commit: bool = True) -> Integration:
    """Soft delete: the row stays (events keep their integration) and webhooks to it get 410.

    Without `commit` the change waits in the session for the caller's
    commit, so what the caller writes with it (the announcement of the
    deletion) is committed together.
    """
    integration = get_integration_by_id(tenant_id, integration_id)
    integration.deleted_at = utcnow()
    integration.status = "revoked"
    integration.updated_at = utcnow()
    if commit:
        db.session.commit()
    return integration


def update_integration_status(tenant_id: str, integration_id: str, status: str, *, commit: bool = True) -> Integration:
    """Set the status; without `commit`, as for `delete_integration`, the caller commits."""
    if status not in STATUSES:
        raise BadRequest(f"Unknown status; expected one of {', '.join(STATUSES)}.")
    integration = get_integration_by_id(tenant_id, integration_id)
    integration.status = status
    integration.updated_at = utcnow()
    if commit:
        db.session.commit()
    return integration


def rename_integration(tenant_id: str, integration_id: str, name: str) -> Integration:
    integration = get_integration_by_id(tenant_id, integration_id)
    integration.name = name
    db.session.commit()
    return integration


def find_by_external_account(tenant_id: str, connector: str, external_account_id: str) -> Integration | None:
    return db.session.execute(
        sa.select(Integration).where(
            Integration.tenant_id == tenant_id,
            Integration.connector == connector,
            Integration.external_account_id == external_account_id,
            Integration.deleted_at.is_(None),
        )
    ).scalars().first()


def webhook_url(integration: Integration) -> str:
    base = current_hub().settings["APP_BASE_URL"]
    return f"{base}/api/webhooks/{integration.connector}/{webhook_secret_of(integration)}"


def serialize_integration(integration: Integration, *, with_webhook_url: bool = True) -> dict[str, Any]:
    """The API view of an integration: never any credential.

    `webhook_url` holds the integration's webhook secret, which must be
    decrypted; lists leave it out, so a row whose ciphertext does not open
    never takes a whole list down with it.
    """
    view = {
        "id": integration.id,
        "connector": integration.connector,
        "name": integration.name,
        "status": integration.status,
        "external_account_id": integration.external_account_id,
        "end_user_id": integration.end_user_id,
        "token_expires_at": isoformat(integration.token_expires_at),
        "last_synced_at": isoformat(integration.last_synced_at),
        "health_status": integration.health_status,
        "last_health_check_at": isoformat(integration.last_health_check_at),
        "created_at": isoformat(integration.created_at),
        "updated_at": isoformat(integration.updated_at),
    }
    if with_webhook_url:
        view["webhook_url"] = webhook_url(integration)
    return view
