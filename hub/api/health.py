"""Liveness and readiness."""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, jsonify

from hub.key_check import ring_problems
from hub.models import db
from hub.state import current_hub

blueprint = Blueprint("health", __name__)
log = logging.getLogger(__name__)


@blueprint.get("/healthz")
def healthz():  # type: ignore[no-untyped-def]
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz():  # type: ignore[no-untyped-def]
    checks: dict[str, str] = {}
    try:
        db.session.execute(sa.text("SELECT 1"))
        checks["database"] = "ok"
    except Exception:
        db.session.rollback()
        checks["database"] = "unavailable"
    checks["keys"] = _keys_check() if checks["database"] == "ok" else "unavailable"
    try:
        from hub.jobs import QUEUES
        from hub.queues import current_queues

        for name in QUEUES:
            current_queues().depth(name)
        checks["queue"] = "ok"
    except Exception:
        checks["queue"] = "unavailable"
    ready = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), 200 if ready else 503


def _keys_check() -> str:
    """"ok" when ENCRYPTION_KEY opens the stored data (see hub.key_check); the details go to the log only."""
    try:
        problems = ring_problems(current_hub().keyring)
    except Exception:
        db.session.rollback()
        return "unavailable"
    finally:
        db.session.rollback()  # end the read, never hold a transaction between probes
    if problems:
        log.error("not ready: %s", "; ".join(problems))
        return "failed"
    return "ok"
