"""Connect sessions: a host backend mints a short-lived token for its end user's browser."""

from __future__ import annotations

from typing import Annotated

from flask import Blueprint, g, jsonify, request
from pydantic import Field

from hub.api.auth import require_tenant
from hub.api.validation import NO_NUL_PATTERN, StrictBody, parse_json_body
from hub.errors import NotFound
from hub.oauth.connect_sessions import create_connect_session
from hub.runtime import current_hub

blueprint = Blueprint("connect", __name__)


class CreateConnectSession(StrictBody):
    end_user_id: str = Field(min_length=1, max_length=255, pattern=NO_NUL_PATTERN)
    allowed_connectors: list[Annotated[str, Field(min_length=1, max_length=64)]] | None = Field(default=None, min_length=1, max_length=64)


@blueprint.post("/api/connect/sessions")
@require_tenant
def create_session():  # type: ignore[no-untyped-def]
    body = parse_json_body(request, CreateConnectSession)
    if body.allowed_connectors is not None:
        unknown = sorted(set(body.allowed_connectors) - set(current_hub().plugins.connectors))
        if unknown:
            raise NotFound(f"No such connector: {', '.join(unknown)[:200]}.")
    token, expires_at = create_connect_session(g.tenant_id, body.end_user_id, body.allowed_connectors)
    response = jsonify({"token": token, "expires_at": expires_at.isoformat().replace("+00:00", "Z")})
    response.headers["Cache-Control"] = "no-store"
    return response, 201
