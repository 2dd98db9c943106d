"""App-level webhook endpoints: one random secret per connector, generated once.

Providers such as Slack send every workspace's events to one URL per app.
That URL's secret is created on first need, stored hashed (for lookup) and
sealed (so `hub connectors list` can print it), and never derived from
anything guessable.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hub.runtime import current_hub
from hub.storage.crypto import connector_app_context
from hub.storage.models import ConnectorApp, db
from hub.storage.secrets import hash_secret
from hub.tenancy.integrations import new_webhook_secret


def app_webhook_secret(connector: str) -> str:
    """The connector app's webhook secret, creating it on first use (race-safe)."""
    keyring = current_hub().keyring
    row = db.session.get(ConnectorApp, connector)
    if row is None:
        secret = new_webhook_secret()
        try:
            with db.session.begin_nested():
                db.session.add(
                    ConnectorApp(
                        connector=connector,
                        webhook_secret_hash=hash_secret(secret),
                        webhook_secret_ciphertext=keyring.encrypt(secret.encode(), connector_app_context(connector)),
                        key_id=keyring.current_key_id,
                    )
                )
            db.session.commit()
            return secret
        except IntegrityError:
            db.session.rollback()
            row = db.session.get(ConnectorApp, connector)
            if row is None:
                raise
    return keyring.decrypt(row.webhook_secret_ciphertext, connector_app_context(connector)).decode()


def app_webhook_url(connector: str) -> str:
    return f"{current_hub().settings['APP_BASE_URL']}/api/webhooks/{connector}/{app_webhook_secret(connector)}"


def connector_for_app_secret(connector: str, secret: str) -> ConnectorApp | None:
    return db.session.execute(
        sa.select(ConnectorApp).where(ConnectorApp.connector == connector, ConnectorApp.webhook_secret_hash == hash_secret(secret))
    ).scalar_one_or_none()
