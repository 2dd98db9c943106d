"""`GET /api/openapi.json`: the OpenAPI 3.1 document of this API."""

from __future__ import annotations

from flask import Blueprint, jsonify

from hub.openapi import build_document

blueprint = Blueprint("openapi", __name__)


@blueprint.get("/api/openapi.json")
def openapi_document():  # type: ignore[no-untyped-def]
    return jsonify(build_document())
