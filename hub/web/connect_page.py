"""The Connect page: where an end user, sent by the host app with a connect token, connects an account.

`GET /connect?connect_token=...` lists the connectors the token allows: an
OAuth connector as a link to `/api/oauth/start/<connector>` (a link, not a
form, because the CSP's `form-action` would stop a form's redirect to the
provider; `target=_top`, because providers refuse to be framed and a framed
flow would lose its cookies), an API-key connector as a form of its
credential fields, posted back here with a CSRF token bound to the connect
token. Either way the end user lands on `/connect/result`: the OAuth
callback sends them there (unless the host gave a `return_to` of its own),
the form redirects there.

An expired, forged or used token (a token connects one account) is a page
saying so, never a stack trace or
JSON. The page may be framed only by HUB_CONNECT_FRAME_ANCESTORS.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, redirect, request, url_for

from hub.api.integrations import MAX_CREDENTIAL_CHARS, connect_api_key_integration
from hub.errors import BadRequest, CredentialsRefused, Forbidden, HubError, NotFound, Unauthorized
from hub.oauth.connect_sessions import ConnectSession, ConnectTokenUsed, read_connect_token, spend_connect_token
from hub.oauth.flow import connect_result_url, validate_return_to
from hub.runtime import current_hub
from hub.web.icons import sanitised_icon
from hub.web.pages import csrf_matches, csrf_token, render_page, serve_pages

blueprint = Blueprint("connect_page", __name__, template_folder="templates")
serve_pages(blueprint, frame_ancestors=lambda: current_hub().settings["HUB_CONNECT_FRAME_ANCESTORS"])

CSRF_PURPOSE = "connect-page"
MAX_NAME_CHARS = 200
# What a provider's error code means to the person who just tried to connect.
REFUSALS = {
    "access_denied": "You declined to give access, so nothing was connected.",
    "invalid_grant": "The provider did not accept the sign-in. Please try again.",
    "invalid_request": "The provider did not complete the sign-in. Please try again.",
    "temporarily_unavailable": "The provider could not be reached. Please try again in a moment.",
    "integration_quota_exceeded": "This account already has as many connections as it may hold.",
    "account_lookup_failed": "The provider did not tell us which account you connected. Please try again.",
}
GENERIC_REFUSAL = "Something went wrong while connecting. Please try again."


class _LinkRefused(Exception):
    """The link's token cannot be used; carries the page that says why."""

    def __init__(self, used: bool) -> None:
        super().__init__("connect link refused")
        self.used = used


def _session(token: str | None) -> ConnectSession | None:
    try:
        return read_connect_token(token or "")
    except Unauthorized:
        return None


def _live_session(token: str | None) -> ConnectSession:
    """The link's session, or _LinkRefused saying whether it expired (or was forged) or was already used."""
    try:
        return read_connect_token(token or "")
    except ConnectTokenUsed:
        raise _LinkRefused(used=True) from None
    except Unauthorized:
        raise _LinkRefused(used=False) from None


@blueprint.errorhandler(_LinkRefused)
def _refused_link(error: _LinkRefused) -> Response:
    return render_page("connect_expired.html", status=401, used=error.used)


def _connectors(session: ConnectSession) -> list[dict[str, Any]]:
    plugins = current_hub().plugins
    shown = []
    for connector_id in sorted(plugins.connectors):
        if not session.allows(connector_id):
            continue
        described = plugins.describe(connector_id)
        if not described["supports"]["oauth"] and not described["credential_fields"]:
            continue
        described["has_icon"] = sanitised_icon(plugins.info(connector_id).icon_svg) is not None
        shown.append(described)
    return shown


def _start_url(connector_id: str, token: str, return_to: str | None) -> str:
    landing = return_to or connect_result_url() + "?" + urlencode({"connect_token": token})
    return url_for("oauth.start", connector=connector_id, connect_token=token, return_to=landing)


def _connect_page(session: ConnectSession, token: str, return_to: str | None, *, status: int = 200,
                  errors: dict[str, str] | None = None, values: dict[str, str] | None = None) -> Response:
    connectors = _connectors(session)
    for connector in connectors:
        if connector["supports"]["oauth"]:
            connector["start_url"] = _start_url(connector["id"], token, return_to)
    return render_page(
        "connect.html", status=status, connectors=connectors, connect_token=token, return_to=return_to or "",
        csrf_token=csrf_token(CSRF_PURPOSE, token), errors=errors or {}, values=values or {},
    )


@blueprint.get("/connect")
def connect() -> Response:
    token = request.args.get("connect_token") or ""
    session = _live_session(token)
    return_to = validate_return_to(request.args.get("return_to"))
    return _connect_page(session, token, return_to)


@blueprint.get("/connect/icons/<connector_id>.svg")
def icon(connector_id: str) -> Response:
    plugins = current_hub().plugins
    svg = sanitised_icon(plugins.info(connector_id).icon_svg) if connector_id in plugins.connectors else None
    if svg is None:
        raise NotFound("No such icon")
    response = Response(svg, mimetype="image/svg+xml")
    response.headers["Cache-Control"] = "public, max-age=3600"
    return response


def _form_value(name: str, limit: int) -> str:
    value = request.form.get(name, "")
    if len(value) > limit or "\x00" in value:
        raise BadRequest(f"The field {name} is too long or holds characters it may not.")
    return value.strip()


@blueprint.post("/connect/<connector_id>")
def connect_with_credentials(connector_id: str) -> Response:
    token = request.form.get("connect_token") or ""
    session = _live_session(token)
    if not csrf_matches(request.form.get("csrf_token"), CSRF_PURPOSE, token):
        raise Forbidden("This form has expired or did not come from this page. Go back, reload the page and try again.")
    return_to = validate_return_to(request.form.get("return_to"))
    plugins = current_hub().plugins
    if connector_id not in plugins.connectors or not session.allows(connector_id):
        raise NotFound("This link cannot connect that service.")
    info = plugins.info(connector_id)
    if not info.credential_fields:
        raise BadRequest(f"{info.display_name} connects by signing in, not with a form.")
    credentials = {field: _form_value(f"credential-{field}", MAX_CREDENTIAL_CHARS) for field in info.credential_fields}
    credentials = {field: value for field, value in credentials.items() if value}
    name = _form_value("name", MAX_NAME_CHARS) or info.display_name
    missing = [field for field in info.required_credentials if not credentials.get(field)]
    if missing:
        errors = {connector_id: "Please fill in " + ", ".join(missing) + "."}
        return _connect_page(session, token, return_to, status=400, errors=errors, values={"connector": connector_id, "name": name})
    try:
        integration = connect_api_key_integration(
            session.tenant_id, connector_id, name=name, credentials=credentials, end_user_id=session.end_user_id
        )
    except CredentialsRefused:
        errors = {connector_id: f"{info.display_name} did not accept these credentials. Check them and try again."}
        return _connect_page(session, token, return_to, status=400, errors=errors, values={"connector": connector_id, "name": name})
    except HubError as error:
        if error.status >= 500 or error.status == 409:
            errors = {connector_id: error.detail}
            return _connect_page(session, token, return_to, status=error.status, errors=errors, values={"connector": connector_id, "name": name})
        raise
    spend_connect_token(session.token_digest)
    query = {"connect_token": token, "status": "success", "connector": connector_id, "integration_id": integration.id}
    if return_to:
        query["return_to"] = return_to
    return redirect(url_for("connect_page.result", **query), 303)


@blueprint.get("/connect/result")
def result() -> Response:
    status = request.args.get("status")
    connector_id = request.args.get("connector", "")
    plugins = current_hub().plugins
    if status not in ("success", "error") or connector_id not in plugins.connectors:
        raise BadRequest("This page shows the outcome of a connection; its link is incomplete.")
    token = request.args.get("connect_token")
    session = _session(token)
    retry_url = url_for("connect_page.connect", connect_token=token) if session is not None and token else None
    try:
        return_to = validate_return_to(request.args.get("return_to"))
    except BadRequest:
        return_to = None
    error = request.args.get("error", "")
    return render_page(
        "connect_result.html", status=200, succeeded=status == "success",
        display_name=plugins.info(connector_id).display_name,
        message=REFUSALS.get(error, GENERIC_REFUSAL), retry_url=retry_url, return_to=return_to,
    )
