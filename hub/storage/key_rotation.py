"""Key rotation, both levels, online.

`hub keys rotate` re-wraps every live data key under the provider's newest
master key: one provider call per data key, and no row that a data key
sealed is touched. `hub keys rotate --data-keys` gives each owner a new data
key and re-seals every value under it (including values sealed under the
old ENCRYPTION_KEY ring), in batches, beside live traffic: each row is
rewritten with a compare-and-set on its version (integrations), key id
(connector apps) or ciphertext (OAuth states), so a rotation never
overwrites a credential that a token refresh wrote meanwhile. Such a row was
sealed by its writer under the newest key already, or is picked up by the
next batch. An interrupted run is resumed by running it again: an owner that
still has values under an older key keeps its newest key and only the
remaining values move.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import sqlalchemy as sa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.errors import DecryptionFailed
from hub.storage.crypto import OAUTH_STATE_CONTEXT, connector_app_context, destination_context, integration_context
from hub.storage.envelope import Envelope, b64encode_blob, key_id_of
from hub.storage.key_check import retire_unused_keys
from hub.storage.models import ConnectorApp, DataKey, Destination, Integration, OAuthState, Tenant, db


@dataclass
class RewrapReport:
    rewrapped: int = 0
    other_provider: int = 0
    master_key_id: str = ""


@dataclass
class ResealReport:
    new_data_keys: int = 0
    resealed: int = 0
    skipped_concurrent: int = 0
    unreadable: int = 0


def rewrap_data_keys(envelope: Envelope, batch_size: int = 200) -> RewrapReport:
    """Re-wrap every live data key not under the newest master key; rows sealed with them stay as they are."""
    report = RewrapReport(master_key_id=envelope.current_master_key_id())
    done: set[str] = set()
    while True:
        rows = db.session.execute(
            sa.select(DataKey.id, DataKey.tenant_id, DataKey.provider, DataKey.master_key_id, DataKey.wrapped_key)
            .where(DataKey.destroyed_at.is_(None), DataKey.master_key_id != report.master_key_id, DataKey.id.not_in(done))
            .order_by(DataKey.id).limit(batch_size)
        ).all()
        if not rows:
            break
        for row in rows:
            done.add(row.id)
            if row.provider != envelope.provider.name:
                report.other_provider += 1
                continue
            wrapped = envelope.rewrap(row.tenant_id, row.id, row.master_key_id, row.wrapped_key)
            result = db.session.execute(
                sa.update(DataKey).where(DataKey.id == row.id, DataKey.wrapped_key == row.wrapped_key, DataKey.destroyed_at.is_(None))
                .values(master_key_id=wrapped.master_key_id, wrapped_key=b64encode_blob(wrapped.blob))
                .execution_options(synchronize_session=False)
            )
            report.rewrapped += result.rowcount
        db.session.commit()
    return report


def rotate_data_keys(envelope: Envelope, batch_size: int = 500) -> ResealReport:
    """New data keys for every owner and every value re-sealed under them; then the ring's key-check records retire."""
    report = ResealReport()
    for owner in _owners():
        key_id, aead = _rotation_key(envelope, owner, report)
        if owner is None:
            _reseal_hub_values(envelope, key_id, aead, report)
        else:
            _reseal_integrations(envelope, owner, key_id, aead, batch_size, report)
            _reseal_destinations(envelope, owner, key_id, aead, report)
    if not report.skipped_concurrent and not report.unreadable:
        retire_unused_keys()
    return report


def _owners() -> Iterator[str | None]:
    yield None
    owners = sa.union(sa.select(Integration.tenant_id.label("tenant_id")), sa.select(Destination.tenant_id.label("tenant_id"))).subquery()
    tenants = db.session.execute(
        sa.select(owners.c.tenant_id).join(Tenant, Tenant.id == owners.c.tenant_id)
        .where(Tenant.deleted_at.is_(None)).order_by(owners.c.tenant_id)
    ).scalars().all()
    yield from tenants


def _rotation_key(envelope: Envelope, owner: str | None, report: ResealReport) -> tuple[str, AESGCM]:
    """The key to move the owner's values to: its newest, while an interrupted run left values elsewhere; else a new one."""
    newest = db.session.execute(
        sa.select(DataKey.id).where(_owned_by(owner), DataKey.destroyed_at.is_(None))
        .order_by(DataKey.created_at.desc(), DataKey.id.desc()).limit(1)
    ).scalar_one_or_none()
    if newest is not None and not _has_values_elsewhere(owner, newest):
        newest = None
    if newest is None:
        key_id, aead = envelope.create_data_key(owner)
        db.session.commit()
        report.new_data_keys += 1
        return key_id, aead
    return newest, envelope.data_key(newest, owner)


def _owned_by(owner: str | None) -> sa.ColumnElement[bool]:
    return DataKey.tenant_id.is_(None) if owner is None else DataKey.tenant_id == owner


def _has_values_elsewhere(owner: str | None, key_id: str) -> bool:
    if owner is not None:
        return db.session.execute(
            sa.select(Integration.id).where(Integration.tenant_id == owner, Integration.key_id != key_id).limit(1)
        ).first() is not None or db.session.execute(
            sa.select(Destination.id).where(Destination.tenant_id == owner, Destination.key_id != key_id).limit(1)
        ).first() is not None
    if db.session.execute(sa.select(ConnectorApp.connector).where(ConnectorApp.key_id != key_id).limit(1)).first():
        return True
    return any(key_id_of(token) != key_id for token in db.session.execute(sa.select(OAuthState.payload_ciphertext)).scalars())


def _reseal_integrations(envelope: Envelope, tenant_id: str, key_id: str, aead: AESGCM, batch_size: int, report: ResealReport) -> None:
    skipped: set[str] = set()
    while True:
        rows = db.session.execute(
            sa.select(Integration.id, Integration.version, Integration.credentials_ciphertext, Integration.webhook_secret_ciphertext)
            .where(Integration.tenant_id == tenant_id, Integration.key_id != key_id, Integration.id.not_in(skipped))
            .order_by(Integration.id).limit(batch_size)
        ).all()
        if not rows:
            break
        progressed = False
        for row in rows:
            credentials_context = integration_context(tenant_id, row.id, "credentials")
            secret_context = integration_context(tenant_id, row.id, "webhook_secret")
            try:
                credentials = envelope.open(tenant_id, credentials_context, row.credentials_ciphertext)
                secret = envelope.open(tenant_id, secret_context, row.webhook_secret_ciphertext)
            except DecryptionFailed:
                report.unreadable += 1
                skipped.add(row.id)
                continue
            result = db.session.execute(
                sa.update(Integration).where(Integration.id == row.id, Integration.version == row.version)
                .values(
                    credentials_ciphertext=envelope.seal_with(key_id, aead, tenant_id, credentials_context, credentials),
                    webhook_secret_ciphertext=envelope.seal_with(key_id, aead, tenant_id, secret_context, secret),
                    key_id=key_id, version=row.version + 1,
                )
                .execution_options(synchronize_session=False)
            )
            if result.rowcount == 1:
                report.resealed += 1
                progressed = True
            else:
                report.skipped_concurrent += 1
        db.session.commit()
        if not progressed:
            break


def _reseal_destinations(envelope: Envelope, tenant_id: str, key_id: str, aead: AESGCM, report: ResealReport) -> None:
    """The tenant's destination signing secrets (the current one and, during a rotation, the previous) under `key_id`."""
    rows = db.session.execute(
        sa.select(Destination.id, Destination.secret_ciphertext, Destination.previous_secret_ciphertext)
        .where(Destination.tenant_id == tenant_id, Destination.key_id != key_id)
    ).all()
    for row in rows:
        context = destination_context(tenant_id, row.id)
        try:
            secret = envelope.open(tenant_id, context, row.secret_ciphertext)
            previous = envelope.open(tenant_id, context, row.previous_secret_ciphertext) if row.previous_secret_ciphertext else None
        except DecryptionFailed:
            report.unreadable += 1
            continue
        result = db.session.execute(
            sa.update(Destination).where(Destination.id == row.id, Destination.secret_ciphertext == row.secret_ciphertext)
            .values(
                secret_ciphertext=envelope.seal_with(key_id, aead, tenant_id, context, secret),
                previous_secret_ciphertext=envelope.seal_with(key_id, aead, tenant_id, context, previous) if previous is not None else None,
                key_id=key_id,
            )
            .execution_options(synchronize_session=False)
        )
        if result.rowcount == 1:
            report.resealed += 1
        else:
            report.skipped_concurrent += 1
    db.session.commit()


def _reseal_hub_values(envelope: Envelope, key_id: str, aead: AESGCM, report: ResealReport) -> None:
    for connector, token in db.session.execute(
        sa.select(ConnectorApp.connector, ConnectorApp.webhook_secret_ciphertext).where(ConnectorApp.key_id != key_id)
    ).all():
        context = connector_app_context(connector)
        try:
            secret = envelope.open(None, context, token)
        except DecryptionFailed:
            report.unreadable += 1
            continue
        result = db.session.execute(
            sa.update(ConnectorApp).where(ConnectorApp.connector == connector, ConnectorApp.webhook_secret_ciphertext == token)
            .values(webhook_secret_ciphertext=envelope.seal_with(key_id, aead, None, context, secret), key_id=key_id)
            .execution_options(synchronize_session=False)
        )
        report.resealed += result.rowcount
    for state_hash, token in db.session.execute(sa.select(OAuthState.state_hash, OAuthState.payload_ciphertext)).all():
        if key_id_of(token) == key_id:
            continue
        try:
            payload = envelope.open(None, OAUTH_STATE_CONTEXT, token)
        except DecryptionFailed:
            continue  # an expired or broken state: its flow cannot finish anyway
        result = db.session.execute(
            sa.update(OAuthState).where(OAuthState.state_hash == state_hash, OAuthState.payload_ciphertext == token)
            .values(payload_ciphertext=envelope.seal_with(key_id, aead, None, OAUTH_STATE_CONTEXT, payload))
            .execution_options(synchronize_session=False)
        )
        report.resealed += result.rowcount
    db.session.commit()

