"""Where the console's signed-in sessions live: one interface, a Redis and a database backend.

A session is kept under the hash of its cookie's value, so neither store
holds anything a browser could present. It names the tenant and the API key
that signed in, never the key. It ends when it has been idle too long, when
its absolute lifetime is over, or at sign-out; the backend is chosen once,
when the app is built (hub.app): Redis when `REDIS_URL` is set, the
`console_sessions` table otherwise.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from redis.exceptions import RedisError

from hub.errors import ServiceUnavailable
from hub.storage.models import ConsoleSession, db, utcnow
from hub.storage.redis import namespaced

RETRY_SOON = {"Retry-After": "1"}
# Seen-at times are written at most this often, so browsing costs no write per page.
TOUCH_RESOLUTION = timedelta(seconds=60)


@dataclass(frozen=True)
class SignedIn:
    tenant_id: str
    api_key_id: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime

    def is_over(self, now: datetime, idle: timedelta) -> bool:
        return now >= self.expires_at or now - self.last_seen_at >= idle


class ConsoleSessions(ABC):
    def __init__(self, idle: timedelta) -> None:
        self.idle = idle

    @abstractmethod
    def save(self, session_hash: str, session: SignedIn) -> None:
        """Keep a new session."""

    @abstractmethod
    def find(self, session_hash: str) -> SignedIn | None:
        """The live session under this hash, or None (an idle or expired one is removed)."""

    @abstractmethod
    def touch(self, session_hash: str, session: SignedIn) -> None:
        """Note that the session was used now (at most once a minute)."""

    @abstractmethod
    def end(self, session_hash: str) -> None:
        """Remove the session (sign-out, a revoked key)."""


class RedisConsoleSessions(ConsoleSessions):
    """Sessions as Redis keys under the hub's prefix; each expires when idle."""

    def __init__(self, client: Any, prefix: str, idle: timedelta) -> None:
        super().__init__(idle)
        self.client = client
        self.prefix = prefix

    def key(self, session_hash: str) -> str:
        return namespaced(self.prefix, "console-session", session_hash)

    def _write(self, session_hash: str, session: SignedIn) -> None:
        now = utcnow()
        ttl = min(session.expires_at - now, session.last_seen_at + self.idle - now)
        value = json.dumps({
            "tenant_id": session.tenant_id, "api_key_id": session.api_key_id,
            "created_at": session.created_at.isoformat(), "last_seen_at": session.last_seen_at.isoformat(),
            "expires_at": session.expires_at.isoformat(),
        })
        try:
            self.client.set(self.key(session_hash), value, px=max(1, int(ttl.total_seconds() * 1000)))
        except RedisError:
            raise ServiceUnavailable("The session store is unavailable; retry shortly.", headers=RETRY_SOON) from None

    def save(self, session_hash: str, session: SignedIn) -> None:
        self._write(session_hash, session)

    def find(self, session_hash: str) -> SignedIn | None:
        try:
            raw = self.client.get(self.key(session_hash))
        except RedisError:
            raise ServiceUnavailable("The session store is unavailable; retry shortly.", headers=RETRY_SOON) from None
        if raw is None:
            return None
        stored = json.loads(raw)
        session = SignedIn(
            tenant_id=stored["tenant_id"], api_key_id=stored["api_key_id"],
            created_at=datetime.fromisoformat(stored["created_at"]),
            last_seen_at=datetime.fromisoformat(stored["last_seen_at"]),
            expires_at=datetime.fromisoformat(stored["expires_at"]),
        )
        if session.is_over(utcnow(), self.idle):
            self.end(session_hash)
            return None
        return session

    def touch(self, session_hash: str, session: SignedIn) -> None:
        now = utcnow()
        if now - session.last_seen_at >= TOUCH_RESOLUTION:
            self._write(session_hash, SignedIn(session.tenant_id, session.api_key_id, session.created_at, now, session.expires_at))

    def end(self, session_hash: str) -> None:
        try:
            self.client.delete(self.key(session_hash))
        except RedisError:
            raise ServiceUnavailable("The session store is unavailable; retry shortly.", headers=RETRY_SOON) from None


class DatabaseConsoleSessions(ConsoleSessions):
    """Sessions as rows of the `console_sessions` table."""

    def save(self, session_hash: str, session: SignedIn) -> None:
        # Abandoned sessions leave rows behind; clearing the ended ones here keeps the table small.
        now = utcnow()
        db.session.execute(sa.delete(ConsoleSession).where(
            sa.or_(ConsoleSession.expires_at <= now, ConsoleSession.last_seen_at <= now - self.idle)
        ))
        db.session.add(ConsoleSession(
            session_hash=session_hash, tenant_id=session.tenant_id, api_key_id=session.api_key_id,
            created_at=session.created_at, last_seen_at=session.last_seen_at, expires_at=session.expires_at,
        ))
        db.session.commit()

    def find(self, session_hash: str) -> SignedIn | None:
        row = db.session.get(ConsoleSession, session_hash)
        if row is None:
            return None
        session = SignedIn(row.tenant_id, row.api_key_id, row.created_at, row.last_seen_at, row.expires_at)
        if session.is_over(utcnow(), self.idle):
            self.end(session_hash)
            return None
        return session

    def touch(self, session_hash: str, session: SignedIn) -> None:
        now = utcnow()
        if now - session.last_seen_at < TOUCH_RESOLUTION:
            return
        db.session.execute(
            sa.update(ConsoleSession).where(ConsoleSession.session_hash == session_hash)
            .values(last_seen_at=now).execution_options(synchronize_session=False)
        )
        db.session.commit()

    def end(self, session_hash: str) -> None:
        db.session.execute(sa.delete(ConsoleSession).where(ConsoleSession.session_hash == session_hash))
        db.session.commit()
