"""Events API: the tenant's received events, their delivery state, and replay."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request

from hub.api.auth import require_tenant
from hub.api.validation import parse_limit
from hub.events import queries as service
from hub.queue.outbox import PENDING
from hub.queue.queues import enqueue

blueprint = Blueprint("events", __name__)


@blueprint.get("/api/events")
@require_tenant
def list_events():  # type: ignore[no-untyped-def]
    rows, next_cursor = service.list_events(
        g.tenant_id,
        status=request.args.get("status") or None,
        integration_id=request.args.get("integration_id") or None,
        connector=request.args.get("connector") or None,
        limit=parse_limit(request.args.get("limit")),
        cursor=request.args.get("cursor") or None,
    )
    return jsonify({"events": [service.serialize_event(row) for row in rows], "next_cursor": next_cursor})


@blueprint.get("/api/events/<event_id>")
@require_tenant
def get_event(event_id: str):  # type: ignore[no-untyped-def]
    return jsonify(service.serialize_event(service.get_event(g.tenant_id, event_id)))


@blueprint.post("/api/events/<event_id>/replay")
@require_tenant
def replay_event(event_id: str):  # type: ignore[no-untyped-def]
    job_id, dispatches = service.replay_event(g.tenant_id, event_id)
    enqueue(dispatches)
    return jsonify({"job_id": job_id, "status": PENDING}), 202
