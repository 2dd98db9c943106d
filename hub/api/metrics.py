"""`GET /metrics` in the Prometheus text format, behind an optional bearer token.

With `HUB_METRICS_TOKEN` set, a scrape must send `Authorization: Bearer
<token>`; anything else is a 401 problem. With `HUB_METRICS_LISTEN` set,
metrics are served only on that separate listener (`hub metrics serve`),
and the API's own `/metrics` answers 404: a public API then shows nothing
of the hub's internals.
"""

from __future__ import annotations

import hashlib
import hmac

from flask import Blueprint, Response, request
from prometheus_client import CONTENT_TYPE_LATEST

from hub.api.auth import bearer_token
from hub.errors import NotFound, Unauthorized
from hub.monitoring.listener import LISTENER_ENVIRON_KEY
from hub.monitoring.scrape import render_metrics
from hub.runtime import current_hub

blueprint = Blueprint("metrics", __name__)


def _digest(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def require_metrics_token(expected: str | None) -> None:
    """Refuse the scrape unless it carries the configured token (compared in constant time, length included)."""
    if not expected:
        return
    presented = bearer_token() or ""
    if not hmac.compare_digest(_digest(presented), _digest(expected)):
        raise Unauthorized(
            "A valid metrics token is required (Authorization: Bearer <HUB_METRICS_TOKEN>).",
            headers={"WWW-Authenticate": 'Bearer realm="hub-metrics"'},
        )


@blueprint.get("/metrics")
def metrics():  # type: ignore[no-untyped-def]
    settings = current_hub().settings
    if settings.get("HUB_METRICS_LISTEN") and not request.environ.get(LISTENER_ENVIRON_KEY):
        raise NotFound("Metrics are served on their own listener.")
    require_metrics_token(settings.get("HUB_METRICS_TOKEN"))
    return Response(render_metrics(), mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Content-Type": CONTENT_TYPE_LATEST})
