"""Rows as the hub sealed them before data keys: `v1.` values under the ENCRYPTION_KEY ring."""

from __future__ import annotations

from hub.runtime import current_hub
from hub.storage.crypto import connector_app_context, integration_context
from hub.storage.models import ConnectorApp, Integration, db
from hub.tenancy.connector_apps import app_webhook_secret
from hub.tenancy.integrations import create_integration, webhook_secret_of


def seal_legacy_integration(tenant_id: str, credentials: dict, name: str = "legacy") -> tuple[str, str]:
    """An integration whose secrets are sealed under the ring, as before data keys; returns its id and webhook secret."""
    ring = current_hub().keyring
    row = create_integration(tenant_id, connector="stripe", name=name, credentials=credentials)
    secret = webhook_secret_of(row)
    row.credentials_ciphertext = ring.encrypt_json(credentials, integration_context(tenant_id, row.id, "credentials"))
    row.webhook_secret_ciphertext = ring.encrypt(secret.encode(), integration_context(tenant_id, row.id, "webhook_secret"))
    row.key_id = ring.current_key_id
    db.session.commit()
    return row.id, secret


def seal_legacy_connector_app(connector: str) -> str:
    secret = app_webhook_secret(connector)
    ring = current_hub().keyring
    row = db.session.get(ConnectorApp, connector)
    row.webhook_secret_ciphertext = ring.encrypt(secret.encode(), connector_app_context(connector))
    row.key_id = ring.current_key_id
    db.session.commit()
    return secret


def legacy_rows() -> int:
    return db.session.query(Integration).filter(Integration.credentials_ciphertext.like("v1.%")).count()
