"""Liveness and readiness."""

from __future__ import annotations

from flask import Blueprint, jsonify

from hub.monitoring.readiness import is_ready, readiness_checks

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    checks = readiness_checks()
    ready = is_ready(checks)
    return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), 200 if ready else 503
