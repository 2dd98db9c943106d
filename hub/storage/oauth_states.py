"""Where pending OAuth authorizations wait for their callback: one interface, a Redis and a database backend.

A store keeps a sealed payload under the hash of its state until it expires
and hands it out at most once: `take` is atomic in both backends (Redis
GETDEL; a DELETE whose row count decides the winner), so a state works once
even under concurrent callbacks. What the payload holds and how it is sealed
is the flow's business (hub.oauth.state); the backend is chosen once, when
the app is built (hub.app): Redis when `REDIS_URL` is set, the
`oauth_states` table otherwise.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from redis.exceptions import RedisError

from hub.errors import ServiceUnavailable
from hub.storage.models import OAuthState, db, utcnow
from hub.storage.redis import namespaced

RETRY_SOON = {"Retry-After": "1"}


class OAuthStates(ABC):
    @abstractmethod
    def save(self, state_hash: str, sealed: str, expires_at: datetime) -> None:
        """Keep the sealed payload until `expires_at`."""

    @abstractmethod
    def take(self, state_hash: str) -> str | None:
        """Remove and return the sealed payload; None when absent. Only one caller ever gets it."""


class RedisOAuthStates(OAuthStates):
    """Payloads as Redis keys under the hub's prefix, expiring with the state."""

    def __init__(self, client: Any, prefix: str) -> None:
        self.client = client
        self.prefix = prefix

    def key(self, state_hash: str) -> str:
        return namespaced(self.prefix, "oauth-state", state_hash)

    def save(self, state_hash: str, sealed: str, expires_at: datetime) -> None:
        ttl_ms = max(1, int((expires_at - utcnow()).total_seconds() * 1000))
        try:
            self.client.set(self.key(state_hash), sealed, px=ttl_ms)
        except RedisError:
            raise ServiceUnavailable("The OAuth state store is unavailable; retry shortly.", headers=RETRY_SOON) from None

    def take(self, state_hash: str) -> str | None:
        try:
            value = self.client.getdel(self.key(state_hash))
        except RedisError:
            raise ServiceUnavailable("The OAuth state store is unavailable; retry shortly.", headers=RETRY_SOON) from None
        return value.decode() if isinstance(value, bytes) else value


class DatabaseOAuthStates(OAuthStates):
    """Payloads as rows of the `oauth_states` table."""

    def save(self, state_hash: str, sealed: str, expires_at: datetime) -> None:
        # Abandoned flows leave rows behind; clearing long-expired ones here keeps the table small.
        db.session.execute(sa.delete(OAuthState).where(OAuthState.expires_at < utcnow() - timedelta(hours=1)))
        db.session.add(OAuthState(state_hash=state_hash, payload_ciphertext=sealed, expires_at=expires_at))
        db.session.commit()

    def take(self, state_hash: str) -> str | None:
        sealed = db.session.execute(
            sa.select(OAuthState.payload_ciphertext).where(OAuthState.state_hash == state_hash)
        ).scalar_one_or_none()
        if sealed is None:
            db.session.commit()
            return None
        deleted = db.session.execute(sa.delete(OAuthState).where(OAuthState.state_hash == state_hash)).rowcount
        db.session.commit()
        return sealed if deleted == 1 else None
