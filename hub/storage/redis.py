"""The Redis connection (when `REDIS_URL` is set) and the key prefix every key uses.

`HUB_REDIS_PREFIX` namespaces every key the hub writes, so several hubs (or
test runs) can share one Redis.
"""

from __future__ import annotations

from typing import Any

from flask import current_app


def redis_enabled() -> bool:
    return bool(current_app.config.get("REDIS_URL"))


def redis_client() -> Any:
    """One client (with its pool) per app, created on first use."""
    import redis

    client = current_app.extensions.get("hub.redis")
    if client is None:
        client = redis.Redis.from_url(
            current_app.config["REDIS_URL"], socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
        )
        current_app.extensions["hub.redis"] = client
    return client


def redis_key(*parts: str) -> str:
    return ":".join((current_app.config["HUB_REDIS_PREFIX"], *parts))
