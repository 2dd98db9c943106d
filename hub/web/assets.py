"""The pages' own stylesheet, script and icon, served from the hub's origin (CSP `'self'`)."""

from __future__ import annotations

from flask import Blueprint, Response

blueprint = Blueprint("web_assets", __name__, static_folder="static", static_url_path="/web-static")


@blueprint.after_request
def _no_sniffing(response: Response) -> Response:
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
