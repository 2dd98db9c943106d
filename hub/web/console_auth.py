"""Signing in to the console: a tenant API key buys a server-side session; every console page requires one.

The key is posted once, checked, and forgotten: the session (hub.storage.
console_sessions) holds the tenant and the key's id, and the cookie holds
only a random token whose hash names the session. Every request checks the
key again, so revoking it ends its sessions at once. A new token (and so a
new CSRF token) is made at every sign-in; none is ever taken from the
browser (no fixation). The cookie is HttpOnly, SameSite=Strict, Path=/, and
on an https APP_BASE_URL Secure with the `__Host-` prefix.

Every POST carries a CSRF token: the sign-in form one bound to a short-lived
cookie of its own, every other form one bound to the session. No GET changes
anything. Sign-in attempts are rate-limited per client address.
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from flask import Blueprint, Response, g, redirect, request, url_for

from hub.errors import Forbidden
from hub.runtime import current_hub
from hub.storage.console_sessions import SignedIn
from hub.storage.models import utcnow
from hub.tenancy.api_keys import api_key_is_live, live_api_key
from hub.web.pages import CONSOLE_NAV, csrf_matches, csrf_token, render_page, serve_pages

blueprint = Blueprint("console_auth", __name__, template_folder="templates")
serve_pages(blueprint)

View = TypeVar("View", bound=Callable[..., Any])

SESSION_COOKIE = "hub_console"
SIGN_IN_COOKIE = "hub_console_sign_in"
SIGN_IN_COOKIE_SECONDS = 3600
SECURE_PREFIX = "__Host-"
SESSION_CSRF = "console"
SIGN_IN_CSRF = "console-sign-in"
MAX_KEY_CHARS = 200


def _secure() -> bool:
    return str(current_hub().settings["APP_BASE_URL"]).lower().startswith("https://")


def cookie_name(base: str) -> str:
    return (SECURE_PREFIX if _secure() else "") + base


def _set_cookie(response: Response, base: str, value: str, max_age: int | None) -> None:
    response.set_cookie(cookie_name(base), value, max_age=max_age, path="/", secure=_secure(), httponly=True, samesite="Strict")


def _clear_cookie(response: Response, base: str) -> None:
    response.delete_cookie(cookie_name(base), path="/", secure=_secure(), httponly=True, samesite="Strict")


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def signed_in() -> tuple[str, SignedIn] | None:
    """This browser's live session and its token, or None; a session whose key was revoked is ended here."""
    token = request.cookies.get(cookie_name(SESSION_COOKIE))
    if not token or len(token) > 128:
        return None
    store = current_hub().console_sessions
    session_hash = _hash(token)
    session = store.find(session_hash)
    if session is None:
        return None
    if not api_key_is_live(session.api_key_id, session.tenant_id):
        store.end(session_hash)
        return None
    store.touch(session_hash, session)
    return token, session


def console_page(view: View) -> View:
    """Require a signed-in session (else to the sign-in page) and, on POST, the session's CSRF token."""

    @functools.wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        found = signed_in()
        if found is None:
            response = redirect(url_for("console_auth.sign_in_form"), 303)
            _clear_cookie(response, SESSION_COOKIE)
            return response
        token, session = found
        g.tenant_id = session.tenant_id
        g.console_csrf = csrf_token(SESSION_CSRF, token)
        g.console_token = token
        current_hub().rate_limits.limit_tenant(session.tenant_id)
        if request.method == "POST" and not csrf_matches(request.form.get("csrf_token"), SESSION_CSRF, token):
            raise Forbidden("This form has expired or did not come from the console. Go back, reload the page and try again.")
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def console_render(template: str, status: int = 200, **context: Any) -> Response:
    """A console page: the navigation, and the session's CSRF token for its forms."""
    return render_page(template, status=status, nav=CONSOLE_NAV, csrf_token=g.console_csrf, **context)


def _sign_in_page(status: int = 200, error: str | None = None, nonce: str | None = None) -> Response:
    nonce = nonce or request.cookies.get(cookie_name(SIGN_IN_COOKIE))
    fresh = not nonce or len(nonce) > 128
    if fresh:
        nonce = secrets.token_urlsafe(32)
    response = render_page("sign_in.html", status=status, error=error, csrf_token=csrf_token(SIGN_IN_CSRF, nonce))
    if fresh:
        _set_cookie(response, SIGN_IN_COOKIE, nonce, SIGN_IN_COOKIE_SECONDS)
    return response


@blueprint.get("/console/sign-in")
def sign_in_form() -> Response:
    if signed_in() is not None:
        return redirect(url_for("console_events.overview"), 303)
    return _sign_in_page()


@blueprint.post("/console/sign-in")
def sign_in() -> Response:
    current_hub().rate_limits.limit_console_sign_in(request.remote_addr or "unknown")
    nonce = request.cookies.get(cookie_name(SIGN_IN_COOKIE))
    if not nonce or not csrf_matches(request.form.get("csrf_token"), SIGN_IN_CSRF, nonce):
        return _sign_in_page(403, "This form has expired. Please sign in again.")
    presented = request.form.get("api_key", "").strip()
    found = live_api_key(presented) if 0 < len(presented) <= MAX_KEY_CHARS else None
    if found is None:
        return _sign_in_page(401, "That is not a valid API key.", nonce)
    key_id, tenant_id = found
    settings = current_hub().settings
    token = secrets.token_urlsafe(32)
    now = utcnow()
    current_hub().console_sessions.save(_hash(token), SignedIn(
        tenant_id=tenant_id, api_key_id=key_id, created_at=now, last_seen_at=now,
        expires_at=now + timedelta(seconds=settings["HUB_CONSOLE_SESSION_SECONDS"]),
    ))
    old = request.cookies.get(cookie_name(SESSION_COOKIE))
    if old and len(old) <= 128:
        current_hub().console_sessions.end(_hash(old))
    response = redirect(url_for("console_events.overview"), 303)
    _set_cookie(response, SESSION_COOKIE, token, settings["HUB_CONSOLE_SESSION_SECONDS"])
    _clear_cookie(response, SIGN_IN_COOKIE)
    return response


@blueprint.post("/console/sign-out")
@console_page
def sign_out() -> Response:
    current_hub().console_sessions.end(_hash(g.console_token))
    response = redirect(url_for("console_auth.sign_in_form", signed_out=1), 303)
    _clear_cookie(response, SESSION_COOKIE)
    return response

