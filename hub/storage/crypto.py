"""Credential encryption: AES-256-GCM under a key ring with ids.

Every ciphertext carries the id of the key that sealed it and is bound, as
associated data, to a context (tenant id + integration id for credentials)
and to that key id. A ciphertext copied to another row or tenant therefore
fails to open instead of yielding someone else's secret.

`ENCRYPTION_KEY` holds the ring, newest first: `id:base64key,id:base64key`.
Secrets are now sealed with per-tenant data keys (hub.storage.envelope); the
ring only opens values sealed before (`v1.`) until `hub keys rotate
--data-keys` has moved them, and the key check (hub.storage.key_check) proves
it is the right ring meanwhile. Ring entries may themselves be wrapped by a
local `KMS_KEY` (as `hub keys generate` made them when one was set).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.errors import ConfigurationError, DecryptionFailed

TOKEN_VERSION = "v1"
NONCE_BYTES = 12
KEY_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64decode_key(text: str) -> bytes:
    """Decode url-safe or standard base64, padded or not."""
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))


def generate_key_entry(kms_key: str | None = None) -> str:
    """A new ring entry `id:base64key` (wrapped by the KMS key when one is given)."""
    key = AESGCM.generate_key(bit_length=256)
    key_id = "k" + secrets.token_hex(4)
    if kms_key:
        return f"{key_id}:{_b64(_wrap(_kek(kms_key), key_id, key))}"
    return f"{key_id}:{_b64(key)}"


def _kek(kms_key: str) -> AESGCM:
    material = b64decode_key(kms_key)
    if len(material) != KEY_BYTES:
        raise ConfigurationError("KMS_KEY must be 32 bytes of base64")
    return AESGCM(material)


def _wrap(kek: AESGCM, key_id: str, key: bytes) -> bytes:
    nonce = os.urandom(NONCE_BYTES)
    return nonce + kek.encrypt(nonce, key, f"hub-kek|{key_id}".encode())


def _unwrap(keks: list[AESGCM], key_id: str, wrapped: bytes) -> bytes:
    for kek in keks:
        try:
            return kek.decrypt(wrapped[:NONCE_BYTES], wrapped[NONCE_BYTES:], f"hub-kek|{key_id}".encode())
        except InvalidTag:
            continue
    raise ConfigurationError(f"ENCRYPTION_KEY entry {key_id} does not unwrap under KMS_KEY")


@dataclass(frozen=True)
class KeyRing:
    """Ordered keys, newest first. `repr` never shows key material."""

    keys: tuple[tuple[str, AESGCM], ...]

    @classmethod
    def from_setting(cls, setting: str, kms_key: str | None = None) -> "KeyRing":
        """`kms_key`: the local KMS_KEY (one base64 key, or several newest first) that wrapped the entries, if any."""
        keks = [_kek(part) for part in kms_key.split(",") if part.strip()] if kms_key else []
        keys: list[tuple[str, AESGCM]] = []
        for raw in (part.strip() for part in setting.split(",")):
            if not raw:
                continue
            key_id, _, encoded = raw.rpartition(":")
            try:
                material = b64decode_key(encoded)
            except (ValueError, TypeError):
                raise ConfigurationError("ENCRYPTION_KEY has an entry that is not base64") from None
            if not key_id:
                key_id = "k" + hashlib.sha256(material).hexdigest()[:8]
            if keks and len(material) != KEY_BYTES:  # a wrapped entry is longer than a key: nonce + key + tag
                material = _unwrap(keks, key_id, material)
            if len(material) != KEY_BYTES:
                raise ConfigurationError(f"ENCRYPTION_KEY entry {key_id} is not a 256-bit key")
            if any(existing == key_id for existing, _ in keys):
                raise ConfigurationError(f"ENCRYPTION_KEY names key id {key_id} twice")
            keys.append((key_id, AESGCM(material)))
        if not keys:
            raise ConfigurationError("ENCRYPTION_KEY holds no key")
        return cls(tuple(keys))

    def __repr__(self) -> str:
        return f"KeyRing(ids={self.key_ids})"

    @property
    def key_ids(self) -> list[str]:
        return [key_id for key_id, _ in self.keys]

    @property
    def current_key_id(self) -> str:
        return self.keys[0][0]

    def _key(self, key_id: str) -> AESGCM:
        for candidate, key in self.keys:
            if candidate == key_id:
                return key
        raise DecryptionFailed("ciphertext was sealed under a key that is not in the ring")

    @staticmethod
    def _aad(context: str, key_id: str) -> bytes:
        return f"hub|{TOKEN_VERSION}|{context}|{key_id}".encode()

    def encrypt(self, plaintext: bytes, context: str, *, key_id: str | None = None) -> str:
        """Seal under the newest key (or the named one); the token names the key: `v1.<key id>.<nonce+ct>`."""
        key_id, key = self.keys[0] if key_id is None else (key_id, self._key(key_id))
        nonce = os.urandom(NONCE_BYTES)
        sealed = key.encrypt(nonce, plaintext, self._aad(context, key_id))
        return f"{TOKEN_VERSION}.{key_id}.{_b64(nonce + sealed)}"

    def decrypt(self, token: str, context: str) -> bytes:
        try:
            version, key_id, body = token.split(".", 2)
            raw = b64decode_key(body)
        except (ValueError, AttributeError):
            raise DecryptionFailed("ciphertext is malformed") from None
        if version != TOKEN_VERSION or len(raw) <= NONCE_BYTES:
            raise DecryptionFailed("ciphertext is malformed")
        try:
            return self._key(key_id).decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], self._aad(context, key_id))
        except InvalidTag:
            raise DecryptionFailed("ciphertext does not belong to this record") from None

    @staticmethod
    def key_id_of(token: str) -> str:
        return token.split(".", 2)[1]

    def encrypt_json(self, value: Any, context: str) -> str:
        return self.encrypt(json.dumps(value, separators=(",", ":")).encode(), context)

    def decrypt_json(self, token: str, context: str) -> Any:
        return json.loads(self.decrypt(token, context))

    def needs_rotation(self, token: str) -> bool:
        return self.key_id_of(token) != self.current_key_id


# The associated-data contexts of every sealed column, in one place: sealing,
# opening, key rotation and the key check must all name the same one.


def integration_context(tenant_id: str, integration_id: str, field: str) -> str:
    """Associated data for one secret field of one integration of one tenant."""
    return f"integration|{tenant_id}|{integration_id}|{field}"


def destination_context(tenant_id: str, destination_id: str) -> str:
    """Associated data for a destination's signing secrets (the current and, during a rotation, the previous)."""
    return f"destination|{tenant_id}|{destination_id}|signing_secret"


def connector_app_context(connector: str) -> str:
    """Associated data for a connector app's webhook secret."""
    return f"connector-app|{connector}|webhook_secret"


# Associated data of sealed OAuth state payloads.
OAUTH_STATE_CONTEXT = "oauth-state"
