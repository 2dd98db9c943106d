"""Keeping a mailbox's push notifications flowing with `users.watch`.

`POST /gmail/v1/users/me/watch {"topicName": ..., "labelIds": [...]}` makes
Gmail publish a notification to the Pub/Sub topic whenever the mailbox
changes. Gmail drops a watch after 7 days (Google recommends renewing once
a day), and calling watch again on a watched mailbox simply renews it, so
the hub calls `renew_subscription` periodically for every active
integration.

Settings: `GMAIL_PUBSUB_TOPIC` (`projects/<project>/topics/<topic>`; Gmail's
service account `gmail-api-push@system.gserviceaccount.com` must be allowed
to publish to it; unset: push is not used and there is nothing to renew),
`GMAIL_WATCH_LABEL_IDS` (optional, comma- or space-separated label ids such
as `INBOX`: notify only for changes to those labels).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from hub.kit import list_setting
from hub_gmail.api import checked_json, users_me
from hub_gmail.errors import GmailApiError
from hub_gmail.push import history_id


def watch_mailbox(session: requests.Session, settings: Mapping[str, str]) -> dict[str, Any] | None:
    """Starts or renews the watch; the credential fields to store, or None when push is not configured.

    Returns `watch_history_id` (the mailbox historyId when the watch was
    set), `watch_expiration` (milliseconds since the epoch, as Gmail gives
    it) and `watch_topic`.
    """
    topic = settings.get("GMAIL_PUBSUB_TOPIC")
    if not topic:
        return None
    body: dict[str, Any] = {"topicName": topic}
    label_ids = list_setting(settings, "GMAIL_WATCH_LABEL_IDS", separators=", ")
    if label_ids:
        body["labelIds"] = list(label_ids)
    reply = checked_json(session.post(users_me(settings, "/watch"), json=body))
    try:
        watched_from = history_id(reply.get("historyId"))
        expiration = int(reply.get("expiration"))  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise GmailApiError(200, "invalid_response") from None
    return {"watch_history_id": watched_from, "watch_expiration": expiration, "watch_topic": topic}
