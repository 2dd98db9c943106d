"""Tenant API keys: create (the key is shown once), list, revoke."""

from __future__ import annotations

from flask import Blueprint, g, jsonify, request
from pydantic import Field

from hub.api.auth import require_tenant
from hub.api.validation import NO_NUL_PATTERN, StrictBody, parse_json_body
from hub.tenancy import api_keys as service

blueprint = Blueprint("keys", __name__)


class CreateKey(StrictBody):
    name: str | None = Field(default=None, min_length=1, max_length=200, pattern=NO_NUL_PATTERN)


@blueprint.post("/api/keys")
@require_tenant
def create_key():  # type: ignore[no-untyped-def]
    body = parse_json_body(request, CreateKey, optional=True)
    row, key = service.create_api_key(g.tenant_id, body.name)
    return jsonify({**service.serialize_api_key(row), "key": key}), 201


@blueprint.get("/api/keys")
@require_tenant
def list_keys():  # type: ignore[no-untyped-def]
    return jsonify({"keys": [service.serialize_api_key(row) for row in service.list_api_keys(g.tenant_id)]})


@blueprint.delete("/api/keys/<key_id>")
@require_tenant
def revoke_key(key_id: str):  # type: ignore[no-untyped-def]
    service.revoke_api_key(key_id, tenant_id=g.tenant_id)
    return "", 204
