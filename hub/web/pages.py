"""What every page of the Connect page and the console shares: headers, rendering, error pages, CSRF tokens.

Each page goes out with a strict Content Security Policy: nothing from
another origin, no inline script or style (so chart geometry is SVG
attributes), forms only to the hub itself, no `<base>`; who may frame it is
`'none'` for the console and HUB_CONNECT_FRAME_ANCESTORS for the Connect
page. `Referrer-Policy: no-referrer` keeps connect tokens in URLs out of
other sites' logs, and `no-store` keeps pages out of caches.

A CSRF token is an HMAC under SECRET_KEY of what the form is bound to (a
console session, a connect token, a sign-in cookie), so no token is stored
and one from another session never matches.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from flask import Blueprint, Response, current_app, render_template
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from hub.errors import HubError

POLICY = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'"
# The console's sections, in the order of its navigation: (label, endpoint).
CONSOLE_NAV = [
    ("Overview", "console_events.overview"),
    ("Integrations", "console_integrations.integrations"),
    ("Events", "console_events.events"),
    ("Dead letters", "console_events.dead_letters"),
    ("Destinations", "console_destinations.destinations"),
]


def content_security_policy(frame_ancestors: str = "'none'") -> str:
    return f"{POLICY}; frame-ancestors {frame_ancestors}"


def secure(response: Response, frame_ancestors: str = "'none'") -> Response:
    response.headers["Content-Security-Policy"] = content_security_policy(frame_ancestors)
    if frame_ancestors == "'none'":
        response.headers["X-Frame-Options"] = "DENY"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["Cache-Control"] = "no-store"
    return response


def render_page(template: str, status: int = 200, **context: Any) -> Response:
    return Response(render_template(f"web/{template}", **context), status=status, mimetype="text/html")


def error_page(error: HubError | HTTPException) -> Response:
    """An error as a page a person can read (the API's problem+json is for programs)."""
    if isinstance(error, HubError):
        status, title, detail = error.status, error.title, error.detail
        headers = (error.extra or {}).get("headers") or {}
    else:
        status = error.code or 500
        title = error.name or "Error"
        detail = error.description if status < 500 else title
        headers = {}
    response = render_page("error.html", status=status, title=title, detail=detail)
    if "Retry-After" in headers:
        response.headers["Retry-After"] = headers["Retry-After"]
    return response


def serve_pages(blueprint: Blueprint, frame_ancestors: Any = None) -> None:
    """Give a blueprint's answers the page headers and its errors the error page."""
    blueprint.register_error_handler(HubError, error_page)
    blueprint.register_error_handler(HTTPException, error_page)
    # The app's own 413 handler is registered by status code, which Flask looks up before a class: name it here too.
    blueprint.register_error_handler(RequestEntityTooLarge, error_page)

    @blueprint.after_request
    def _headers(response: Response) -> Response:
        return secure(response, frame_ancestors() if frame_ancestors else "'none'")


def csrf_token(purpose: str, binding: str) -> str:
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, f"{purpose}\0{binding}".encode(), hashlib.sha256).hexdigest()


def csrf_matches(presented: str | None, purpose: str, binding: str) -> bool:
    if not presented or len(presented) > 128:
        return False
    return hmac.compare_digest(presented.encode("ascii", "replace"), csrf_token(purpose, binding).encode())
