"""Stripe event objects as hub events.

Webhook deliveries and `GET /v1/events` pages carry the same event object,
so both go through `normalize_event` and dedupe against each other on the
event id.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hub.kit import choice_setting, parse_json_object
from hub.types import NormalizedEvent


log = logging.getLogger(__name__)

DEAUTHORIZED = "account.application.deauthorized"

LIVEMODE_WORDS = {"1": True, "true": True, "yes": True, "live": True, "0": False, "false": False, "no": False, "test": False}


def expected_livemode(settings: Mapping[str, str]) -> bool | None:
    """`STRIPE_LIVEMODE`: True accepts only live events, False only test events, unset both."""
    return choice_setting(settings, "STRIPE_LIVEMODE", LIVEMODE_WORDS, default=None)


def parse_event_body(body: bytes) -> Mapping[str, Any]:
    """The event object of a webhook body; ValueError when it is not one (the provider gets a 400)."""
    return parse_json_object(body)


def normalize_event(event: Mapping[str, Any], settings: Mapping[str, str]) -> NormalizedEvent | None:
    """One hub event, or None when the event's mode is not the one this hub serves.

    A test-mode event reaching a live hub (or the reverse) is dropped rather
    than refused: the delivery itself is authentic, and a 400 would only make
    Stripe retry it for days and flag the endpoint as failing.
    """
    event_id = event.get("id")
    event_type = event.get("type")
    if not isinstance(event_id, str) or not event_id or not isinstance(event_type, str) or not event_type:
        raise ValueError("a Stripe event needs a string id and type")
    wanted = expected_livemode(settings)
    if wanted is not None and event.get("livemode") is not wanted:
        log.info("dropped Stripe event %s: livemode does not match STRIPE_LIVEMODE", event_id)
        return None
    account = event.get("account")
    return NormalizedEvent(
        id=event_id,
        type=event_type,
        data=dict(event),
        subject=_subject(event),
        time=_created(event),
        account=account if isinstance(account, str) and account else None,
        integration_status="revoked" if event_type == DEAUTHORIZED else None,
    )


def _subject(event: Mapping[str, Any]) -> str | None:
    data = event.get("data")
    obj = data.get("object") if isinstance(data, Mapping) else None
    subject = obj.get("id") if isinstance(obj, Mapping) else None
    return subject if isinstance(subject, str) else None


def _created(event: Mapping[str, Any]) -> datetime | None:
    """`created` (unix seconds) as a time; ValueError for a number that is no time at all.

    Stripe always sends a whole number of seconds; a number beyond the
    calendar (1e20, Infinity) means the body is not a Stripe event, so it is
    refused rather than stored without its time.
    """
    created = event.get("created")
    if isinstance(created, bool) or not isinstance(created, int | float):
        return None
    if isinstance(created, float) and not math.isfinite(created):
        raise ValueError("the event's created is not a finite number")
    try:
        return datetime.fromtimestamp(created, tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ValueError("the event's created is not a time between the years 1 and 9999") from None
