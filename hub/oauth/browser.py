"""Binding an OAuth flow to the browser that started it: the nonce cookie.

Without it, whoever holds a `state` can finish the flow in any browser: an
attacker starts a flow with her own connect token and sends the provider's
link to a victim, whose grant is then saved under the attacker's end user.
So `start` sets a random nonce in a cookie and the stored state keeps only
the nonce's hash; the callback accepts the state only from the browser that
sends the same nonce back (OAuth 2.0 Security Best Current Practice, CSRF
protection bound to the user agent).

The cookie is HttpOnly; SameSite=Lax, so the provider's top-level redirect
back to the callback carries it; Path=/; it lives as long as the state; on
an https APP_BASE_URL it is Secure and named with the `__Host-` prefix (so
no other subdomain can set or shadow it). Each flow has its own cookie, named
after the state, so two tabs connecting at once both work.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from flask import Request, Response

from hub.runtime import current_hub

COOKIE_BASE = "hub_oauth_"
SECURE_PREFIX = "__Host-"
# Abandoned flows leave their cookies until they expire; past this many a
# browser would send a needlessly large Cookie header on every request.
MAX_PENDING_FLOWS = 8


def new_nonce() -> str:
    return secrets.token_urlsafe(32)


def hash_nonce(nonce: str) -> str:
    return hashlib.sha256(nonce.encode("ascii", "replace")).hexdigest()


def nonce_matches(nonce: str | None, stored_hash: str | None) -> bool:
    """Constant-time: the nonce the browser sent hashes to the one stored with the state."""
    if not nonce or not stored_hash:
        return False
    return hmac.compare_digest(hash_nonce(nonce), stored_hash)


def _secure() -> bool:
    return str(current_hub().settings["APP_BASE_URL"]).lower().startswith("https://")


def _prefix() -> str:
    return (SECURE_PREFIX if _secure() else "") + COOKIE_BASE


def cookie_name(state: str) -> str:
    """One cookie per flow, named after (a hash of) its state: the name reveals nothing usable."""
    return _prefix() + hashlib.sha256(state.encode("ascii", "replace")).hexdigest()[:24]


def nonce_of(request: Request, state: str | None) -> str | None:
    """The nonce this browser holds for `state`, if any."""
    if not state:
        return None
    return request.cookies.get(cookie_name(state))


def remember(request: Request, response: Response, state: str, nonce: str) -> None:
    """Set the flow's cookie on the response that sends the browser to the provider."""
    pending = [name for name in request.cookies if name.startswith(_prefix())]
    if len(pending) >= MAX_PENDING_FLOWS:
        for name in pending:
            _expire(response, name)
    ttl = int(current_hub().settings["HUB_OAUTH_STATE_TTL_SECONDS"])
    response.set_cookie(
        cookie_name(state), nonce, max_age=ttl, path="/", secure=_secure(), httponly=True, samesite="Lax"
    )


def forget(response: Response, state: str) -> None:
    """Clear the flow's cookie: a state is used once, whatever the outcome."""
    _expire(response, cookie_name(state))


def _expire(response: Response, name: str) -> None:
    response.delete_cookie(name, path="/", secure=_secure(), httponly=True, samesite="Lax")
