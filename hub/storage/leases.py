"""Named leases that work across processes and machines: one interface, a Redis and a database backend.

A lease is a name held by one token until it is released or expires. It
expires by itself, so a crashed holder never blocks work forever; holders
must finish (or give up) within the lease they asked for. Token refresh,
reconnecting an account and each piece of periodic work take one.

The backend is chosen once, when the app is built (hub.app): with
`REDIS_URL` set the leases live in Redis (`SET NX PX` and a
compare-and-delete release), otherwise in the `locks` table, written on a
connection of their own so a lease is visible to other processes at once.
"""

from __future__ import annotations

import secrets
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from hub.storage.models import Lock, db, utcnow
from hub.storage.redis import namespaced

_RELEASE_SCRIPT = """
if redis.call('get', KEYS[1]) == ARGV[1] then
    return redis.call('del', KEYS[1])
end
return 0
"""


class LeaseNotAcquired(Exception):
    """The lease stayed held by another holder for as long as the caller would wait."""


class Leases(ABC):
    """Take, hold and release named leases; the backends differ only in where a lease is kept."""

    @abstractmethod
    def acquire(self, name: str, ttl_seconds: float) -> str | None:
        """Take the lease `name` for `ttl_seconds`; returns its token, or None if it is held."""

    @abstractmethod
    def release(self, name: str, token: str) -> None:
        """Give the lease back, if `token` still holds it."""

    @abstractmethod
    def is_held(self, name: str) -> bool:
        """Whether anyone holds the lease `name` now (a lease taken and never released marks a fact until it expires)."""

    def prune_expired(self) -> int:
        """Forget leases past their expiry; returns how many (stores that expire keys themselves have none)."""
        return 0

    @contextmanager
    def hold(self, name: str, ttl_seconds: float, wait_seconds: float = 0.0, poll_seconds: float = 0.05) -> Iterator[str]:
        """Hold the lease for the block; waits up to `wait_seconds`, then raises LeaseNotAcquired."""
        deadline = time.monotonic() + wait_seconds
        while True:
            token = self.acquire(name, ttl_seconds)
            if token is not None:
                break
            if time.monotonic() >= deadline:
                raise LeaseNotAcquired(name)
            time.sleep(poll_seconds)
        try:
            yield token
        finally:
            self.release(name, token)

    @contextmanager
    def hold_with_session(self, name: str, ttl_seconds: float, wait_seconds: float = 0.0) -> Iterator[str]:
        """`hold`, for blocks that use the app's database session and commit their own writes.

        A database-backed lease is taken and released on a connection of its
        own. On SQLite every transaction begins IMMEDIATE, so a session
        transaction left open on either side of the lease would make that
        connection wait for it (until the busy timeout). So the session's
        transaction ends before the lease is taken, and what the block leaves
        uncommitted is rolled back before it is released.
        """
        db.session.commit()
        with self.hold(name, ttl_seconds, wait_seconds=wait_seconds) as token:
            try:
                yield token
            finally:
                db.session.rollback()


class RedisLeases(Leases):
    """Leases as Redis keys under the hub's prefix: `SET NX PX`, released by a compare-and-delete script."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def _key(self, name: str) -> str:
        return namespaced(self.prefix, "lock", name)

    def acquire(self, name: str, ttl_seconds: float) -> str | None:
        token = secrets.token_hex(16)
        taken = self.client.set(self._key(name), token, nx=True, px=int(ttl_seconds * 1000))
        return token if taken else None

    def release(self, name: str, token: str) -> None:
        self.client.eval(_RELEASE_SCRIPT, 1, self._key(name), token)

    def is_held(self, name: str) -> bool:
        return bool(self.client.exists(self._key(name)))


class DatabaseLeases(Leases):
    """Leases as rows of the `locks` table, each written in a transaction of its own."""

    def acquire(self, name: str, ttl_seconds: float) -> str | None:
        token = secrets.token_hex(16)
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

    def release(self, name: str, token: str) -> None:
        with db.engine.begin() as connection:
            connection.execute(sa.delete(Lock).where(Lock.name == name, Lock.owner == token))

    def is_held(self, name: str) -> bool:
        # On the session: SQLite begins every transaction IMMEDIATE, so a connection of its
        # own would wait behind the caller's open transaction.
        return db.session.execute(
            sa.select(Lock.name).where(Lock.name == name, Lock.expires_at >= utcnow())
        ).first() is not None

    def prune_expired(self) -> int:
        pruned = db.session.execute(sa.delete(Lock).where(Lock.expires_at < utcnow())).rowcount or 0
        db.session.commit()
        return pruned
