"""RFC 9457 problem responses: the one place errors become HTTP.

Unexpected exceptions are logged server-side and answered with a bare 500
problem: a response never carries a stack trace, a token or a key.
"""

from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, json, request
from sqlalchemy.exc import DataError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge

from hub.errors import BadRequest, HubError, PayloadTooLarge

log = logging.getLogger(__name__)

PROBLEM_TYPE_BASE = "https://hub.dev/problems/"
PROBLEM_MIMETYPE = "application/problem+json"


def problem(status: int, title: str, detail: str | None = None, slug: str | None = None, **extra: Any) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_TYPE_BASE + (slug or title.lower().replace(" ", "-")),
        "title": title,
        "status": status,
        "detail": detail or title,
    }
    body.update(extra)
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM_MIMETYPE)
    return response


def _from_hub_error(error: HubError) -> Response:
    headers = error.extra.pop("headers", None) if error.extra else None
    response = problem(error.status, error.title, error.detail, error.slug, **error.extra)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _from_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    title = error.name or "Error"
    response = problem(status, title, error.description if status < 500 else title)
    valid_methods = getattr(error, "valid_methods", None)
    if status == 405 and valid_methods:
        response.headers["Allow"] = ", ".join(valid_methods)
    return response


def _from_unexpected(error: Exception) -> Response:
    log.exception("unhandled error: %s", type(error).__name__)
    return problem(500, "Internal error", "The hub could not complete the request.", "internal-error")


def _from_database_outage(error: Exception) -> Response:
    """The database is unreachable or refused the connection: the caller should retry."""
    from hub.storage.models import db

    log.error("database unavailable: %s", type(error).__name__)
    try:
        db.session.rollback()
    except Exception:  # the connection is already gone; the pool replaces it
        pass
    response = problem(503, "Service unavailable", "The database is unavailable; retry shortly.", "service-unavailable")
    response.headers["Retry-After"] = "5"
    return response


def _from_body_too_large(error: RequestEntityTooLarge) -> Response:
    """werkzeug refused a body past `max_content_length` (Content-Length, or a bounded chunked read)."""
    return _from_hub_error(PayloadTooLarge(f"The body is larger than {request.max_content_length} bytes."))


def _from_refused_value(error: Exception) -> Response:
    """The database refused a value (NUL in text, a malformed number): bad data, not an outage, so no retry helps."""
    from hub.storage.models import db

    log.warning("the database refused a value of the request: %s", type(error).__name__)
    try:
        db.session.rollback()
    except Exception:
        pass
    return _from_hub_error(BadRequest("The request holds a value the database cannot store."))


def register_problem_handlers(app: Flask) -> None:
    app.register_error_handler(HubError, _from_hub_error)
    app.register_error_handler(RequestEntityTooLarge, _from_body_too_large)
    app.register_error_handler(DataError, _from_refused_value)
    app.register_error_handler(OperationalError, _from_database_outage)
    app.register_error_handler(InterfaceError, _from_database_outage)
    app.register_error_handler(HTTPException, _from_http_exception)
    app.register_error_handler(Exception, _from_unexpected)
