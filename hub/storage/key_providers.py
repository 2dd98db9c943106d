"""Key providers: who holds the master keys that wrap each tenant's data keys.

`KMS_KEY` chooses one: `<name>:<spec>` names a provider registered in the
entry point group `hub.key_providers` (`aws-kms:alias/hub` is AWS KMS), and
a value without a name is the built-in `local` provider's key. A provider
never sees a credential: it only makes, wraps and unwraps 32-byte data keys,
so a new one (Azure Key Vault, Google Cloud KMS, Vault Transit) is a small
class with the four methods of `KeyProvider`, registered as

    [project.entry-points."hub.key_providers"]
    vault-transit = "my_package.vault:VaultTransitProvider"

and built as `VaultTransitProvider(spec, settings)` when
`KMS_KEY=vault-transit:<spec>`. The context each method receives names
the data key's owner and id (`hub_tenant`, `hub_data_key`); a provider that
supports associated data (KMS encryption contexts, Vault's `context`) must
bind it, so a wrapped key copied to another tenant's row does not unwrap.

Errors are the contract the hub relies on: `KeyProviderUnavailable` for
anything passing (the caller gets 503 with Retry-After, a job is retried),
`DecryptionFailed` when the provider refuses to unwrap (a wrong master key,
another context), `ConfigurationError` for a spec it cannot use.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

import base64
import hashlib
import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.errors import ConfigurationError, DecryptionFailed

ENTRY_POINT_GROUP = "hub.key_providers"
DATA_KEY_BYTES = 32
NONCE_BYTES = 12


@dataclass(frozen=True)
class WrappedKey:
    """A data key as stored: opaque bytes from the provider and the id of the master key that wrapped them."""

    master_key_id: str
    blob: bytes


class KeyProvider(ABC):
    """What a key provider implements. Contexts are small dicts of ids, never secret (KMS logs them)."""

    name = "abstract"

    @abstractmethod
    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        """A new random 32-byte data key, and the same key wrapped under the newest master key."""

    @abstractmethod
    def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        """The data key `wrapped` holds; `DecryptionFailed` when the provider refuses."""

    @abstractmethod
    def rewrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> WrappedKey:
        """The same data key wrapped under the newest master key (`hub keys rotate`)."""

    @abstractmethod
    def current_master_key_id(self) -> str:
        """The id of the master key new data keys are wrapped under (what `rewrap` wraps to)."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name})"


def _context_bytes(context: Mapping[str, str], master_key_id: str) -> bytes:
    return json.dumps({**context, "hub_master_key": master_key_id}, sort_keys=True, separators=(",", ":")).encode()


def decode_base64_key(text: str) -> bytes:
    """Url-safe or standard base64, padded or not."""
    text = text.strip()
    padded = text + "=" * (-len(text) % 4)
    return base64.urlsafe_b64decode(padded.replace("+", "-").replace("/", "_"))


def generate_local_master_key() -> str:
    """A new `local` master key for KMS_KEY: base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(DATA_KEY_BYTES)).decode("ascii")


class LocalKeyProvider(KeyProvider):
    """Master keys in the environment: `KMS_KEY=<base64 key>[,<older base64 key>...]`, newest first.

    The default and the embedded mode. Data keys are wrapped with AES-256-GCM
    under the master key, bound to the context and the master key id. A new
    key put first, followed by the old ones, and `hub keys rotate` re-wraps
    every data key; the old key can then go.
    """

    name = "local"

    def __init__(self, spec: str, settings: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self._keys: dict[str, AESGCM] = {}
        for part in (piece.strip() for piece in spec.split(",")):
            if not part:
                continue
            try:
                material = decode_base64_key(part)
            except (ValueError, TypeError):
                raise ConfigurationError("KMS_KEY has a local master key that is not base64") from None
            if len(material) != DATA_KEY_BYTES:
                raise ConfigurationError("KMS_KEY local master keys must be 32 bytes of base64")
            key_id = "local-" + hashlib.sha256(b"hub-master-key-id|" + material).hexdigest()[:12]
            if key_id not in self._keys:
                self._keys[key_id] = AESGCM(material)
        if not self._keys:
            raise ConfigurationError("KMS_KEY holds no local master key")
        self._newest = next(iter(self._keys))

    def current_master_key_id(self) -> str:
        return self._newest

    def _wrap(self, data_key: bytes, context: Mapping[str, str]) -> WrappedKey:
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._keys[self._newest].encrypt(nonce, data_key, _context_bytes(context, self._newest))
        return WrappedKey(self._newest, nonce + sealed)

    def generate_data_key(self, context: Mapping[str, str]) -> tuple[bytes, WrappedKey]:
        data_key = os.urandom(DATA_KEY_BYTES)
        return data_key, self._wrap(data_key, context)

    def unwrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> bytes:
        master = self._keys.get(wrapped.master_key_id)
        if master is None:
            raise DecryptionFailed(f"data key is wrapped under master key {wrapped.master_key_id}, which KMS_KEY does not hold")
        try:
            return master.decrypt(wrapped.blob[:NONCE_BYTES], wrapped.blob[NONCE_BYTES:], _context_bytes(context, wrapped.master_key_id))
        except InvalidTag:
            raise DecryptionFailed(f"master key {wrapped.master_key_id} does not unwrap this data key") from None

    def rewrap(self, wrapped: WrappedKey, context: Mapping[str, str]) -> WrappedKey:
        return self._wrap(self.unwrap(wrapped, context), context)


ProviderFactory = Callable[[str, Mapping[str, Any]], KeyProvider]


def installed_key_providers() -> dict[str, ProviderFactory]:
    """Every provider in the entry point group, by name (loaded only when chosen)."""
    return {entry.name: entry for entry in entry_points(group=ENTRY_POINT_GROUP)}  # type: ignore[misc]


def load_key_provider(kms_key: str, settings: Mapping[str, Any]) -> KeyProvider:
    """The provider `KMS_KEY` names: `<name>:<spec>`, or a bare base64 value for `local`."""
    name, separator, spec = kms_key.partition(":")
    if not separator:
        return LocalKeyProvider(kms_key, settings)
    if name == LocalKeyProvider.name:
        return LocalKeyProvider(spec, settings)
    installed = installed_key_providers()
    entry = installed.get(name)
    if entry is None:
        known = ", ".join(sorted({LocalKeyProvider.name, *installed}))
        raise ConfigurationError(f"KMS_KEY names key provider {name!r}, which is not installed (installed: {known})")
    try:
        factory = entry.load()  # type: ignore[attr-defined]
    except Exception as error:
        raise ConfigurationError(f"key provider {name!r} failed to load ({type(error).__name__})") from None
    provider = factory(spec, settings)
    if not isinstance(provider, KeyProvider):
        raise ConfigurationError(f"key provider {name!r} does not implement hub.storage.key_providers.KeyProvider")
    return provider
