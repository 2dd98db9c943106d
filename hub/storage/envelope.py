"""Envelope encryption: the one way any secret is sealed and opened.

Each tenant's secrets are sealed (AES-256-GCM, a fresh 96-bit nonce each
time) with a data key of that tenant; the hub's own secrets (app-level
webhook secrets, OAuth state) with a data key of the hub (owner None). A
data key is made by the key provider (hub.storage.key_providers), stored
only wrapped (hub.storage.models.DataKey), and unwrapped on first use into
a bounded, expiring cache (hub.storage.data_key_cache), so the provider is
asked once per key per `HUB_DATA_KEY_CACHE_SECONDS`, not once per secret.

A sealed value reads `v2.<data key id>.<base64 nonce+ciphertext>` and is
bound, as associated data, to its owner, its context (tenant, integration
and field for credentials) and the data key id: moved to another tenant,
row or field, it does not open. Values sealed before data keys existed
(`v1.`, under the ENCRYPTION_KEY ring) still open while that ring is set;
`hub keys rotate --data-keys` moves them.

When the provider cannot be reached, cached keys keep working and anything
else raises `KeyProviderUnavailable` before a row is written, so a caller
gets 503 with Retry-After and nothing is stored half way.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.errors import DecryptionFailed, Gone, KeyProviderUnavailable
from hub.metrics import KEY_PROVIDER_CALLS, KEY_PROVIDER_SECONDS
from hub.storage.crypto import KeyRing, b64decode_key
from hub.storage.data_key_cache import DataKeyCache
from hub.storage.key_providers import KeyProvider, WrappedKey
from hub.storage.models import DataKey, Tenant, db, utcnow

log = logging.getLogger(__name__)

TOKEN_VERSION = "v2"
LEGACY_VERSION = "v1"
NONCE_BYTES = 12
# /readyz and the readiness gauge ask the provider at most this often per process (a KMS call costs money and time).
PROBE_SECONDS = 15.0
Result = TypeVar("Result")


def b64encode_blob(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def new_data_key_id() -> str:
    return "d" + secrets.token_hex(8)


def provider_context(owner: str | None, data_key_id: str) -> dict[str, str]:
    """What the provider binds a wrapped data key to: ids only, since KMS audit logs show it."""
    if owner is None:
        return {"hub_scope": "hub", "hub_data_key": data_key_id}
    return {"hub_tenant": owner, "hub_data_key": data_key_id}


def key_id_of(token: str) -> str:
    """The data key id (or, for a `v1.` value, the ENCRYPTION_KEY key id) a sealed value names; "" for none."""
    parts = token.split(".", 2)
    return parts[1] if len(parts) == 3 else ""


def is_legacy(token: str) -> bool:
    return token.startswith(LEGACY_VERSION + ".")


class Envelope:
    """Seals and opens every secret of the hub; one per app (`current_hub().envelope`)."""

    def __init__(self, provider: KeyProvider, cache: DataKeyCache, legacy: KeyRing | None = None) -> None:
        self.provider = provider
        self.cache = cache
        self.legacy = legacy
        self._last_probe: tuple[float, str | None, str] | None = None

    def __repr__(self) -> str:
        return f"Envelope(provider={self.provider.name})"

    # sealing and opening

    def seal(self, tenant_id: str | None, context: str, plaintext: bytes) -> str:
        key_id, aead = self.current_data_key(tenant_id)
        return self.seal_with(key_id, aead, tenant_id, context, plaintext)

    @staticmethod
    def seal_with(key_id: str, aead: AESGCM, tenant_id: str | None, context: str, plaintext: bytes) -> str:
        nonce = os.urandom(NONCE_BYTES)
        sealed = aead.encrypt(nonce, plaintext, _aad(tenant_id, context, key_id))
        return f"{TOKEN_VERSION}.{key_id}.{b64encode_blob(nonce + sealed)}"

    def open(self, tenant_id: str | None, context: str, token: str) -> bytes:
        if not isinstance(token, str):
            raise DecryptionFailed("ciphertext is malformed")
        if is_legacy(token):
            if self.legacy is None:
                raise DecryptionFailed("value is sealed under ENCRYPTION_KEY, which is not set")
            return self.legacy.decrypt(token, context)
        try:
            version, key_id, body = token.split(".", 2)
            raw = b64decode_key(body)
        except (ValueError, TypeError):
            raise DecryptionFailed("ciphertext is malformed") from None
        if version != TOKEN_VERSION or len(raw) <= NONCE_BYTES:
            raise DecryptionFailed("ciphertext is malformed")
        aead = self.data_key(key_id, tenant_id)
        try:
            return aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _aad(tenant_id, context, key_id))
        except InvalidTag:
            raise DecryptionFailed("ciphertext does not belong to this record") from None

    def seal_json(self, tenant_id: str | None, context: str, value: Any) -> str:
        return self.seal(tenant_id, context, json.dumps(value, separators=(",", ":")).encode())

    def open_json(self, tenant_id: str | None, context: str, token: str) -> Any:
        return json.loads(self.open(tenant_id, context, token))

    # data keys

    def current_data_key(self, owner: str | None) -> tuple[str, AESGCM]:
        """The owner's newest live data key (made on first need), read from the database on every seal.

        Not cached: after `hub keys rotate --data-keys` every process must seal under the new key at once.
        """
        row = db.session.execute(
            sa.select(DataKey.id, DataKey.master_key_id, DataKey.wrapped_key).where(_owned_by(owner), DataKey.destroyed_at.is_(None))
            .order_by(DataKey.created_at.desc(), DataKey.id.desc()).limit(1)
        ).first()
        if row is None:
            return self.create_data_key(owner)
        return row.id, self._unwrap_row(row.id, owner, row.master_key_id, row.wrapped_key)

    def ensure_data_key(self, owner: str | None) -> None:
        """Have the key the owner's next seal needs unwrapped (made and committed if it has none), or raise now.

        For callers about to spend something they cannot get back before
        they seal (a single-use refresh token, an authorization code): a key
        provider outage then stops them before, not after. Call it at a
        transaction boundary: a key it makes is committed at once.
        """
        self.current_data_key(owner)
        db.session.commit()

    def create_data_key(self, owner: str | None) -> tuple[str, AESGCM]:
        """A new data key for the owner.

        A tenant's key joins the caller's transaction, which also writes the
        rows it seals: both commit or neither. The hub's own key seals values
        that may live outside the database (OAuth state in Redis), so it is
        committed at once; it is only ever made where the session holds no other write.
        """
        if owner is not None:
            tenant = db.session.execute(sa.select(Tenant.deleted_at).where(Tenant.id == owner)).first()
            if tenant is not None and tenant.deleted_at is not None:
                raise Gone("The tenant was deleted.")
        key_id = new_data_key_id()
        plaintext, wrapped = self._ask("generate_data_key", self.provider.generate_data_key, provider_context(owner, key_id))
        aead = AESGCM(plaintext)
        db.session.add(DataKey(
            id=key_id, tenant_id=owner, provider=self.provider.name, master_key_id=wrapped.master_key_id,
            wrapped_key=b64encode_blob(wrapped.blob), created_at=utcnow(),
        ))
        if owner is None:
            db.session.commit()
        else:
            db.session.flush()
        self.cache.put(key_id, owner, aead)
        return key_id, aead

    def data_key(self, key_id: str, owner: str | None) -> AESGCM:
        """The unwrapped data key `key_id`, which must belong to `owner` and be live."""
        cached = self.cache.get(key_id)
        if cached is not None:
            if cached.owner != owner:
                raise DecryptionFailed("ciphertext does not belong to this record")
            return cached.aead
        row = db.session.execute(
            sa.select(DataKey.tenant_id, DataKey.master_key_id, DataKey.wrapped_key, DataKey.destroyed_at).where(DataKey.id == key_id)
        ).first()
        if row is None or row.tenant_id != owner:
            raise DecryptionFailed("ciphertext does not belong to this record")
        if row.destroyed_at is not None or not row.wrapped_key:
            raise DecryptionFailed("the data key of this value was destroyed")
        return self._unwrap_into_cache(key_id, owner, row.master_key_id, row.wrapped_key)

    def _unwrap_row(self, key_id: str, owner: str | None, master_key_id: str, wrapped_key: str | None) -> AESGCM:
        cached = self.cache.get(key_id)
        if cached is not None and cached.owner == owner:
            return cached.aead
        return self._unwrap_into_cache(key_id, owner, master_key_id, wrapped_key)

    def _unwrap_into_cache(self, key_id: str, owner: str | None, master_key_id: str, wrapped_key: str | None) -> AESGCM:
        if not wrapped_key:
            raise DecryptionFailed("the data key of this value was destroyed")
        plaintext = self.unwrap(owner, key_id, master_key_id, wrapped_key)
        aead = AESGCM(plaintext)
        self.cache.put(key_id, owner, aead)
        return aead

    def unwrap(self, owner: str | None, key_id: str, master_key_id: str, wrapped_key: str) -> bytes:
        """Ask the provider, bypassing the cache."""
        wrapped = WrappedKey(master_key_id, b64decode_key(wrapped_key))
        return self._ask("unwrap", self.provider.unwrap, wrapped, provider_context(owner, key_id))

    def rewrap(self, owner: str | None, key_id: str, master_key_id: str, wrapped_key: str) -> WrappedKey:
        wrapped = WrappedKey(master_key_id, b64decode_key(wrapped_key))
        return self._ask("rewrap", self.provider.rewrap, wrapped, provider_context(owner, key_id))

    def current_master_key_id(self) -> str:
        return self._ask("current_master_key_id", self.provider.current_master_key_id)

    def _ask(self, operation: str, call: Callable[..., Result], *args: Any) -> Result:
        """One provider call, counted and timed; a plugin's unexpected exception counts as the provider being unavailable."""
        started = time.perf_counter()
        outcome = "ok"
        try:
            return call(*args)
        except KeyProviderUnavailable:
            outcome = "unavailable"
            raise
        except DecryptionFailed:
            outcome = "refused"
            raise
        except Exception as error:
            outcome = "unavailable"
            log.error("key provider %s failed in %s: %s", self.provider.name, operation, type(error).__name__)
            raise KeyProviderUnavailable() from None
        finally:
            KEY_PROVIDER_CALLS.labels(self.provider.name, operation, outcome).inc()
            KEY_PROVIDER_SECONDS.labels(self.provider.name, operation).observe(time.perf_counter() - started)

    def destroy_data_keys(self, owner: str) -> list[str]:
        """Crypto-shredding: empty the owner's wrapped keys (in the caller's transaction) and forget them here."""
        key_ids = list(db.session.execute(
            sa.select(DataKey.id).where(DataKey.tenant_id == owner, DataKey.destroyed_at.is_(None))
        ).scalars())
        db.session.execute(
            sa.update(DataKey).where(DataKey.tenant_id == owner, DataKey.destroyed_at.is_(None))
            .values(wrapped_key=None, destroyed_at=utcnow()).execution_options(synchronize_session=False)
        )
        self.cache.evict(key_ids)
        return key_ids

    def probe(self, connection: sa.Connection) -> str:
        """Readiness of the key provider: "ok", "unavailable", or "failed" (it refuses the stored data keys).

        Unwraps the newest stored data key without the cache (or makes and
        discards one when none is stored), so it proves both reach and key;
        the answer stands for `PROBE_SECONDS`.
        """
        row = connection.execute(
            sa.select(DataKey.id, DataKey.tenant_id, DataKey.master_key_id, DataKey.wrapped_key)
            .where(DataKey.destroyed_at.is_(None)).order_by(DataKey.created_at.desc()).limit(1)
        ).first()
        now = time.monotonic()
        asked = row.id if row is not None else None
        if self._last_probe is not None and now < self._last_probe[0] and self._last_probe[1] == asked:
            return self._last_probe[2]
        result = self._ask_provider(row)
        self._last_probe = (now + PROBE_SECONDS, asked, result)
        return result

    def _ask_provider(self, row: Any) -> str:
        try:
            if row is None:
                self._ask("generate_data_key", self.provider.generate_data_key, provider_context(None, "probe"))
            else:
                self.unwrap(row.tenant_id, row.id, row.master_key_id, row.wrapped_key)
        except KeyProviderUnavailable:
            return "unavailable"
        except DecryptionFailed as error:
            log.error("not ready: the key provider refuses data key %s: %s", row.id if row else "-", error)
            return "failed"
        return "ok"


def _owned_by(owner: str | None) -> sa.ColumnElement[bool]:
    return DataKey.tenant_id.is_(None) if owner is None else DataKey.tenant_id == owner


def _aad(owner: str | None, context: str, key_id: str) -> bytes:
    return f"hub|{TOKEN_VERSION}|{owner or '-'}|{context}|{key_id}".encode()
