"""`GET /metrics` in the Prometheus text format."""

from __future__ import annotations

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST

from hub.metrics import render_metrics

blueprint = Blueprint("metrics", __name__)


@blueprint.get("/metrics")
def metrics():  # type: ignore[no-untyped-def]
    return Response(render_metrics(), mimetype=CONTENT_TYPE_LATEST.split(";")[0], headers={"Content-Type": CONTENT_TYPE_LATEST})
