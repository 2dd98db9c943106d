"""Stripe event objects as hub events.

Webhook deliveries and `GET /v1/events` pages carry the same event object,
so both go through `normalize_event` and dedupe against each other on the
event id.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from hub.types import NormalizedEvent

from hub_stripe.errors import StripeConfigurationError

log = logging.getLogger(__name__)

DEAUTHORIZED = "account.application.deauthorized"

_TRUE = {"1", "true", "yes", "live"}
_FALSE = {"0", "false", "no", "test"}


def expected_livemode(settings: Mapping[str, str]) -> bool | None:
    """`STRIPE_LIVEMODE`: True accepts only live events, False only test events, unset both."""
    raw = settings.get("STRIPE_LIVEMODE")
    if raw is None or raw.strip() == "":
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise StripeConfigurationError("STRIPE_LIVEMODE must be true or false")


def _not_json(constant: str) -> Any:
    raise ValueError(f"the body is not JSON: {constant} is not a JSON number")


def parse_event_body(body: bytes) -> Mapping[str, Any]:
    """The event object of a webhook body; ValueError when it is not one (the provider gets a 400).

    Strict JSON: Python's parser also takes NaN and Infinity, which Stripe
    never sends and no database stores as JSON.
    """
    try:
        payload = json.loads(body, parse_constant=_not_json)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError("the body is not JSON") from exc
    except RecursionError:
        raise ValueError("the body is nested too deeply to read") from None
    if not isinstance(payload, dict):
        raise ValueError("the body is not a JSON object")
    return payload


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
