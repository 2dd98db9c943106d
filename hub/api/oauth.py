"""The browser-facing OAuth endpoints: start (to the provider) and callback (back from it)."""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, request

from hub import oauth
from hub.auth import UNAUTHORIZED_HEADERS, authenticate_api_key, bearer_token, refuse_tenant_override
from hub.connect_sessions import read_connect_token
from hub.errors import BadRequest, Forbidden, Unauthorized
from hub.ratelimit import limit_tenant
from hub.state import current_hub

blueprint = Blueprint("oauth", __name__)


def _no_store(response: Response) -> Response:
    """Keep codes and states out of caches and out of the Referer sent to the next page."""
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@blueprint.get("/api/oauth/start/<connector>")
def start(connector: str) -> Response:
    connect_token = request.args.get("connect_token")
    if connect_token is not None and bearer_token() is not None:
        raise BadRequest("Authenticate with either a connect token or an API key, not both.")
    if connect_token is not None:
        session = read_connect_token(connect_token)
        tenant_id, end_user_id = session.tenant_id, session.end_user_id
    elif bearer_token() is not None:
        tenant_id, end_user_id, session = authenticate_api_key(), None, None
    else:
        raise Unauthorized("A connect_token (or a tenant API key) is required.", headers=UNAUTHORIZED_HEADERS)
    g.tenant_id = tenant_id
    limit_tenant(tenant_id)
    refuse_tenant_override()
    current_hub().plugins.connector(connector)
    if session is not None and not session.allows(connector):
        raise Forbidden(f"This connect token does not allow connecting {connector}.")
    url = oauth.authorization_url(
        connector, tenant_id=tenant_id, end_user_id=end_user_id, return_to=request.args.get("return_to")
    )
    return _no_store(redirect(url, 302))


@blueprint.get("/api/oauth/callback/<connector>")
def callback(connector: str) -> Response:
    return _no_store(redirect(oauth.complete_authorization(connector, request.args), 302))
