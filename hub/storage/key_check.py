"""Whether the configured key ring opens the data stored under it.

A wrong but well-formed ENCRYPTION_KEY (the right key id with other key
material, or a new ring that lost the key old data was sealed under) would
start, answer /readyz with 200, and fail every credential read. So every key
id that seals stored data gets a key-check record: a known value sealed under
that key. The ring is sound when every record opens (a wrong key cannot open
its record) and no record names a key id the ring lacks (data sealed under a
key the ring lost). That costs one read of a table of a few rows and one
AES-GCM open per key, cheap enough for every readiness probe.

Records are written at start (`hub serve`, gunicorn workers, `hub worker`,
`hub keys rotate`), by a process whose ring passed the check, for the key it
will seal with. At start the check also reads which key ids the stored
ciphertexts name, so data sealed before its key had a record (an older
database, a process started some other way) is proved by opening a few of
those ciphertexts before the key is recorded. `hub keys rotate` retires the
records of keys no ciphertext uses any more, so the old key can then leave
the ring. Migrations do not run the check: they may run before the table
exists.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from hub.errors import ConfigurationError, DecryptionFailed
from hub.storage.crypto import OAUTH_STATE_CONTEXT, KeyRing, connector_app_context, integration_context
from hub.storage.models import ConnectorApp, Integration, KeyCheck, OAuthState, db, utcnow

log = logging.getLogger(__name__)

KEY_CHECK_CONTEXT = "key-check"
KEY_CHECK_VALUE = b"hub key check"
SAMPLES_PER_KEY = 3


class KeysDoNotOpenStoredData(ConfigurationError):
    """The key ring cannot open what the database holds; nothing would work."""


def ring_problems(keyring: KeyRing, connection: sa.Connection | None = None) -> list[str]:
    """What is wrong with the ring against the key-check records (empty when it is sound).

    Probes pass a read-only connection of their own, so a readiness check never takes SQLite's write lock.
    """
    reader = connection if connection is not None else db.session
    rows = reader.execute(sa.select(KeyCheck.key_id, KeyCheck.sealed)).all()
    return [problem for key_id, sealed in rows if (problem := _record_problem(keyring, key_id, sealed))]


def _record_problem(keyring: KeyRing, key_id: str, sealed: str) -> str | None:
    if key_id not in keyring.key_ids:
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


def verify_keys(keyring: KeyRing) -> None:
    """Refuse a ring that cannot open stored data, then record the key this process seals with."""
    recorded = set(db.session.execute(sa.select(KeyCheck.key_id)).scalars())
    problems = ring_problems(keyring)
    proved: list[str] = []
    for key_id, samples in _unrecorded_key_ids_in_data(recorded):
        if key_id not in keyring.key_ids:
            problems.append(f"stored data is sealed under key {key_id}, which ENCRYPTION_KEY does not hold")
        elif not any(_opens(keyring, token, context) for token, context in samples):
            problems.append(f"ENCRYPTION_KEY entry {key_id} does not open the data stored under {key_id}")
        else:
            proved.append(key_id)
    db.session.rollback()
    if problems:
        raise KeysDoNotOpenStoredData("ENCRYPTION_KEY does not match the stored data: " + "; ".join(problems))
    for key_id in {*proved, keyring.current_key_id} - recorded:
        _record(keyring, key_id)
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


def _unrecorded_key_ids_in_data(recorded: set[str]) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """Each key id that stored ciphertexts name but no record does, with a few of those ciphertexts and their contexts."""
    for key_id in db.session.execute(sa.select(Integration.key_id).distinct()).scalars().all():
        if key_id in recorded:
            continue
        rows = db.session.execute(
            sa.select(Integration.tenant_id, Integration.id, Integration.credentials_ciphertext)
            .where(Integration.key_id == key_id).limit(SAMPLES_PER_KEY)
        ).all()
        yield key_id, [(token, integration_context(tenant, row_id, "credentials")) for tenant, row_id, token in rows]
        recorded = recorded | {key_id}
    others: dict[str, list[tuple[str, str]]] = {}
    for connector, token in db.session.execute(sa.select(ConnectorApp.connector, ConnectorApp.webhook_secret_ciphertext)):
        others.setdefault(KeyRing.key_id_of(token), []).append((token, connector_app_context(connector)))
    for token in db.session.execute(sa.select(OAuthState.payload_ciphertext)).scalars():
        others.setdefault(KeyRing.key_id_of(token), []).append((token, OAUTH_STATE_CONTEXT))
    for key_id, samples in others.items():
        if key_id not in recorded:
            yield key_id, samples[:SAMPLES_PER_KEY]


def retire_unused_keys(keyring: KeyRing) -> list[str]:
    """Drop the records of keys no stored ciphertext uses any more (after a full rotation); returns their ids."""
    retired = []
    for key_id in db.session.execute(sa.select(KeyCheck.key_id)).scalars().all():
        if key_id == keyring.current_key_id or _key_in_use(key_id):
            continue
        db.session.execute(sa.delete(KeyCheck).where(KeyCheck.key_id == key_id))
        retired.append(key_id)
    db.session.commit()
    return retired


def _key_in_use(key_id: str) -> bool:
    if db.session.execute(sa.select(Integration.id).where(Integration.key_id == key_id).limit(1)).first():
        return True
    tokens = [
        *db.session.execute(sa.select(ConnectorApp.webhook_secret_ciphertext)).scalars(),
        *db.session.execute(sa.select(OAuthState.payload_ciphertext)).scalars(),
    ]
    return any(KeyRing.key_id_of(token) == key_id for token in tokens)


def verify_keys_at_start(keyring: KeyRing) -> None:
    """The start of a serving process: refuse wrong keys; an unreachable database only warns.

    A database that is down at start is an outage, not a configuration error:
    the process starts, /readyz reports the database (and the keys) until it
    is back.
    """
    try:
        with db.engine.connect() as connection:
            has_table = sa.inspect(connection).has_table(KeyCheck.__tablename__)
    except sa.exc.DBAPIError as error:
        log.warning("keys not checked at start, the database is unreachable (%s); /readyz checks them", type(error).__name__)
        return
    if not has_table:
        raise ConfigurationError("the database has no key_checks table: run `hub db upgrade` first")
    verify_keys(keyring)
