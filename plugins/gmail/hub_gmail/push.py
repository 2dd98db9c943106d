"""Reading a Cloud Pub/Sub push delivery of a Gmail notification.

Pub/Sub POSTs (documented at cloud.google.com/pubsub/docs/push):

    {"message": {"data": "<base64>", "messageId": "2070443601311540",
                 "message_id": "2070443601311540", "publishTime": "2021-02-26T19:13:55.749Z",
                 "publish_time": "2021-02-26T19:13:55.749Z", "attributes": {...}},
     "subscription": "projects/myproject/subscriptions/mysubscription"}

and Gmail's `data` decodes to `{"emailAddress": "user@example.com", "historyId": "9876543210"}`
(historyId may be a JSON number). The notification only says that the
mailbox's history moved on; what changed is read with `users.history.list`
(the connector's sync).

The event (type `gmail.history.changed`):
- id: the Pub/Sub `messageId`, which Pub/Sub keeps on every redelivery, so
  redeliveries dedupe;
- account: the mailbox id (see `accounts.mailbox_id`), which routes the
  app-level delivery to every integration of that mailbox;
- subject: the mailbox address; time: `publishTime`;
- data: `emailAddress`, `historyId` (always a string), and the Pub/Sub
  `messageId`, `publishTime` and `subscription`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from hub.kit import parse_json_object
from hub.types import NormalizedEvent

from hub_gmail.accounts import mailbox_id

HISTORY_CHANGED = "gmail.history.changed"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def decode_data(data: Any) -> dict[str, Any]:
    """The Gmail notification inside `message.data` (standard base64 of a JSON object)."""
    if not isinstance(data, str) or not data:
        raise ValueError("the Pub/Sub message has no data")
    try:
        raw = base64.b64decode(data + "=" * (-len(data) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("the Pub/Sub message data is not base64") from exc
    return parse_json_object(raw, what="the Pub/Sub message data")


def history_id(value: Any) -> str:
    """Gmail's historyId as a decimal string; it is an unsigned 64-bit number sent as a string or a number."""
    if isinstance(value, bool):
        raise ValueError("historyId is not a number")
    if isinstance(value, int) and value >= 0:
        return str(value)
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return value
    raise ValueError("historyId is not a number")


def publish_time(value: Any) -> datetime | None:
    """`publishTime` (RFC 3339, UTC, `Z`); None when absent or unreadable: the time is informative only."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None


def normalize_push(body: bytes) -> NormalizedEvent:
    """One `gmail.history.changed` event; ValueError for a body that is not a Gmail notification push."""
    envelope = parse_json_object(body)
    message = envelope.get("message")
    if not isinstance(message, Mapping):
        raise ValueError("the body has no Pub/Sub message")
    message_id = _text(message.get("messageId")) or _text(message.get("message_id"))
    if message_id is None:
        raise ValueError("the Pub/Sub message has no messageId")
    notification = decode_data(message.get("data"))
    address = notification.get("emailAddress")
    account = mailbox_id(address)
    if account is None:
        raise ValueError("the Gmail notification has no emailAddress")
    history = history_id(notification.get("historyId"))
    published = _text(message.get("publishTime")) or _text(message.get("publish_time"))
    subscription = _text(envelope.get("subscription"))
    return NormalizedEvent(
        id=message_id,
        type=HISTORY_CHANGED,
        data={
            "emailAddress": address,
            "historyId": history,
            "messageId": message_id,
            "publishTime": published,
            "subscription": subscription,
        },
        subject=address,
        time=publish_time(published),
        account=account,
        request_sync=True,
    )
