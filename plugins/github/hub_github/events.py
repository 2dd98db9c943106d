"""GitHub webhook deliveries as hub events.

The event's id is the delivery's `X-GitHub-Delivery` GUID: GitHub signs no
timestamp, so a replayed delivery can only be told apart from a new one by
that id, which the hub's dedupe then drops. Redeliveries GitHub makes
itself keep the GUID too. Types are `github.<event>` or
`github.<event>.<action>` (`github.issues.opened`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

from hub.kit import parse_json_object
from hub.types import NormalizedEvent, WebhookRequest

FORM = "application/x-www-form-urlencoded"


def payload_of(request: WebhookRequest) -> dict[str, Any]:
    """The JSON payload, sent as the body or (content type "form") as its `payload` field."""
    if request.content_type.split(";")[0].strip().lower() != FORM:
        return parse_json_object(request.body)
    try:
        fields = parse_qs(request.body.decode("utf-8"), strict_parsing=True)
    except (UnicodeDecodeError, ValueError):
        raise ValueError("the body is not a form") from None
    if len(fields.get("payload", [])) != 1:
        raise ValueError("the form has no payload field")
    return parse_json_object(fields["payload"][0], what="the payload field")


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _login(user: Any) -> str | None:
    return _text(user.get("login")) if isinstance(user, Mapping) else None


def _name(author: Any) -> str | None:
    return _text(author.get("name")) if isinstance(author, Mapping) else None


def _item(item: Any) -> dict[str, Any]:
    """The fields of an issue or pull request a processor acts on."""
    if not isinstance(item, Mapping):
        return {}
    fields = {name: item.get(name) for name in ("id", "number", "title", "state", "html_url", "created_at", "updated_at")}
    return {**fields, "user": _login(item.get("user")), "labels": [label.get("name") for label in item.get("labels") or [] if isinstance(label, Mapping)]}


def event_data(event: str, payload: Mapping[str, Any]) -> dict[str, Any]:
    repository = payload.get("repository") if isinstance(payload.get("repository"), Mapping) else {}
    data: dict[str, Any] = {"repository": repository.get("full_name"), "sender": _login(payload.get("sender")), "action": payload.get("action")}
    if event == "push":
        commits = [commit for commit in payload.get("commits") or [] if isinstance(commit, Mapping)]
        data |= {
            "ref": payload.get("ref"), "before": payload.get("before"), "after": payload.get("after"),
            "commits": [{"id": c.get("id"), "message": c.get("message"), "author": _name(c.get("author"))} for c in commits],
        }
    elif event == "issues":
        data["issue"] = _item(payload.get("issue"))
    elif event == "pull_request":
        pull_request = payload.get("pull_request")
        data["pull_request"] = _item(pull_request) | {"merged": pull_request.get("merged") if isinstance(pull_request, Mapping) else None}
    else:
        data["payload"] = dict(payload)
    return data


def subject_of(event: str, data: Mapping[str, Any]) -> str | None:
    repository = data.get("repository")
    if not isinstance(repository, str):
        return None
    number = (data.get("issue") or data.get("pull_request") or {}).get("number")
    if isinstance(number, int) and not isinstance(number, bool):
        return f"{repository}#{number}"
    return f"{repository}@{data['ref']}" if event == "push" and isinstance(data.get("ref"), str) else repository


def normalize_delivery(request: WebhookRequest) -> list[NormalizedEvent]:
    delivery, event = _text(request.header("x-github-delivery")), _text(request.header("x-github-event"))
    if delivery is None or event is None:
        raise ValueError("the delivery has no X-GitHub-Delivery or X-GitHub-Event header")
    payload = payload_of(request)
    if event == "ping":
        return []
    action = _text(payload.get("action"))
    data = event_data(event, payload)
    kind = f"github.{event}.{action}" if action else f"github.{event}"
    return [NormalizedEvent(id=delivery, type=kind, data=data, subject=subject_of(event, data))]
