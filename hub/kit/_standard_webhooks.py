"""Standard Webhooks (standardwebhooks.com): the signature Svix, the hub's own destinations and many senders use.

A delivery carries three headers: `webhook-id` (the message id, the
receiver's idempotency key), `webhook-timestamp` (unix seconds) and
`webhook-signature`: space-separated `v1,<base64 HMAC-SHA256>` entries over
`{webhook-id}.{webhook-timestamp}.{raw body}`, one per active secret during
a rotation. The key is the base64 part of the secret after `whsec_`.
Receivers refuse timestamps more than five minutes from their clock.

Only the symmetric `v1` scheme is checked; other entries (the asymmetric
`v1a`) never match.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping

from hub.kit._headers import header_value
from hub.kit._signatures import MAX_SIGNATURE_HEADER_LENGTH, HmacScheme

SECRET_PREFIX = "whsec_"
TOLERANCE_SECONDS = 300.0
STANDARD_WEBHOOKS = HmacScheme(
    payload="{message_id}.{timestamp}.{body}", encoding="base64", prefix="v1,", tolerance_seconds=TOLERANCE_SECONDS
)


def standard_webhook_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (the prefix is optional); ValueError, never quoting it, otherwise.

    Check a secret with this when it is configured, so a typo is reported
    then rather than as every delivery failing verification.

    >>> len(standard_webhook_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"))
    24
    """
    if not isinstance(secret, str):
        raise ValueError("a Standard Webhooks secret is text: whsec_ and base64")
    encoded = secret.removeprefix(SECRET_PREFIX).strip()
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("a Standard Webhooks secret is whsec_ followed by base64") from None
    if not key:
        raise ValueError("the Standard Webhooks secret is empty")
    return key


def standard_webhook_headers(secret: str, body: bytes, *, message_id: str, timestamp: int) -> dict[str, str]:
    """The three headers a Standard Webhooks sender adds to `body`: for fake senders and tests.

    >>> secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    >>> headers = standard_webhook_headers(secret, b'{"type":"ping"}', message_id="msg_1", timestamp=1700000000)
    >>> sorted(headers), headers["webhook-signature"][:3]
    (['webhook-id', 'webhook-signature', 'webhook-timestamp'], 'v1,')
    """
    stamp = str(timestamp)
    signature = STANDARD_WEBHOOKS.sign(standard_webhook_key(secret), body, timestamp=stamp, message_id=message_id)
    return {"webhook-id": message_id, "webhook-timestamp": stamp, "webhook-signature": signature}


def verify_standard_webhook(
    secret: str, body: bytes, headers: Mapping[str, str], *, now: float, tolerance: float = TOLERANCE_SECONDS
) -> bool:
    """True when `headers` carry a valid Standard Webhooks signature of `body` made with `secret` within `tolerance` of `now`.

    Never raises on what the sender controls; a secret that is empty or not
    `whsec_` base64 verifies nothing (check it with `standard_webhook_key`
    when it is configured).

    >>> secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    >>> headers = standard_webhook_headers(secret, b"{}", message_id="msg_1", timestamp=1700000000)
    >>> verify_standard_webhook(secret, b"{}", headers, now=1700000060)
    True
    >>> verify_standard_webhook(secret, b"{ }", headers, now=1700000060)
    False
    """
    try:
        key = standard_webhook_key(secret)
    except ValueError:
        return False
    signature = header_value(headers, "webhook-signature")
    if not signature or len(signature) > MAX_SIGNATURE_HEADER_LENGTH:
        return False
    return STANDARD_WEBHOOKS.verify(
        key,
        body,
        [entry for entry in signature.split(" ") if entry],
        timestamp=header_value(headers, "webhook-timestamp"),
        message_id=header_value(headers, "webhook-id"),
        now=now,
        tolerance=tolerance,
    )
