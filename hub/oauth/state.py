"""Server-side OAuth state: issued at start, consumed exactly once at the callback.

The `state` sent to the provider is 256 random bits; only its SHA-256 is
stored, so a leaked store does not yield usable states. What the callback
needs (tenant, end user, connector, PKCE verifier, return_to, expiry) is
sealed with the key ring and kept in the app's OAuth state store (Redis when
`REDIS_URL` is set, the `oauth_states` table otherwise: see
hub.storage.oauth_states), never in a cookie or in process memory. The
store hands a state out once, so it works once even under concurrent callbacks.
The payload also holds the hash of the browser's nonce (see
hub.oauth.browser): a state is consumed by its callback whatever the browser,
and accepted only from the browser that started the flow.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import asdict, dataclass
from datetime import timedelta

from hub.errors import BadRequest, DecryptionFailed
from hub.oauth.browser import nonce_matches
from hub.runtime import current_hub
from hub.storage.crypto import OAUTH_STATE_CONTEXT
from hub.storage.models import utcnow

STATE_PATTERN = re.compile(r"[A-Za-z0-9_\-]{43,128}")


class InvalidState(BadRequest):
    title, slug = "Invalid OAuth state", "invalid-oauth-state"


@dataclass(frozen=True)
class PendingAuthorization:
    """What the callback needs to finish a flow that `start` began."""

    tenant_id: str
    end_user_id: str | None
    connector: str
    code_verifier: str | None
    return_to: str | None
    expires_at: float
    browser_nonce_hash: str | None = None
    connect_token_digest: str | None = None


def hash_state(state: str) -> str:
    return hashlib.sha256(state.encode("ascii")).hexdigest()


def issue_state(
    *,
    tenant_id: str,
    end_user_id: str | None,
    connector: str,
    code_verifier: str | None,
    return_to: str | None,
    browser_nonce_hash: str,
    connect_token_digest: str | None = None,
) -> str:
    """Store a pending authorization and return the state to send to the provider."""
    ttl = int(current_hub().settings["HUB_OAUTH_STATE_TTL_SECONDS"])
    expires_at = utcnow() + timedelta(seconds=ttl)
    state = secrets.token_urlsafe(32)
    state_hash = hash_state(state)
    pending = PendingAuthorization(
        tenant_id, end_user_id, connector, code_verifier, return_to, expires_at.timestamp(), browser_nonce_hash,
        connect_token_digest,
    )
    # The hash inside the sealed payload pins it to its key: a payload moved to another key does not open as valid.
    sealed = current_hub().envelope.seal_json(None, OAUTH_STATE_CONTEXT, {**asdict(pending), "state_hash": state_hash})
    current_hub().oauth_states.save(state_hash, sealed, expires_at)
    return state


def consume_state(state: str | None, *, browser_nonce: str | None) -> PendingAuthorization:
    """The pending authorization of `state`, removed so it cannot be used again; 400 otherwise.

    `browser_nonce` is what the calling browser holds for this state. The
    state is consumed before it is compared, so a link that reached the wrong
    browser is spent there and can no longer be finished anywhere.
    """
    if not state:
        raise InvalidState("The callback has no state parameter.")
    if not STATE_PATTERN.fullmatch(state):
        raise InvalidState("The state parameter is malformed.")
    state_hash = hash_state(state)
    sealed = current_hub().oauth_states.take(state_hash)
    if sealed is None:
        raise InvalidState("The OAuth state is unknown, expired or already used; start the connection again.")
    try:
        payload = current_hub().envelope.open_json(None, OAUTH_STATE_CONTEXT, sealed)
    except (DecryptionFailed, ValueError):
        raise InvalidState("The OAuth state could not be read; start the connection again.") from None
    if payload.pop("state_hash", None) != state_hash:
        raise InvalidState("The OAuth state could not be read; start the connection again.")
    pending = PendingAuthorization(**payload)
    if pending.expires_at <= time.time():
        raise InvalidState("The OAuth state has expired; start the connection again.")
    if not nonce_matches(browser_nonce, pending.browser_nonce_hash):
        raise InvalidState(
            "This browser did not start this connection; start it again in the browser that will finish it."
        )
    return pending
