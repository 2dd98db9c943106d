"""Reading messages with `conversations.list` and `conversations.history`, one API call per `sync`.

A sync cycle lists the conversations the bot is a member of, then reads
each one's history newer than the last message read in the previous cycle.
The whole position (where the listing stands, which channels are still to
read, the history cursor of the current one, the newest message per
channel) is the `SyncResult.cursor`, a compact JSON string, so a crash or a
rate limit resumes exactly where it stopped.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

import requests
from hub.kit import int_setting
from hub.types import NormalizedEvent, SyncResult

from hub_slack.errors import SlackApiError, SlackConfigurationError, SlackRateLimited
from hub_slack.payloads import message_event_id, slack_time
from hub_slack.web_api import call

DEFAULT_CONVERSATION_TYPES = "public_channel,private_channel"
DEFAULT_PAGE_SIZE = 200
# The bot left, the channel was archived or deleted since the listing: skip it.
SKIPPABLE_CHANNEL_ERRORS = {"not_in_channel", "channel_not_found", "is_archived", "missing_scope"}


@dataclass
class SyncPosition:
    listed: bool = False
    list_cursor: str | None = None
    queue: list[str] = field(default_factory=list)
    history_cursor: str | None = None
    newest_in_channel: str | None = None
    read_up_to: dict[str, str] = field(default_factory=dict)

    def encode(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, cursor: str | None) -> "SyncPosition":
        if not cursor:
            return cls()
        try:
            return cls(**json.loads(cursor))
        except (json.JSONDecodeError, TypeError) as exc:
            raise SlackConfigurationError("the sync cursor is not one this connector wrote") from exc

    def next_cycle(self) -> "SyncPosition":
        return SyncPosition(read_up_to=self.read_up_to)


def _ts(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        return Decimal(0)


def _page_size(settings: Mapping[str, str]) -> int:
    return int_setting(settings, "SLACK_SYNC_PAGE_SIZE", default=DEFAULT_PAGE_SIZE, minimum=1, maximum=1000)


def message_record(channel: str, message: Mapping[str, Any]) -> NormalizedEvent | None:
    """A history message as the same event the Events API's message delivery becomes."""
    ts = message.get("ts")
    dedupe_id = message_event_id(channel, ts)
    if dedupe_id is None:
        return None
    event = dict(message, channel=channel)
    event.setdefault("type", "message")
    return NormalizedEvent(
        id=dedupe_id,
        type="slack.message",
        data={"type": "event_callback", "event": event, "source": "conversations.history"},
        subject=channel,
        time=slack_time(ts),
    )


def sync_messages(session: requests.Session, cursor: str | None, settings: Mapping[str, str]) -> SyncResult:
    position = SyncPosition.decode(cursor)
    try:
        records = _list_step(session, position, settings) if not position.listed else _history_step(session, position, settings)
    except SlackRateLimited as limited:
        return SyncResult(records=[], cursor=cursor, has_more=True, retry_after=limited.retry_after)
    if position.listed and not position.queue:
        return SyncResult(records=records, cursor=position.next_cycle().encode(), has_more=False)
    return SyncResult(records=records, cursor=position.encode(), has_more=True)


def _list_step(session: requests.Session, position: SyncPosition, settings: Mapping[str, str]) -> list[NormalizedEvent]:
    params: dict[str, Any] = {
        "types": settings.get("SLACK_SYNC_CONVERSATION_TYPES", DEFAULT_CONVERSATION_TYPES),
        "exclude_archived": "true",
        "limit": _page_size(settings),
    }
    if position.list_cursor:
        params["cursor"] = position.list_cursor
    page = call(session, settings, "conversations.list", params)
    for channel in page.get("channels") or []:
        channel_id = channel.get("id") if isinstance(channel, Mapping) else None
        if isinstance(channel_id, str) and channel.get("is_member", True) and channel_id not in position.queue:
            position.queue.append(channel_id)
    next_cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
    position.list_cursor = next_cursor
    position.listed = next_cursor is None
    return []


def _history_step(session: requests.Session, position: SyncPosition, settings: Mapping[str, str]) -> list[NormalizedEvent]:
    channel = position.queue[0]
    params: dict[str, Any] = {"channel": channel, "limit": _page_size(settings)}
    if channel in position.read_up_to:
        params["oldest"] = position.read_up_to[channel]
    if position.history_cursor:
        params["cursor"] = position.history_cursor
    try:
        page = call(session, settings, "conversations.history", params)
    except SlackApiError as error:
        if error.error not in SKIPPABLE_CHANNEL_ERRORS:
            raise
        _finish_channel(position)
        return []
    records: list[NormalizedEvent] = []
    for message in page.get("messages") or []:
        if not isinstance(message, Mapping):
            continue
        record = message_record(channel, message)
        if record is None:
            continue
        records.append(record)
        ts = message["ts"]
        if position.newest_in_channel is None or _ts(ts) > _ts(position.newest_in_channel):
            position.newest_in_channel = ts
    next_cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
    if page.get("has_more") and next_cursor:
        position.history_cursor = next_cursor
    else:
        _finish_channel(position)
    return records


def _finish_channel(position: SyncPosition) -> None:
    channel = position.queue.pop(0)
    newest = position.newest_in_channel
    if newest is not None and (channel not in position.read_up_to or _ts(newest) > _ts(position.read_up_to[channel])):
        position.read_up_to[channel] = newest
    position.history_cursor = None
    position.newest_in_channel = None
