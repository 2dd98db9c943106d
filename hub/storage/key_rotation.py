"""Re-encrypting every stored secret under the newest key of the ring.

Each row is rewritten with a compare-and-set on its version (integrations)
or key id (connector apps), so a rotation running beside live traffic never
overwrites a credential that a token refresh wrote in the meantime; such a
row is simply picked up by the next pass.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from hub.storage.crypto import OAUTH_STATE_CONTEXT, KeyRing, connector_app_context, destination_context, integration_context
from hub.storage.key_check import retire_unused_keys
from hub.storage.models import ConnectorApp, Destination, Integration, OAuthState, db


@dataclass
class RotationReport:
    rotated: int = 0
    skipped_concurrent: int = 0


def _reseal(keyring: KeyRing, token: str, context: str) -> str:
    return keyring.encrypt(keyring.decrypt(token, context), context)


def rotate_keys(keyring: KeyRing, batch_size: int = 500) -> RotationReport:
    """Re-seal every integration, connector app, destination secret and pending OAuth state not under the newest key of `keyring`."""
    current = keyring.current_key_id
    report = RotationReport()
    while True:
        rows = db.session.execute(
            sa.select(Integration).where(Integration.key_id != current).order_by(Integration.id).limit(batch_size)
        ).scalars().all()
        if not rows:
            break
        progressed = False
        for row in rows:
            values = {
                "credentials_ciphertext": _reseal(keyring, row.credentials_ciphertext, integration_context(row.tenant_id, row.id, "credentials")),
                "webhook_secret_ciphertext": _reseal(keyring, row.webhook_secret_ciphertext, integration_context(row.tenant_id, row.id, "webhook_secret")),
                "key_id": current,
                "version": row.version + 1,
            }
            result = db.session.execute(
                sa.update(Integration).where(Integration.id == row.id, Integration.version == row.version).values(**values)
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                report.rotated += 1
                progressed = True
            else:
                report.skipped_concurrent += 1
        db.session.commit()
        db.session.expire_all()
        if not progressed:
            break
    for app_row in db.session.execute(sa.select(ConnectorApp).where(ConnectorApp.key_id != current)).scalars().all():
        app_row.webhook_secret_ciphertext = _reseal(keyring, app_row.webhook_secret_ciphertext, connector_app_context(app_row.connector))
        app_row.key_id = current
        report.rotated += 1
    for destination in db.session.execute(sa.select(Destination).where(Destination.key_id != current)).scalars().all():
        context = destination_context(destination.tenant_id, destination.id)
        destination.secret_ciphertext = _reseal(keyring, destination.secret_ciphertext, context)
        if destination.previous_secret_ciphertext:
            destination.previous_secret_ciphertext = _reseal(keyring, destination.previous_secret_ciphertext, context)
        destination.key_id = current
        report.rotated += 1
    for state in db.session.execute(sa.select(OAuthState)).scalars().all():
        if keyring.needs_rotation(state.payload_ciphertext):
            state.payload_ciphertext = _reseal(keyring, state.payload_ciphertext, OAUTH_STATE_CONTEXT)
            report.rotated += 1
    db.session.commit()
    if not report.skipped_concurrent:
        # Nothing is sealed under the older keys now; their key-check records go, so they can leave the ring.
        retire_unused_keys(keyring)
    return report
