"""The digest that finds a stored secret by its value.

Secrets the hub must recognise but never show again (API keys, webhook
URL secrets) are stored as their SHA-256. They carry 256 bits of
randomness, so a plain hash (not a slow KDF) is the right tool: lookups
stay O(1) and a leaked table does not reveal usable secrets.
"""

from __future__ import annotations

import hashlib


def hash_secret(value: str) -> str:
    return hashlib.sha256(value.encode("utf-8")).hexdigest()
