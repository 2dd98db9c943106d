"""Named leases that work across processes and machines.

With `REDIS_URL` set they live in Redis (`SET NX PX` and a compare-and-delete
release); otherwise in the `locks` table, written on a connection of their
own so a lease is visible to other processes at once. A lease expires by
itself, so a crashed holder never blocks work forever; holders must finish
(or give up) within the lease they asked for.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hub.storage.models import Lock, db, utcnow
from hub.storage.redis import redis_client, redis_enabled, redis_key

_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


def acquire(name: str, ttl_seconds: float) -> str | None:
    """Take the lease `name` for `ttl_seconds`; returns its token, or None if it is held."""
    token = secrets.token_hex(16)
    if redis_enabled():
        ok = redis_client().set(redis_key("lock", name), token, nx=True, px=int(ttl_seconds * 1000))
        return token if ok else None
    now = utcnow()
    expires = now + timedelta(seconds=ttl_seconds)
    with db.engine.begin() as connection:
        taken = connection.execute(
            sa.update(Lock).where(Lock.name == name, Lock.expires_at < now).values(owner=token, expires_at=expires)
        ).rowcount
        if taken == 1:
            return token
    try:
        with db.engine.begin() as connection:
            connection.execute(sa.insert(Lock).values(name=name, owner=token, expires_at=expires))
        return token
    except IntegrityError:
        return None


def release(name: str, token: str) -> None:
    if redis_enabled():
        redis_client().eval(_RELEASE_SCRIPT, 1, redis_key("lock", name), token)
        return
    with db.engine.begin() as connection:
        connection.execute(sa.delete(Lock).where(Lock.name == name, Lock.owner == token))


class LockNotAcquired(Exception):
    pass


@contextmanager
def hold(name: str, ttl_seconds: float, wait_seconds: float = 0.0, poll_seconds: float = 0.05) -> Iterator[str]:
    """Hold the lease for the block; waits up to `wait_seconds`, then raises LockNotAcquired."""
    deadline = time.monotonic() + wait_seconds
    while True:
        token = acquire(name, ttl_seconds)
        if token is not None:
            break
        if time.monotonic() >= deadline:
            raise LockNotAcquired(name)
        time.sleep(poll_seconds)
    try:
        yield token
    finally:
        release(name, token)
