"""The cache of unwrapped data keys: bounded in count, evicted on demand, never showing a key."""

from __future__ import annotations

import os

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from hub.storage.data_key_cache import DataKeyCache


def test_the_least_recently_used_key_leaves_first_when_full():
    cache = DataKeyCache(max_age_seconds=300, max_entries=2)
    for key_id in ("a", "b"):
        cache.put(key_id, "t1", AESGCM(os.urandom(32)))
    assert cache.get("a") is not None  # "b" is now the least recently used
    cache.put("c", "t1", AESGCM(os.urandom(32)))
    assert len(cache) == 2 and cache.get("b") is None and cache.get("a") is not None


def test_evicted_keys_are_gone_and_owners_are_kept():
    cache = DataKeyCache(max_age_seconds=300, max_entries=10)
    cache.put("a", "t1", AESGCM(os.urandom(32)))
    cache.put("b", None, AESGCM(os.urandom(32)))
    assert cache.get("a").owner == "t1" and cache.get("b").owner is None
    cache.evict(["a"])
    assert cache.get("a") is None and cache.get("b") is not None


def test_no_age_or_no_room_caches_nothing():
    for cache in (DataKeyCache(max_age_seconds=0, max_entries=10), DataKeyCache(max_age_seconds=300, max_entries=0)):
        cache.put("a", "t1", AESGCM(os.urandom(32)))
        assert cache.get("a") is None


def test_no_key_material_in_reprs():
    key = os.urandom(32)
    cache = DataKeyCache(max_age_seconds=300, max_entries=10)
    cache.put("a", "t1", AESGCM(key))
    shown = repr(cache) + repr(cache.get("a"))
    assert key.hex() not in shown and "AESGCM" not in shown
