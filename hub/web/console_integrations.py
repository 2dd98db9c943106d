"""The console's integrations: a page of them, one in detail (its webhook URL to copy), and what an operator does to one.

Sync now, disable, enable and delete are POSTs with the session's CSRF
token, each followed by a redirect (so reloading repeats nothing); delete
asks first on a page of its own, which works without JavaScript. Every
lookup is the tenant's: another tenant's id is a 404 page.
"""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, request, url_for

from hub.api.validation import parse_limit
from hub.errors import BadRequest
from hub.provider.revoke import disconnect_integration
from hub.provider.sync import request_sync
from hub.queue.pausing import switch_status
from hub.queue.queues import enqueue
from hub.runtime import current_hub
from hub.tenancy import integrations as service
from hub.web.console_auth import console_page, console_render
from hub.web.pages import serve_pages

blueprint = Blueprint("console_integrations", __name__, template_folder="templates")
serve_pages(blueprint)

NOTICES = {
    "sync": "A sync is queued.",
    "disabled": "The integration is disabled: its webhooks are kept, and processed once it is enabled again.",
    "active": "The integration is enabled.",
    "deleted": "The integration is deleted.",
}


@blueprint.get("/console/integrations")
@console_page
def integrations() -> Response:
    rows, next_cursor = service.list_integrations(
        g.tenant_id, connector=None, status=None, limit=parse_limit(request.args.get("limit")),
        cursor=request.args.get("cursor") or None,
    )
    return console_render(
        "integrations.html", integrations=rows, next_cursor=next_cursor, first_page=not request.args.get("cursor"),
        notice=NOTICES.get(request.args.get("done", "")),
    )


@blueprint.get("/console/integrations/<integration_id>")
@console_page
def integration(integration_id: str) -> Response:
    row = service.get_integration_by_id(g.tenant_id, integration_id)
    plugins = current_hub().plugins
    installed = row.connector in plugins.connectors
    return console_render(
        "integration.html", integration=service.serialize_integration(row),
        display_name=plugins.info(row.connector).display_name if installed else row.connector,
        can_sync=installed and plugins.describe(row.connector)["supports"]["sync"] and row.status == "active",
        notice=NOTICES.get(request.args.get("done", "")),
    )


@blueprint.post("/console/integrations/<integration_id>/sync")
@console_page
def sync(integration_id: str) -> Response:
    _job_id, dispatches = request_sync(g.tenant_id, integration_id)
    enqueue(dispatches)
    return redirect(url_for(".integration", integration_id=integration_id, done="sync"), 303)


@blueprint.post("/console/integrations/<integration_id>/status")
@console_page
def set_status(integration_id: str) -> Response:
    status = request.form.get("status", "")
    if status not in ("active", "disabled"):
        raise BadRequest("The status is active or disabled.")
    service.get_integration_by_id(g.tenant_id, integration_id)
    _row, dispatches = switch_status(g.tenant_id, integration_id, status)
    enqueue(dispatches)
    return redirect(url_for(".integration", integration_id=integration_id, done=status), 303)


@blueprint.get("/console/integrations/<integration_id>/delete")
@console_page
def confirm_delete(integration_id: str) -> Response:
    row = service.get_integration_by_id(g.tenant_id, integration_id)
    return console_render("integration_delete.html", integration=row)


@blueprint.post("/console/integrations/<integration_id>/delete")
@console_page
def delete(integration_id: str) -> Response:
    disconnect_integration(g.tenant_id, integration_id)
    return redirect(url_for(".integrations", done="deleted"), 303)
