"""The browser-facing OAuth endpoints: start (to the provider) and callback (back from it).

The browser that calls start receives the flow's nonce cookie and must be the
one that comes back to the callback (hub.oauth.browser). That holds for a
start made with a tenant API key too: the cookie goes to whoever made that
request, so a backend cannot start a flow and hand its provider URL to a
browser; it mints a connect token and sends the browser to start instead.
"""

from __future__ import annotations

from flask import Blueprint, Response, after_this_request, g, redirect, request

from hub.api.auth import UNAUTHORIZED_HEADERS, authenticate_api_key, bearer_token, refuse_tenant_override
from hub.errors import BadRequest, Forbidden, Unauthorized
from hub.oauth import browser, flow
from hub.oauth.connect_sessions import read_connect_token
from hub.runtime import current_hub

blueprint = Blueprint("oauth", __name__)
KEEPS_THE_FLOW = frozenset({404, 503})


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
    current_hub().rate_limits.limit_tenant(tenant_id)
    refuse_tenant_override()
    current_hub().plugins.connector(connector)
    if session is not None and not session.allows(connector):
        raise Forbidden(f"This connect token does not allow connecting {connector}.")
    nonce = browser.new_nonce()
    url, state = flow.authorization_url(
        connector, tenant_id=tenant_id, end_user_id=end_user_id, return_to=request.args.get("return_to"),
        browser_nonce_hash=browser.hash_nonce(nonce), connect_token_digest=session.token_digest if session else None,
    )
    response = _no_store(redirect(url, 302))
    browser.remember(request, response, state, nonce)
    return response


@blueprint.get("/api/oauth/callback/<connector>")
def callback(connector: str) -> Response:
    state = request.args.get("state")
    if state:

        @after_this_request
        def _forget_the_flow(response: Response) -> Response:
            # The state is spent by this callback, whatever the outcome; only an answer that
            # consumed nothing (unknown connector, state store unavailable) keeps the cookie for a retry.
            if response.status_code not in KEEPS_THE_FLOW:
                browser.forget(response, state)
            return response

    target = flow.complete_authorization(connector, request.args, browser_nonce=browser.nonce_of(request, state))
    return _no_store(redirect(target, 302))
