"""Integration endpoints remembered by this process, so a delivery can skip the lookup.

What is remembered (the integration's ids, its credentials version and the
decrypted credentials) is never trusted on its own: a delivery through a
remembered endpoint is stored by a statement that checks, in the same
instant, that the integration still exists, is not revoked and still has
that credentials version, and only a delivery stored that way is answered
from memory. Every other outcome (a refusal, a handshake, an event the
connector dropped, an integration that changed) is answered again from a
fresh lookup. So nothing here is state another machine would need: a cold
process is only slower, never wrong, and a deleted integration's endpoint
answers 410 at once on every machine.

Bounded in size and age, per app; the unwrapped data keys that open these
credentials are in the same memory (hub.storage.data_key_cache), so the
decrypted copies widen nothing.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

MAX_ENTRIES = 4096
MAX_AGE_SECONDS = 300.0


@dataclass(frozen=True)
class RememberedEndpoint:
    integration_id: str
    tenant_id: str
    version: int
    credentials: Mapping[str, Any]
    expires_at: float


class EndpointCache:
    """Secret digest → remembered endpoint; reads take no lock, writes do."""

    def __init__(self, max_entries: int = MAX_ENTRIES, max_age: float = MAX_AGE_SECONDS) -> None:
        self._entries: dict[tuple[str, str], RememberedEndpoint] = {}
        self._lock = threading.Lock()
        self._max_entries = max_entries
        self._max_age = max_age

    def get(self, connector: str, digest: str) -> RememberedEndpoint | None:
        entry = self._entries.get((connector, digest))
        if entry is None or entry.expires_at < time.monotonic():
            return None
        return entry

    def remember(self, connector: str, digest: str, integration_id: str, tenant_id: str, version: int, credentials: Mapping[str, Any]) -> None:
        frozen = MappingProxyType(dict(credentials))  # shared by every thread: read-only
        entry = RememberedEndpoint(integration_id, tenant_id, version, frozen, time.monotonic() + self._max_age)
        with self._lock:
            if len(self._entries) >= self._max_entries:
                del self._entries[next(iter(self._entries))]  # the oldest remembered
            self._entries[(connector, digest)] = entry

    def forget(self, connector: str, digest: str) -> None:
        with self._lock:
            self._entries.pop((connector, digest), None)

    def __len__(self) -> int:
        return len(self._entries)
