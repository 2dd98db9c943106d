"""What a connector's events must be before the hub stores them, for every connector.

A signed delivery whose events cannot be stored is refused with a 400
before any database call: the provider stops retrying a 4xx, while a 5xx
(or a 503 with Retry-After) would make it send the same body forever. The
databases disagree about such values (SQLite keeps a NUL that PostgreSQL
refuses), so checking here is also what makes one body get one answer on
both. Values that came from the body (text, numbers, nesting, times) are
the sender's fault: BadRequest. Values of the wrong type are the plugin's:
PluginError, a 500, so the provider retries once the plugin is fixed.
Details name the field and the rule, never the value.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone

from hub.errors import BadRequest, PluginError
from hub.storage.storable import is_storable_text, json_fault
from hub.types import NormalizedEvent

# external_account_id's column; an account that long could never route anywhere.
MAX_ACCOUNT_CHARS = 255


def check_events(connector: str, events: Sequence[NormalizedEvent]) -> None:
    """Raise for the first event of a delivery that cannot be stored; the delivery stores nothing then."""
    for event in events:
        _check_event(connector, event)


def _check_event(connector: str, event: NormalizedEvent) -> None:
    if not isinstance(event, NormalizedEvent):
        raise PluginError(f"connector {connector} normalize returned something other than NormalizedEvent")
    _check_text(connector, "id", event.id, required=True)
    _check_text(connector, "type", event.type, required=True)
    _check_text(connector, "subject", event.subject)
    _check_text(connector, "account", event.account)
    if event.account is not None and len(event.account) > MAX_ACCOUNT_CHARS:
        raise _refused(connector, f"the account is longer than {MAX_ACCOUNT_CHARS} characters")
    _check_time(connector, event.time)
    fault = json_fault(event.data)
    if fault is not None:
        raise _refused(connector, f"the event data cannot be stored: {fault}")


def _check_text(connector: str, field: str, value: object, *, required: bool = False) -> None:
    if value is None and not required:
        return
    if not isinstance(value, str):
        raise PluginError(f"connector {connector} returned an event whose {field} is not a string")
    if not is_storable_text(value):
        raise _refused(connector, f"the event {field} holds a NUL character or a lone surrogate")


def _check_time(connector: str, value: object) -> None:
    if value is None:
        return
    if not isinstance(value, datetime) or value.utcoffset() is None:
        raise PluginError(f"connector {connector} returned an event time that is not a timezone-aware datetime")
    try:
        value.astimezone(timezone.utc)
    except OverflowError:
        raise _refused(connector, "the event time is out of range") from None


def _refused(connector: str, reason: str) -> BadRequest:
    return BadRequest(f"The {connector} connector's event cannot be stored: {reason}.")
