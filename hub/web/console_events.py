"""The console's events: the overview chart, the filtered list (keyset pages), the dead letters, one event, replay.

Filters are query parameters (status, connector, integration, type) checked
the way the API checks them, so a bad one is a 400 page; the next page is a
cursor, never an offset. An event's page shows its CloudEvent as formatted
JSON. Replay is a POST with the session's CSRF token. Every read is the
tenant's: another tenant's id is a 404 page.
"""

from __future__ import annotations

import json

from flask import Blueprint, Response, g, redirect, request, url_for

from hub.api.validation import parse_limit
from hub.errors import BadRequest
from hub.events import queries
from hub.events.activity import SERIES, hourly_activity
from hub.queue.queues import enqueue
from hub.runtime import current_hub
from hub.web.chart import chart
from hub.web.console_auth import console_page, console_render
from hub.web.pages import serve_pages

blueprint = Blueprint("console_events", __name__, template_folder="templates")
serve_pages(blueprint)

FILTERS = ("status", "connector", "integration_id", "type")
MAX_FILTER_CHARS = 255


@blueprint.get("/console")
@console_page
def overview() -> Response:
    charts = [chart(activity) for activity in hourly_activity(g.tenant_id)]
    return console_render("overview.html", charts=charts, series=SERIES)


def _filters(**fixed: str) -> dict[str, str]:
    chosen = {}
    for name in FILTERS:
        value = fixed.get(name, request.args.get(name, "")).strip()
        if len(value) > MAX_FILTER_CHARS:
            raise BadRequest(f"The {name} filter is too long.")
        if value:
            chosen[name] = value
    return chosen


def _event_list(template_title: str, endpoint: str, **fixed: str) -> Response:
    chosen = _filters(**fixed)
    rows, next_cursor = queries.list_events(
        g.tenant_id, status=chosen.get("status"), integration_id=chosen.get("integration_id"),
        connector=chosen.get("connector"), type=chosen.get("type"),
        limit=parse_limit(request.args.get("limit")), cursor=request.args.get("cursor") or None,
    )
    free_filters = {name: value for name, value in chosen.items() if name not in fixed}
    next_url = url_for(endpoint, cursor=next_cursor, **free_filters) if next_cursor else None
    first_url = url_for(endpoint, **free_filters) if request.args.get("cursor") else None
    return console_render(
        "events.html", title=template_title, events=rows, filters=chosen, fixed=fixed, endpoint=endpoint,
        statuses=queries.EVENT_STATUSES, connectors=sorted(current_hub().plugins.connectors),
        next_url=next_url, first_url=first_url,
    )


@blueprint.get("/console/events")
@console_page
def events() -> Response:
    return _event_list("Events", "console_events.events")


@blueprint.get("/console/dead-letters")
@console_page
def dead_letters() -> Response:
    return _event_list("Dead letters", "console_events.dead_letters", status="dead")


@blueprint.get("/console/events/<event_id>")
@console_page
def event(event_id: str) -> Response:
    row = queries.get_event(g.tenant_id, event_id)
    cloud_event = json.dumps(queries.cloud_event(row), indent=2, ensure_ascii=False, default=str)
    return console_render(
        "event.html", event=queries.serialize_event(row), cloud_event=cloud_event,
        replayed=request.args.get("done") == "replayed",
    )


@blueprint.post("/console/events/<event_id>/replay")
@console_page
def replay(event_id: str) -> Response:
    _job_id, dispatches = queries.replay_event(g.tenant_id, event_id)
    enqueue(dispatches)
    return redirect(url_for(".event", event_id=event_id, done="replayed"), 303)
