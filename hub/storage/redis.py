"""The one way the hub opens Redis (when `REDIS_URL` is set), and the names of its keys.

The app opens one client at start (hub.app) and everything Redis-backed is
built on it: leases, OAuth state, rate limits and the Huey queues share its
connection pool and its timeouts. `HUB_REDIS_PREFIX` namespaces every key the
hub writes, so several hubs (or test runs) can share one Redis.
"""

from __future__ import annotations

import redis

# Short timeouts: a Redis that does not answer is an outage to report (503, the relay), not a request to wait on.
CONNECTION_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5, "health_check_interval": 30}


def connect(url: str) -> redis.Redis:
    """A client over a new connection pool; nothing is opened until the first command."""
    return redis.Redis(connection_pool=redis.ConnectionPool.from_url(url, **CONNECTION_OPTIONS))


def namespaced(prefix: str, *parts: str) -> str:
    """A key under the hub's prefix: `prefix:part:part`."""
    return ":".join((prefix, *parts))
