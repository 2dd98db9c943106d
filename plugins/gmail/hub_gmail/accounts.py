"""The external account id of a Gmail integration: the mailbox address, lower-cased.

The hub routes a push notification (which names its mailbox in
`emailAddress`) to the integrations whose external account id equals
`NormalizedEvent.account`, so `oauth_account` (from `users.getProfile`) and
`normalize` (from the notification) must build the id the same way; both
call `mailbox_id`. Lower-casing makes the match independent of how either
side spells the address: Gmail addresses are case-insensitive.
"""

from __future__ import annotations

from typing import Any


def mailbox_id(address: Any) -> str | None:
    """The account id for an address, or None when it is not a usable mailbox address."""
    if not isinstance(address, str):
        return None
    value = address.strip().lower()
    local, at, domain = value.partition("@")
    if not at or not local or not domain or any(c.isspace() for c in value):
        return None
    return value
