"""The console's destinations: the list, registration, the signing secret shown once, rotation, disable/enable, delete, deliveries.

Every change goes through the same services as the API
(hub.tenancy.destinations, hub.queue.deliveries) and the form is checked by
the API's own body models, so the console accepts exactly what the API
accepts; a refused form comes back filled in with a plain message and
nothing stored. The secret appears only on the page that answers the POST
that made it (creation or rotation), never on a page a GET can fetch again.
Every change is a POST with the session's CSRF token; every lookup is the
tenant's, so another tenant's id is a 404 page.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Blueprint, Response, g, redirect, request, url_for
from pydantic import ValidationError

from hub.api.destinations import CreateDestination
from hub.api.validation import parse_limit
from hub.errors import BadRequest, HubError
from hub.queue import deliveries
from hub.queue.queues import enqueue
from hub.tenancy import destinations as service
from hub.web.console_auth import console_page, console_render
from hub.web.pages import serve_pages

blueprint = Blueprint("console_destinations", __name__, template_folder="templates")
serve_pages(blueprint)

FILTER_FIELDS = ("event_types", "connectors", "integration_ids")
FIELD_LABELS = {
    "url": "URL", "description": "Description",
    "event_types": "Event types", "connectors": "Connectors", "integration_ids": "Integration ids",
}
# What each list's entries look like, said when one does not.
FIELD_SHAPES = {
    "event_types": "an event type pattern is printable characters without spaces, where * stands for any run (stripe.charge.*)",
    "connectors": "a connector id is lowercase letters, digits, _ and -",
    "integration_ids": "an integration id is the id the hub gave the integration",
    "description": "the description cannot hold a NUL character",
}
NOTICES = {
    "enabled": "The destination is enabled: new events are delivered to it again.",
    "disabled": "The destination is disabled: nothing is sent to it until it is enabled.",
    "deleted": "The destination and its deliveries are deleted.",
    "retried": "The delivery is queued for one more attempt, with the same webhook-id.",
}


def _entries(raw: str) -> list[str] | None:
    """A list field of the form: entries separated by commas, spaces or new lines; none at all means no such filter."""
    entries = [entry for entry in re.split(r"[\s,]+", raw) if entry]
    return entries or None


def _form_values() -> dict[str, str]:
    return {name: request.form.get(name, "") for name in ("url", "description", *FILTER_FIELDS)}


def _messages(error: ValidationError) -> list[str]:
    messages = []
    for fault in error.errors(include_input=False, include_url=False, include_context=False):
        location = [str(part) for part in fault["loc"] if not isinstance(part, int)]
        field = location[-1] if location else ""
        label = FIELD_LABELS.get(field, "The form")
        if fault["type"] == "string_pattern_mismatch" and field in FIELD_SHAPES:
            messages.append(f"{label}: {FIELD_SHAPES[field]}.")
        else:
            messages.append(f"{label}: {fault['msg']}.")
    return list(dict.fromkeys(messages))


def _form_page(values: dict[str, str], errors: list[str], status: int) -> Response:
    return console_render("destination_new.html", status=status, values=values, errors=errors)


def filter_summary(filter_: dict[str, Any] | None) -> str:
    """The filter in a few words for the list: what a destination receives."""
    parts = [f"{FIELD_LABELS[name].lower()}: {', '.join(filter_[name])}" for name in FILTER_FIELDS if (filter_ or {}).get(name)]
    return "; ".join(parts) if parts else "every event"


@blueprint.get("/console/destinations")
@console_page
def destinations() -> Response:
    rows, next_cursor = service.list_destinations(
        g.tenant_id, limit=parse_limit(request.args.get("limit")), cursor=request.args.get("cursor") or None,
    )
    return console_render(
        "destinations.html", destinations=rows, summaries={row.id: filter_summary(row.filter) for row in rows},
        next_cursor=next_cursor, first_page=not request.args.get("cursor"), notice=NOTICES.get(request.args.get("done", "")),
    )


@blueprint.get("/console/destinations/new")
@console_page
def new_destination() -> Response:
    return _form_page({}, [], 200)


@blueprint.post("/console/destinations")
@console_page
def create() -> Response:
    values = _form_values()
    lists = {name: _entries(values[name]) for name in FILTER_FIELDS}
    body: dict[str, Any] = {"url": values["url"].strip(), "description": values["description"].strip() or None}
    if any(lists.values()):
        body["filter"] = {name: entries for name, entries in lists.items() if entries}
    try:
        checked = CreateDestination.model_validate(body)
    except ValidationError as error:
        return _form_page(values, _messages(error), 400)
    try:
        destination, secret = service.create_destination(
            g.tenant_id, url=checked.url, description=checked.description,
            filter_=checked.filter.stored() if checked.filter else {},
        )
    except HubError as error:
        if error.status >= 500:
            raise
        return _form_page(values, [error.detail or error.title], error.status)
    return console_render("destination_secret.html", destination=destination, secret=secret, rotated=False)


@blueprint.get("/console/destinations/<destination_id>")
@console_page
def destination(destination_id: str) -> Response:
    row = service.get_destination(g.tenant_id, destination_id)
    return console_render(
        "destination.html", destination=service.serialize_destination(row), summary=filter_summary(row.filter),
        notice=NOTICES.get(request.args.get("done", "")),
    )


@blueprint.post("/console/destinations/<destination_id>/rotate-secret")
@console_page
def rotate_secret(destination_id: str) -> Response:
    secret = service.rotate_secret(g.tenant_id, destination_id)
    row = service.get_destination(g.tenant_id, destination_id)
    return console_render("destination_secret.html", destination=row, secret=secret, rotated=True,
                          rotating_until=service.serialize_destination(row)["secret_rotating_until"])


@blueprint.post("/console/destinations/<destination_id>/status")
@console_page
def set_status(destination_id: str) -> Response:
    status = request.form.get("status", "")
    if status not in service.STATUSES:
        raise BadRequest(f"The status is {' or '.join(service.STATUSES)}.")
    service.update_destination(g.tenant_id, destination_id, {"status": status})
    return redirect(url_for(".destination", destination_id=destination_id, done=status), 303)


@blueprint.get("/console/destinations/<destination_id>/delete")
@console_page
def confirm_delete(destination_id: str) -> Response:
    return console_render("destination_delete.html", destination=service.get_destination(g.tenant_id, destination_id))


@blueprint.post("/console/destinations/<destination_id>/delete")
@console_page
def delete(destination_id: str) -> Response:
    service.delete_destination(g.tenant_id, destination_id)
    return redirect(url_for(".destinations", done="deleted"), 303)


@blueprint.get("/console/destinations/<destination_id>/deliveries")
@console_page
def destination_deliveries(destination_id: str) -> Response:
    row = service.get_destination(g.tenant_id, destination_id)
    status = request.args.get("status", "").strip() or None
    if status is not None and status not in deliveries.STATUSES:
        raise BadRequest(f"The status filter is one of {', '.join(deliveries.STATUSES)}.")
    rows, next_cursor = deliveries.list_deliveries(
        g.tenant_id, row.id, status=status, limit=parse_limit(request.args.get("limit")),
        cursor=request.args.get("cursor") or None,
    )
    filters = {"status": status} if status else {}
    endpoint = ".destination_deliveries"
    return console_render(
        "deliveries.html", destination=row, deliveries=rows, chosen_status=status, statuses=deliveries.STATUSES,
        next_url=url_for(endpoint, destination_id=row.id, cursor=next_cursor, **filters) if next_cursor else None,
        first_url=url_for(endpoint, destination_id=row.id, **filters) if request.args.get("cursor") else None,
        notice=NOTICES.get(request.args.get("done", "")),
    )


@blueprint.post("/console/deliveries/<delivery_id>/retry")
@console_page
def retry(delivery_id: str) -> Response:
    destination_id = deliveries.get_delivery(g.tenant_id, delivery_id).destination_id
    enqueue([deliveries.retry_delivery(g.tenant_id, delivery_id)])
    return redirect(url_for(".destination_deliveries", destination_id=destination_id, done="retried"), 303)
