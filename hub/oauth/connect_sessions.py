"""Connect tokens: a host backend's short-lived permission for one end user to connect.

The host backend holds the tenant API key and must never hand it to a
browser. Instead it mints a connect token for its end user; the browser
carries it to `/api/oauth/start/<connector>`. The token is signed with
SECRET_KEY (itsdangerous), names its tenant, end user and the connectors it
may start, and expires on its own.

A token connects one account: once a connection made with it succeeds, it
is spent (a lease named after its digest, held until the token would have
expired, so every process and machine sees it), and the Connect page and
`/api/oauth/start` refuse it as used.
"""

from __future__ import annotations

from collections.abc import Sequence
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeTimedSerializer

from hub.errors import Unauthorized
from hub.runtime import current_hub
from hub.storage.models import Tenant, db, utcnow

SALT = "hub.connect-session.v1"
UNAUTHORIZED_HEADERS = {"WWW-Authenticate": 'Bearer realm="hub"'}


@dataclass(frozen=True)
class ConnectSession:
    tenant_id: str
    end_user_id: str
    allowed_connectors: tuple[str, ...] | None
    expires_at: datetime
    token_digest: str = ""

    def allows(self, connector_id: str) -> bool:
        return self.allowed_connectors is None or connector_id in self.allowed_connectors


class ConnectTokenUsed(Unauthorized):
    """The connect token already connected an account; the host mints a new one for another."""

    slug = "connect-token-used"


def _spent_lease(token_digest: str) -> str:
    return f"connect-token-spent:{token_digest}"


def spend_connect_token(token_digest: str | None) -> None:
    """Mark a token used (by its digest, `ConnectSession.token_digest`) for at least as long as it can live."""
    if token_digest:
        db.session.commit()  # a database lease is written on a connection of its own (see Leases.hold_with_session)
        current_hub().leases.acquire(_spent_lease(token_digest), float(_ttl_seconds()))


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def _ttl_seconds() -> int:
    return int(current_app.config["HUB_CONNECT_TOKEN_TTL_SECONDS"])


def create_connect_session(
    tenant_id: str, end_user_id: str, allowed_connectors: Sequence[str] | None = None
) -> tuple[str, datetime]:
    """Mint a connect token; returns it with its expiry."""
    expires_at = (utcnow() + timedelta(seconds=_ttl_seconds())).replace(microsecond=0)
    payload = {
        "tid": tenant_id,
        "uid": end_user_id,
        "con": sorted(set(allowed_connectors)) if allowed_connectors is not None else None,
        "exp": int(expires_at.timestamp()),
        "jti": secrets.token_urlsafe(12),  # two tokens minted in one second are still two tokens, each used on its own
    }
    return _serializer().dumps(payload), expires_at


def read_connect_token(token: str) -> ConnectSession:
    """The session a connect token grants; 401 when it is forged, expired or its tenant is gone."""
    if not token or len(token) > 4096:
        raise Unauthorized("The connect token is missing or malformed.", headers=UNAUTHORIZED_HEADERS)
    try:
        payload: Any = _serializer().loads(token, max_age=_ttl_seconds())
    except BadSignature:  # SignatureExpired is a BadSignature too
        raise Unauthorized("The connect token is invalid or has expired; mint a new one.", headers=UNAUTHORIZED_HEADERS) from None
    session = _session_from(payload, hashlib.sha256(token.encode()).hexdigest())
    if session is None or session.expires_at <= utcnow():
        raise Unauthorized("The connect token is invalid or has expired; mint a new one.", headers=UNAUTHORIZED_HEADERS)
    tenant = db.session.get(Tenant, session.tenant_id)
    if tenant is None or tenant.deleted_at is not None:
        raise Unauthorized("The connect token's tenant no longer exists.", headers=UNAUTHORIZED_HEADERS)
    if current_hub().leases.is_held(_spent_lease(session.token_digest)):
        raise ConnectTokenUsed("The connect token was already used to connect an account; mint a new one.", headers=UNAUTHORIZED_HEADERS)
    return session


def _session_from(payload: Any, token_digest: str) -> ConnectSession | None:
    if not isinstance(payload, dict):
        return None
    tenant_id, end_user_id, connectors, expires = (payload.get(k) for k in ("tid", "uid", "con", "exp"))
    if not isinstance(tenant_id, str) or not isinstance(end_user_id, str) or not isinstance(expires, int):
        return None
    if connectors is not None and not (isinstance(connectors, list) and all(isinstance(c, str) for c in connectors)):
        return None
    return ConnectSession(
        tenant_id=tenant_id,
        end_user_id=end_user_id,
        allowed_connectors=tuple(connectors) if connectors is not None else None,
        expires_at=datetime.fromtimestamp(expires, tz=timezone.utc),
        token_digest=token_digest,
    )
