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
from hub.storage.envelope import key_id_of
from hub.storage.models import ConnectorApp, db
from hub.storage.secrets import hash_secret
from hub.tenancy.integrations import new_webhook_secret


def app_webhook_secret(connector: str) -> str:
    """The connector app's webhook secret, creating it on first use (race-safe)."""
    envelope = current_hub().envelope
    row = db.session.get(ConnectorApp, connector)
    if row is None:
        secret = new_webhook_secret()
        sealed = envelope.seal(None, connector_app_context(connector), secret.encode())
        try:
            with db.session.begin_nested():
                db.session.add(
                    ConnectorApp(
                        connector=connector,
                        webhook_secret_hash=hash_secret(secret),
                        webhook_secret_ciphertext=sealed,
                        key_id=key_id_of(sealed),
                    )
                )
            db.session.commit()
            return secret
        except IntegrityError:
            db.session.rollback()
            row = db.session.get(ConnectorApp, connector)
            if row is None:
                raise
    return envelope.open(None, connector_app_context(connector), row.webhook_secret_ciphertext).decode()


def app_webhook_url(connector: str) -> str:
    return f"{current_hub().settings['APP_BASE_URL']}/api/webhooks/{connector}/{app_webhook_secret(connector)}"


def connector_for_app_secret(connector: str, secret: str) -> ConnectorApp | None:
    return db.session.execute(
        sa.select(ConnectorApp).where(ConnectorApp.connector == connector, ConnectorApp.webhook_secret_hash == hash_secret(secret))
    ).scalar_one_or_none()
