"""Whether the configured keys open the data stored under them.

Two kinds of key seal stored data. Data keys (hub.storage.envelope) are
unwrapped by the key provider, so a wrong `KMS_KEY` shows at once: a few
stored data keys are unwrapped at start, and /readyz asks the provider for
the newest one. Values sealed before data keys existed (`v1.`) are opened by
the `ENCRYPTION_KEY` ring, and a wrong but well-formed ring (the right key
id with other key material, or a ring that lost the key old data was sealed
under) would start and fail every read of them. So every ring key id that
sealed stored data has a key-check record: a known value sealed under that
key. The ring is sound when every record opens and no record names a key id
the ring lacks; that costs one read of a table of a few rows and one AES-GCM
open per key, cheap enough for every readiness probe.

Records are written at start (`hub serve`, gunicorn workers, `hub worker`,
`hub keys rotate`) for each ring key that `v1.` values use, once a few of
those values opened under it. `hub keys rotate --data-keys` moves those
values to data keys and retires the records, after which ENCRYPTION_KEY is
no longer needed. Migrations do not run the check: they may run before the
tables exist.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hub.errors import ConfigurationError, DecryptionFailed
from hub.errors import KeyProviderUnavailable
from hub.storage.crypto import OAUTH_STATE_CONTEXT, KeyRing, connector_app_context, integration_context
from hub.storage.envelope import Envelope, is_legacy
from hub.storage.models import ConnectorApp, DataKey, Integration, KeyCheck, OAuthState, db, utcnow

log = logging.getLogger(__name__)

KEY_CHECK_CONTEXT = "key-check"
KEY_CHECK_VALUE = b"hub key check"
SAMPLES_PER_KEY = 3
DATA_KEYS_CHECKED_AT_START = 3
LEGACY = Integration.credentials_ciphertext.like("v1.%")


class KeysDoNotOpenStoredData(ConfigurationError):
    """The configured keys (KMS_KEY, ENCRYPTION_KEY) cannot open what the database holds; nothing would work."""


def ring_problems(keyring: KeyRing | None, connection: sa.Connection | None = None) -> list[str]:
    """What is wrong with the ring against the key-check records (empty when it is sound).

    Probes pass a read-only connection of their own, so a readiness check never takes SQLite's write lock.
    """
    reader = connection if connection is not None else db.session
    rows = reader.execute(sa.select(KeyCheck.key_id, KeyCheck.sealed)).all()
    return [problem for key_id, sealed in rows if (problem := _record_problem(keyring, key_id, sealed))]


def _record_problem(keyring: KeyRing | None, key_id: str, sealed: str) -> str | None:
    if keyring is None or key_id not in keyring.key_ids:
        return f"stored data is sealed under key {key_id}, which ENCRYPTION_KEY does not hold"
    if _opens(keyring, sealed, KEY_CHECK_CONTEXT, expected=KEY_CHECK_VALUE):
        return None
    return f"ENCRYPTION_KEY entry {key_id} does not open the data sealed under {key_id} (another key with the same id?)"


def _opens(keyring: KeyRing, token: str, context: str, expected: bytes | None = None) -> bool:
    try:
        opened = keyring.decrypt(token, context)
    except DecryptionFailed:
        return False
    return expected is None or opened == expected


def verify_keys(envelope: Envelope) -> None:
    """Refuse keys that cannot open stored data: the provider's data keys, then the ring's `v1.` values, recording each ring key proved."""
    _verify_data_keys(envelope)
    keyring = envelope.legacy
    recorded = set(db.session.execute(sa.select(KeyCheck.key_id)).scalars())
    problems = ring_problems(keyring)
    proved: list[str] = []
    for key_id, samples in _unrecorded_key_ids_in_data(recorded):
        if keyring is None or key_id not in keyring.key_ids:
            problems.append(f"stored data is sealed under key {key_id}, which ENCRYPTION_KEY does not hold")
        elif not any(_opens(keyring, token, context) for token, context in samples):
            problems.append(f"ENCRYPTION_KEY entry {key_id} does not open the data stored under {key_id}")
        else:
            proved.append(key_id)
    db.session.rollback()
    if problems:
        raise KeysDoNotOpenStoredData("ENCRYPTION_KEY does not match the stored data: " + "; ".join(problems))
    for key_id in set(proved) - recorded:
        _record(keyring, key_id)  # type: ignore[arg-type]
    db.session.commit()
    # Another process may have recorded the same key id a moment earlier, with other key material.
    problems = ring_problems(keyring)
    db.session.rollback()
    if problems:
        raise KeysDoNotOpenStoredData("ENCRYPTION_KEY does not match the stored data: " + "; ".join(problems))


def _record(keyring: KeyRing, key_id: str) -> None:
    values = {"key_id": key_id, "sealed": keyring.encrypt(KEY_CHECK_VALUE, KEY_CHECK_CONTEXT, key_id=key_id)}
    dialect = postgresql if db.engine.dialect.name == "postgresql" else sqlite
    db.session.execute(dialect.insert(KeyCheck).values(**values, created_at=utcnow()).on_conflict_do_nothing())


def _verify_data_keys(envelope: Envelope) -> None:
    """Unwrap the newest few stored data keys (warming the cache); a provider that refuses them is the wrong KMS_KEY."""
    rows = db.session.execute(
        sa.select(DataKey.id, DataKey.tenant_id, DataKey.master_key_id, DataKey.wrapped_key)
        .where(DataKey.destroyed_at.is_(None)).order_by(DataKey.created_at.desc()).limit(DATA_KEYS_CHECKED_AT_START)
    ).all()
    db.session.rollback()
    for row in rows:
        try:
            envelope.data_key(row.id, row.tenant_id)
        except KeyProviderUnavailable:
            log.warning("data keys not checked at start, the key provider is unavailable; /readyz checks it")
            return
        except DecryptionFailed as error:
            raise KeysDoNotOpenStoredData(f"KMS_KEY does not open the stored data keys: data key {row.id}: {error}") from None
        finally:
            db.session.rollback()


def _unrecorded_key_ids_in_data(recorded: set[str]) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """Each ring key id that stored `v1.` ciphertexts name but no record does, with a few of those ciphertexts and their contexts."""
    for key_id in db.session.execute(sa.select(Integration.key_id).where(LEGACY).distinct()).scalars().all():
        if key_id in recorded:
            continue
        rows = db.session.execute(
            sa.select(Integration.tenant_id, Integration.id, Integration.credentials_ciphertext)
            .where(Integration.key_id == key_id, LEGACY).limit(SAMPLES_PER_KEY)
        ).all()
        yield key_id, [(token, integration_context(tenant, row_id, "credentials")) for tenant, row_id, token in rows]
        recorded = recorded | {key_id}
    others: dict[str, list[tuple[str, str]]] = {}
    for connector, token in db.session.execute(sa.select(ConnectorApp.connector, ConnectorApp.webhook_secret_ciphertext)):
        if is_legacy(token):
            others.setdefault(KeyRing.key_id_of(token), []).append((token, connector_app_context(connector)))
    for token in db.session.execute(sa.select(OAuthState.payload_ciphertext)).scalars():
        if is_legacy(token):
            others.setdefault(KeyRing.key_id_of(token), []).append((token, OAUTH_STATE_CONTEXT))
    for key_id, samples in others.items():
        if key_id not in recorded:
            yield key_id, samples[:SAMPLES_PER_KEY]


def retire_unused_keys() -> list[str]:
    """Drop the records of ring keys no stored `v1.` ciphertext uses any more (after `--data-keys`); returns their ids."""
    retired = []
    for key_id in db.session.execute(sa.select(KeyCheck.key_id)).scalars().all():
        if _key_in_use(key_id):
            continue
        db.session.execute(sa.delete(KeyCheck).where(KeyCheck.key_id == key_id))
        retired.append(key_id)
    db.session.commit()
    return retired


def _key_in_use(key_id: str) -> bool:
    if db.session.execute(sa.select(Integration.id).where(Integration.key_id == key_id, LEGACY).limit(1)).first():
        return True
    tokens = [
        *db.session.execute(sa.select(ConnectorApp.webhook_secret_ciphertext)).scalars(),
        *db.session.execute(sa.select(OAuthState.payload_ciphertext)).scalars(),
    ]
    return any(is_legacy(token) and KeyRing.key_id_of(token) == key_id for token in tokens)


def verify_keys_at_start(envelope: Envelope) -> None:
    """The start of a serving process: refuse wrong keys; an unreachable database only warns.

    A database that is down at start is an outage, not a configuration error:
    the process starts, /readyz reports the database (and the keys) until it
    is back.
    """
    try:
        with db.engine.connect() as connection:
            inspector = sa.inspect(connection)
            has_table = all(inspector.has_table(table) for table in (KeyCheck.__tablename__, DataKey.__tablename__))
    except sa.exc.DBAPIError as error:
        log.warning("keys not checked at start, the database is unreachable (%s); /readyz checks them", type(error).__name__)
        return
    if not has_table:
        raise ConfigurationError("the database has no key_checks or data_keys table: run `hub db upgrade` first")
    verify_keys(envelope)
