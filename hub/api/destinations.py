"""Destinations REST API: a tenant's endpoints for signed event deliveries, and their deliveries (tenant from the API key only)."""

from __future__ import annotations

from typing import Annotated, Literal

from flask import Blueprint, g, jsonify, request
from pydantic import Field

from hub.api.auth import require_tenant
from hub.api.validation import NO_NUL_PATTERN, StrictBody, parse_json_body, parse_limit
from hub.delivery.addresses import MAX_URL_LENGTH
from hub.delivery.filters import MAX_FILTER_ENTRIES
from hub.errors import BadRequest
from hub.queue import deliveries
from hub.queue.queues import enqueue
from hub.storage.pagination import ROW_ID
from hub.tenancy import destinations as service

blueprint = Blueprint("destinations", __name__)

EventTypePattern = Annotated[str, Field(min_length=1, max_length=255, pattern=r"^[\x21-\x7e]+$")]
ConnectorId = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[a-z0-9_-]+$")]
IntegrationId = Annotated[str, Field(pattern=f"^{ROW_ID.pattern}$")]
Url = Field(min_length=1, max_length=MAX_URL_LENGTH)
Description = Field(default=None, max_length=500, pattern=NO_NUL_PATTERN)


class DestinationFilter(StrictBody):
    """Each list, when present, must match; an absent one matches everything."""

    event_types: list[EventTypePattern] | None = Field(default=None, min_length=1, max_length=MAX_FILTER_ENTRIES)
    connectors: list[ConnectorId] | None = Field(default=None, min_length=1, max_length=MAX_FILTER_ENTRIES)
    integration_ids: list[IntegrationId] | None = Field(default=None, min_length=1, max_length=MAX_FILTER_ENTRIES)

    def stored(self) -> dict[str, list[str]]:
        return {name: sorted(set(value)) for name, value in self.model_dump().items() if value is not None}


class CreateDestination(StrictBody):
    url: str = Url
    description: str | None = Description
    filter: DestinationFilter | None = None


class UpdateDestination(StrictBody):
    url: str | None = Field(default=None, min_length=1, max_length=MAX_URL_LENGTH)
    description: str | None = Description
    filter: DestinationFilter | None = None
    status: Literal["enabled", "disabled"] | None = None


@blueprint.post("/api/destinations")
@require_tenant
def create_destination():  # type: ignore[no-untyped-def]
    body = parse_json_body(request, CreateDestination)
    destination, secret = service.create_destination(
        g.tenant_id, url=body.url, description=body.description, filter_=body.filter.stored() if body.filter else {},
    )
    return jsonify({**service.serialize_destination(destination), "secret": secret}), 201


@blueprint.get("/api/destinations")
@require_tenant
def list_destinations():  # type: ignore[no-untyped-def]
    rows, next_cursor = service.list_destinations(
        g.tenant_id, limit=parse_limit(request.args.get("limit")), cursor=request.args.get("cursor") or None,
    )
    return jsonify({"destinations": [service.serialize_destination(row) for row in rows], "next_cursor": next_cursor})


@blueprint.get("/api/destinations/<destination_id>")
@require_tenant
def get_destination(destination_id: str):  # type: ignore[no-untyped-def]
    return jsonify(service.serialize_destination(service.get_destination(g.tenant_id, destination_id)))


@blueprint.patch("/api/destinations/<destination_id>")
@require_tenant
def update_destination(destination_id: str):  # type: ignore[no-untyped-def]
    service.get_destination(g.tenant_id, destination_id)
    body = parse_json_body(request, UpdateDestination)
    changes = body.model_dump(exclude_unset=True)
    if not changes:
        raise BadRequest("Nothing to change: give url, description, filter or status.")
    for name in ("url", "status", "filter"):
        if name in changes and changes[name] is None:
            raise BadRequest(f"{name} cannot be null.")
    if "filter" in changes:
        changes["filter"] = body.filter.stored() if body.filter else {}
    destination = service.update_destination(g.tenant_id, destination_id, changes)
    return jsonify(service.serialize_destination(destination))


@blueprint.delete("/api/destinations/<destination_id>")
@require_tenant
def delete_destination(destination_id: str):  # type: ignore[no-untyped-def]
    service.delete_destination(g.tenant_id, destination_id)
    return "", 204


@blueprint.post("/api/destinations/<destination_id>/rotate-secret")
@require_tenant
def rotate_secret(destination_id: str):  # type: ignore[no-untyped-def]
    secret = service.rotate_secret(g.tenant_id, destination_id)
    destination = service.get_destination(g.tenant_id, destination_id)
    return jsonify({"secret": secret, "previous_secret_expires_at": service.serialize_destination(destination)["secret_rotating_until"]})


@blueprint.post("/api/destinations/<destination_id>/test")
@require_tenant
def test_destination(destination_id: str):  # type: ignore[no-untyped-def]
    dispatch = deliveries.ping(g.tenant_id, destination_id)
    enqueue([dispatch])
    return jsonify({"delivery_id": dispatch.job_id, "type": deliveries.PING, "status": deliveries.PENDING}), 202


@blueprint.get("/api/destinations/<destination_id>/deliveries")
@require_tenant
def list_deliveries(destination_id: str):  # type: ignore[no-untyped-def]
    service.get_destination(g.tenant_id, destination_id)
    status = request.args.get("status") or None
    if status is not None and status not in deliveries.STATUSES:
        raise BadRequest(f"status must be one of {', '.join(deliveries.STATUSES)}.")
    rows, next_cursor = deliveries.list_deliveries(
        g.tenant_id, destination_id, status=status,
        limit=parse_limit(request.args.get("limit")), cursor=request.args.get("cursor") or None,
    )
    return jsonify({"deliveries": [deliveries.serialize_delivery(row) for row in rows], "next_cursor": next_cursor})


@blueprint.post("/api/deliveries/<delivery_id>/retry")
@require_tenant
def retry_delivery(delivery_id: str):  # type: ignore[no-untyped-def]
    dispatch = deliveries.retry_delivery(g.tenant_id, delivery_id)
    enqueue([dispatch])
    return jsonify({"delivery_id": delivery_id, "status": deliveries.PENDING}), 202
