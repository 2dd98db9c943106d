"""Reading new messages with `users.history.list`, one page per `sync` call.

Gmail's own recipe (developers.google.com/gmail/api/guides/sync):
- full sync: note the mailbox's current `historyId` (`users.getProfile`),
  then page through `users.messages.list`; messages that arrive meanwhile
  are after that historyId, so the next partial sync sees them (an overlap
  is absorbed by the hub's dedupe on the message id);
- partial sync: page through `users.history.list?startHistoryId=...&historyTypes=messageAdded`
  and store the `historyId` of the answer as the next start;
- a 404 from history.list means the start is too old (history lasts about a
  week, sometimes hours) or invalid: do a full sync again.

Each new message's metadata (`format=metadata`, headers From, Subject and
Date) becomes a `gmail.message.added` record: id is the Gmail message id,
subject the thread id, time the message's `internalDate`, data the message
resource plus a `headers` map.

The cursor (`SyncResult.cursor`) is compact JSON; at rest it is
`{"history_id": "H"}`. During a walk it also holds the next page token, the
historyId to store when the walk ends, and whether the walk is a full
listing, so a long backfill returns one page per call with `has_more` and
resumes exactly where it stopped, after a crash or a rate limit too. A bare
decimal string is accepted as a historyId (for example the one
`users.watch` returned).

Rate limits (429, or 403 `rateLimitExceeded` / `userRateLimitExceeded`)
return no records, the unchanged cursor and `retry_after`: the page is
fetched again later.

Settings: `GMAIL_SYNC_PAGE_SIZE` (1 to 500, default 100: history records or
messages per call; each message costs one metadata call), `GMAIL_SYNC_QUERY`
(optional Gmail search, such as `newer_than:30d`, limiting full listings).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests
from hub.kit import int_setting
from hub.types import NormalizedEvent, SyncResult

from hub_gmail.api import checked_json, get_profile, users_me
from hub_gmail.errors import GmailApiError, GmailConfigurationError, GmailRateLimited
from hub_gmail.push import history_id

log = logging.getLogger(__name__)

MESSAGE_ADDED = "gmail.message.added"
DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 500
METADATA_HEADERS = ("From", "Subject", "Date")


@dataclass(frozen=True)
class SyncPosition:
    """Where a sync stands.

    history_id: everything up to this mailbox historyId has been read
    (None before the first full listing has finished).
    listing: a full `messages.list` walk is in progress.
    page_token: the next page of the current walk.
    next_history_id: the historyId to store once the current walk ends.
    """

    history_id: str | None = None
    listing: bool = False
    page_token: str | None = None
    next_history_id: str | None = None

    def encode(self) -> str:
        fields: dict[str, Any] = {"history_id": self.history_id, "page": self.page_token, "next_history_id": self.next_history_id}
        encoded = {key: value for key, value in fields.items() if value is not None}
        if self.listing:
            encoded["listing"] = True
        return json.dumps(encoded, separators=(",", ":"), sort_keys=True)

    @classmethod
    def decode(cls, cursor: str | None) -> "SyncPosition":
        if not cursor:
            return cls()
        if _is_history_id(cursor):
            return cls(history_id=cursor)
        try:
            fields = json.loads(cursor)
        except ValueError:
            fields = None
        position = cls._from_fields(fields) if isinstance(fields, dict) else None
        if position is None:
            raise GmailConfigurationError("the sync cursor is not one this connector wrote")
        return position

    @classmethod
    def _from_fields(cls, fields: Mapping[str, Any]) -> "SyncPosition | None":
        if set(fields) - {"history_id", "page", "next_history_id", "listing"}:
            return None
        history, page, following = fields.get("history_id"), fields.get("page"), fields.get("next_history_id")
        listing = fields.get("listing", False)
        if listing not in (True, False) or not (page is None or isinstance(page, str)):
            return None
        if not all(value is None or (isinstance(value, str) and _is_history_id(value)) for value in (history, following)):
            return None
        if listing and following is None:
            return None  # a listing must know where history stands
        if not listing and history is None and (page is not None or following is not None):
            return None  # a history walk needs its start
        return cls(history_id=history, listing=bool(listing), page_token=page, next_history_id=following)


def _is_history_id(value: str) -> bool:
    return value.isascii() and value.isdigit()


def page_size(settings: Mapping[str, str]) -> int:
    return int_setting(settings, "GMAIL_SYNC_PAGE_SIZE", default=DEFAULT_PAGE_SIZE, minimum=1, maximum=MAX_PAGE_SIZE)


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def internal_date(value: Any) -> datetime | None:
    """`internalDate`: milliseconds since the epoch, as a decimal string."""
    if isinstance(value, bool):
        return None
    try:
        milliseconds = int(value)
    except (TypeError, ValueError):
        return None
    try:
        return datetime.fromtimestamp(milliseconds / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        return None


def message_headers(message: Mapping[str, Any]) -> dict[str, str]:
    """From, Subject and Date of a metadata message, keyed by their usual spelling."""
    payload = message.get("payload")
    headers = payload.get("headers") if isinstance(payload, Mapping) else None
    wanted = {name.lower(): name for name in METADATA_HEADERS}
    found: dict[str, str] = {}
    for header in headers if isinstance(headers, list) else []:
        if not isinstance(header, Mapping) or not isinstance(header.get("name"), str) or not isinstance(header.get("value"), str):
            continue
        name = wanted.get(header["name"].lower())
        if name is not None and name not in found:
            found[name] = header["value"]
    return found


def message_record(message: Mapping[str, Any]) -> NormalizedEvent | None:
    """A `gmail.message.added` record for a message resource; None when it has no id."""
    message_id = _text(message.get("id"))
    if message_id is None:
        return None
    data = dict(message)
    data["headers"] = message_headers(message)
    return NormalizedEvent(
        id=message_id,
        type=MESSAGE_ADDED,
        data=data,
        subject=_text(message.get("threadId")) or message_id,
        time=internal_date(message.get("internalDate")),
    )


def _unique(ids: Iterable[Any]) -> list[str]:
    seen: dict[str, None] = {}
    for value in ids:
        if isinstance(value, str) and value:
            seen.setdefault(value, None)
    return list(seen)


def added_message_ids(history: Any) -> list[str]:
    """The ids of `messagesAdded` in a history.list page, in order, each once."""
    ids: list[Any] = []
    for record in history if isinstance(history, list) else []:
        if not isinstance(record, Mapping):
            continue
        for added in record.get("messagesAdded") or []:
            message = added.get("message") if isinstance(added, Mapping) else None
            if isinstance(message, Mapping):
                ids.append(message.get("id"))
    return _unique(ids)


def fetch_records(session: requests.Session, settings: Mapping[str, str], message_ids: list[str]) -> list[NormalizedEvent]:
    """Each message's metadata as a record; a message deleted since it was listed (404) is skipped."""
    params = [("format", "metadata"), *(("metadataHeaders", name) for name in METADATA_HEADERS)]
    records: list[NormalizedEvent] = []
    for message_id in message_ids:
        response = session.get(users_me(settings, f"/messages/{quote(message_id, safe='')}"), params=params)
        if response.status_code == 404:
            continue
        record = message_record(checked_json(response))
        if record is not None:
            records.append(record)
    return records


def _current_history_id(value: Any) -> str:
    try:
        return history_id(value)
    except ValueError:
        raise GmailApiError(200, "invalid_response") from None


def _later(first: str, second: str | None) -> str:
    """The larger of two historyIds (a history id never moves back)."""
    if second is None:
        return first
    return second if int(second) >= int(first) else first


def sync_mailbox(session: requests.Session, cursor: str | None, settings: Mapping[str, str]) -> SyncResult:
    position = SyncPosition.decode(cursor)
    size = page_size(settings)
    try:
        if position.listing:
            return _listing_page(session, position, settings, size)
        if position.history_id is None:
            return _start_listing(session, settings, size)
        return _history_page(session, position.history_id, position, settings, size)
    except GmailRateLimited as limited:
        return SyncResult(records=[], cursor=cursor, has_more=True, retry_after=limited.retry_after)


def _start_listing(session: requests.Session, settings: Mapping[str, str], size: int) -> SyncResult:
    """A full sync: note where history stands now, then list from the first page."""
    current = _current_history_id(get_profile(session, settings).get("historyId"))
    return _listing_page(session, SyncPosition(listing=True, next_history_id=current), settings, size)


def _listing_page(session: requests.Session, position: SyncPosition, settings: Mapping[str, str], size: int) -> SyncResult:
    params: dict[str, Any] = {"maxResults": size}
    if position.page_token:
        params["pageToken"] = position.page_token
    query = settings.get("GMAIL_SYNC_QUERY")
    if query:
        params["q"] = query
    page = checked_json(session.get(users_me(settings, "/messages"), params=params))
    listed = page.get("messages")
    ids = _unique(m.get("id") for m in (listed if isinstance(listed, list) else []) if isinstance(m, Mapping))
    records = fetch_records(session, settings, ids)
    next_token = _text(page.get("nextPageToken"))
    if next_token:
        following = SyncPosition(listing=True, page_token=next_token, next_history_id=position.next_history_id)
        return SyncResult(records=records, cursor=following.encode(), has_more=True)
    return SyncResult(records=records, cursor=SyncPosition(history_id=position.next_history_id).encode(), has_more=False)


def _history_page(session: requests.Session, start: str, position: SyncPosition, settings: Mapping[str, str], size: int) -> SyncResult:
    """One page of the history walk from `start`, the historyId the previous walk reached."""
    params: dict[str, Any] = {"startHistoryId": start, "historyTypes": "messageAdded", "maxResults": size}
    if position.page_token:
        params["pageToken"] = position.page_token
    response = session.get(users_me(settings, "/history"), params=params)
    if response.status_code == 404:
        log.info("Gmail history from %s is no longer available; doing a full sync", start)
        return _start_listing(session, settings, size)
    page = checked_json(response)
    records = fetch_records(session, settings, added_message_ids(page.get("history")))
    # The first page's historyId: every change up to it is in this walk's pages.
    reached = position.next_history_id or _current_history_id(page.get("historyId"))
    next_token = _text(page.get("nextPageToken"))
    if next_token:
        following = SyncPosition(history_id=start, page_token=next_token, next_history_id=reached)
        return SyncResult(records=records, cursor=following.encode(), has_more=True)
    return SyncResult(records=records, cursor=SyncPosition(history_id=_later(start, reached)).encode(), has_more=False)
