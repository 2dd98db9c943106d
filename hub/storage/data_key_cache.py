"""Unwrapped data keys in process memory, so a KMS stays off the hot path.

Bounded in count (least recently used leaves first) and in age
(`HUB_DATA_KEY_CACHE_SECONDS`), and evicted when a key is destroyed. An entry
holds the AES-GCM object, never the raw bytes, and has no repr that shows
it. Losing the cache only costs a provider call, so it is per process, not
state another machine needs; during a provider outage it is what keeps
tenants whose keys were in use working.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.metrics import DATA_KEY_CACHE


@dataclass(frozen=True)
class CachedKey:
    owner: str | None
    aead: AESGCM = field(repr=False)
    expires_at: float


class DataKeyCache:
    def __init__(self, max_age_seconds: float, max_entries: int) -> None:
        self.max_age_seconds = max_age_seconds
        self.max_entries = max(0, max_entries)
        self._entries: OrderedDict[str, CachedKey] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"DataKeyCache(entries={len(self._entries)})"

    def get(self, key_id: str) -> CachedKey | None:
        now = time.monotonic()
        with self._lock:
            entry = self._entries.get(key_id)
            if entry is not None and entry.expires_at <= now:
                del self._entries[key_id]
                entry = None
            if entry is not None:
                self._entries.move_to_end(key_id)
        DATA_KEY_CACHE.labels("hit" if entry is not None else "miss").inc()
        return entry

    def put(self, key_id: str, owner: str | None, aead: AESGCM) -> None:
        if self.max_age_seconds <= 0 or self.max_entries == 0:
            return
        with self._lock:
            self._entries[key_id] = CachedKey(owner, aead, time.monotonic() + self.max_age_seconds)
            self._entries.move_to_end(key_id)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)

    def evict(self, key_ids: Iterable[str]) -> None:
        with self._lock:
            for key_id in key_ids:
                self._entries.pop(key_id, None)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
