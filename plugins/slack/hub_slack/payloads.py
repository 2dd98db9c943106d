"""Reading Slack's webhook bodies: Events API JSON, interactivity and slash commands.

Dedupe ids are chosen so that every redelivery of one thing has one id:
- Events API: the `event_id`, which Slack keeps on every retry
  (`X-Slack-Retry-Num`); except message events, keyed `message:{channel}:{ts}`
  so the message sync later reads from `conversations.history` is the same
  event and is not processed twice;
- interactivity and slash commands: `{type}:{trigger_id}` (one per user
  action), or a hash of the raw body when the payload has no trigger id.

The legacy verification `token` Slack puts in every body is removed from
the event data: it is a secret, and the signature already proved origin.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs

from hub.kit import parse_json_object
from hub.types import NormalizedEvent, WebhookRequest

from hub_slack.accounts import external_account_id

FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"


def is_form(request: WebhookRequest) -> bool:
    if request.content_type:
        return request.content_type.split(";")[0].strip().lower() == FORM_CONTENT_TYPE
    return not request.body.lstrip().startswith(b"{")


def parse_form(body: bytes) -> dict[str, str]:
    try:
        fields = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as exc:
        raise ValueError("the body is not a form") from exc
    return {name: values[0] for name, values in fields.items()}


def without_token(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in payload.items() if key != "token"}


def message_event_id(channel: Any, ts: Any) -> str | None:
    if isinstance(channel, str) and channel and isinstance(ts, str) and ts:
        return f"message:{channel}:{ts}"
    return None


def slack_time(value: Any) -> datetime | None:
    """A datetime from Slack's epoch seconds (`event_time`) or message timestamps (`"1355517523.000005"`)."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        seconds = Decimal(str(value))
    except InvalidOperation:
        return None
    if not seconds.is_finite():
        return None
    try:
        return datetime.fromtimestamp(float(seconds), tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def normalize_request(request: WebhookRequest) -> list[NormalizedEvent]:
    if is_form(request):
        fields = parse_form(request.body)
        if "payload" in fields:
            return [_interaction(parse_json_object(fields["payload"].encode("utf-8")), request.body)]
        if "command" in fields:
            return [_slash_command(fields, request.body)]
        if fields.get("ssl_check"):
            return []
        raise ValueError("a Slack form body carries a payload or a command")
    payload = parse_json_object(request.body)
    kind = payload.get("type")
    if kind == "event_callback":
        return [_event_callback(payload)]
    if kind in ("url_verification", "app_rate_limited"):
        return []
    raise ValueError("not a Slack Events API body")


def _event_callback(payload: Mapping[str, Any]) -> NormalizedEvent:
    event = payload.get("event")
    event_id = payload.get("event_id")
    if not isinstance(event, Mapping) or not isinstance(event.get("type"), str) or not isinstance(event_id, str) or not event_id:
        raise ValueError("an event_callback needs an event_id and an event with a type")
    event_type = event["type"]
    dedupe_id = event_id
    if event_type == "message":
        dedupe_id = message_event_id(event.get("channel"), event.get("ts")) or event_id
    return NormalizedEvent(
        id=dedupe_id,
        type=f"slack.{event_type}",
        data=without_token(payload),
        subject=_channel_of(event),
        time=slack_time(payload.get("event_time")) or slack_time(event.get("ts")),
        account=_event_account(payload),
    )


def _event_account(payload: Mapping[str, Any]) -> str | None:
    """The installation an event is for: its authorization, which (unlike the
    top-level team_id in a shared channel) always names our installation."""
    authorizations = payload.get("authorizations")
    if isinstance(authorizations, list) and authorizations and isinstance(authorizations[0], Mapping):
        first = authorizations[0]
        account = external_account_id(first.get("team_id"), first.get("enterprise_id"), first.get("is_enterprise_install"))
        if account:
            return account
    return external_account_id(payload.get("team_id"), payload.get("enterprise_id"), payload.get("is_enterprise_install"))


def _channel_of(event: Mapping[str, Any]) -> str | None:
    channel = event.get("channel")
    if isinstance(channel, Mapping):
        channel = channel.get("id")
    if isinstance(channel, str) and channel:
        return channel
    item = event.get("item")
    if isinstance(item, Mapping) and isinstance(item.get("channel"), str):
        return item["channel"]
    return None


def _body_hash(body: bytes) -> str:
    return "sha256:" + hashlib.sha256(body).hexdigest()


def _interaction(payload: Mapping[str, Any], body: bytes) -> NormalizedEvent:
    kind = payload.get("type")
    if not isinstance(kind, str) or not kind:
        raise ValueError("an interactivity payload needs a type")
    trigger_id = payload.get("trigger_id")
    dedupe_key = trigger_id if isinstance(trigger_id, str) and trigger_id else _body_hash(body)
    team = payload.get("team") if isinstance(payload.get("team"), Mapping) else {}
    enterprise = payload.get("enterprise") if isinstance(payload.get("enterprise"), Mapping) else {}
    user = payload.get("user") if isinstance(payload.get("user"), Mapping) else {}
    channel = payload.get("channel") if isinstance(payload.get("channel"), Mapping) else {}
    actions = payload.get("actions")
    action_ts = actions[0].get("action_ts") if isinstance(actions, list) and actions and isinstance(actions[0], Mapping) else None
    return NormalizedEvent(
        id=f"{kind}:{dedupe_key}",
        type=f"slack.{kind}",
        data=without_token(payload),
        subject=channel.get("id") if isinstance(channel.get("id"), str) else None,
        time=slack_time(action_ts),
        account=external_account_id(
            team.get("id") or user.get("team_id"), enterprise.get("id"), payload.get("is_enterprise_install")
        ),
    )


def _slash_command(fields: Mapping[str, str], body: bytes) -> NormalizedEvent:
    trigger_id = fields.get("trigger_id")
    return NormalizedEvent(
        id=f"slash_command:{trigger_id or _body_hash(body)}",
        type="slack.slash_command",
        data=without_token(fields),
        subject=fields.get("command") or None,
        account=external_account_id(fields.get("team_id"), fields.get("enterprise_id"), fields.get("is_enterprise_install")),
    )
