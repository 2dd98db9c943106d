"""`GET /api/connectors`: what is installed and what each connector supports."""

from __future__ import annotations

from flask import Blueprint, jsonify

from hub.runtime import current_hub

blueprint = Blueprint("connectors", __name__)


@blueprint.get("/api/connectors")
def list_connectors():  # type: ignore[no-untyped-def]
    plugins = current_hub().plugins
    return jsonify({"connectors": [plugins.describe(cid) for cid in sorted(plugins.connectors)]})
