"""Paging through `GET /v1/events`, one page per `sync` call.

Stripe keeps events for 30 days and lists them newest first. The first sync
walks back through all of them; every later sync walks forward from the
newest event already ingested, so nothing is skipped between runs and a
crash resumes from the last page the hub stored.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from hub.kit import int_setting
from hub.types import NormalizedEvent, SyncResult

from hub_stripe.api import api_base_url, auth_headers, raise_for_stripe_error, rate_limit_wait
from hub_stripe.errors import StripeConfigurationError
from hub_stripe.events import normalize_event

DEFAULT_PAGE_SIZE = 100


def cursor_is_gone(response: requests.Response) -> bool:
    """True when Stripe no longer has the event a cursor names (events expire after 30 days)."""
    if response.status_code not in (400, 404):
        return False
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        return False
    return error.get("code") == "resource_missing" and error.get("param") in ("starting_after", "ending_before")


@dataclass(frozen=True)
class EventsCursor:
    """Where a sync of `/v1/events` stands.

    Stripe lists newest first. `newest` is the newest event ever ingested:
    later syncs ask for the page just newer than it (`ending_before`), so
    they walk forward in time without gaps. `older_than` is set during the
    first backfill, which walks back with `starting_after` until the list
    ends.
    """

    newest: str | None = None
    older_than: str | None = None

    def encode(self) -> str | None:
        if self.newest is None and self.older_than is None:
            return None
        fields = {"newest": self.newest, "older_than": self.older_than}
        return json.dumps({k: v for k, v in fields.items() if v is not None}, separators=(",", ":"))

    @classmethod
    def decode(cls, cursor: str | None) -> "EventsCursor":
        if not cursor:
            return cls()
        if cursor.startswith("evt_"):
            return cls(newest=cursor)
        try:
            fields = json.loads(cursor)
        except json.JSONDecodeError as exc:
            raise StripeConfigurationError("the sync cursor is not one this connector wrote") from exc
        if not isinstance(fields, dict) or not all(isinstance(v, str) for v in fields.values()):
            raise StripeConfigurationError("the sync cursor is not one this connector wrote")
        return cls(newest=fields.get("newest"), older_than=fields.get("older_than"))


def page_size(settings: Mapping[str, str]) -> int:
    return int_setting(settings, "STRIPE_SYNC_PAGE_SIZE", default=DEFAULT_PAGE_SIZE, minimum=1, maximum=100)


def sync_events(session: requests.Session, credentials: Mapping[str, Any], cursor: str | None, settings: Mapping[str, str]) -> SyncResult:
    position = EventsCursor.decode(cursor)
    params: dict[str, Any] = {"limit": page_size(settings)}
    if position.older_than:
        params["starting_after"] = position.older_than
    elif position.newest:
        params["ending_before"] = position.newest
    response = session.get(f"{api_base_url(settings)}/v1/events", params=params, headers=auth_headers(credentials, settings))
    if response.status_code == 429:
        return SyncResult(records=[], cursor=cursor, has_more=True, retry_after=rate_limit_wait(response))
    if cursor_is_gone(response):
        # The event the cursor names has expired: start over; dedupe absorbs the overlap.
        return SyncResult(records=[], cursor=None, has_more=True)
    raise_for_stripe_error(response)
    page = response.json()
    events = [event for event in page.get("data") or [] if isinstance(event, dict)]
    stripe_has_more = bool(page.get("has_more"))
    records: list[NormalizedEvent] = []
    for event in events:
        record = normalize_event(event, settings)
        if record is not None:
            records.append(record)

    if position.older_than:
        older_than = events[-1]["id"] if stripe_has_more and events else None
        following = EventsCursor(newest=position.newest, older_than=older_than)
        has_more = older_than is not None
    elif position.newest:
        following = EventsCursor(newest=events[0]["id"] if events else position.newest)
        has_more = stripe_has_more and bool(events)
    else:
        newest = events[0]["id"] if events else None
        older_than = events[-1]["id"] if stripe_has_more and events else None
        following = EventsCursor(newest=newest, older_than=older_than)
        has_more = older_than is not None
    return SyncResult(records=records, cursor=following.encode(), has_more=has_more)
