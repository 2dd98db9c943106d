"""Standard Webhooks signatures for deliveries.

Design, "Destinations": a delivery carries `webhook-id`, `webhook-timestamp`
and `webhook-signature`, so a receiver in any language verifies it with a
Standard Webhooks library. The secret is `whsec_` + STANDARD base64 (padded):
the libraries decode it that way, and a URL-safe secret would silently
become a different key. During a rotation every secret in force signs, and
the signatures are joined by exactly one space, which is how the libraries
split them.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Sequence

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32


def new_secret() -> str:
    """A new signing secret: `whsec_` + standard base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def _key(secret: str) -> bytes:
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError("A signing secret starts with whsec_.")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX) :], validate=True)
    except binascii.Error:
        raise ValueError("A signing secret is standard base64 after whsec_.") from None
    if len(key) < 24:
        raise ValueError("A signing secret holds at least 24 bytes.")
    return key


def _check_header_value(name: str, value: str) -> None:
    # The id and the timestamp are signed as text and sent as headers, so
    # they must read the same on both sides: printable ASCII, no separators.
    if not value or not value.isascii() or not value.isprintable() or " " in value:
        raise ValueError(f"{name} must be printable ASCII without spaces.")


def sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    """One signature: `v1,` + base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{body}`.

    `body` is the exact bytes sent: the receiver verifies what it received,
    so nothing may re-encode the body between signing and sending.
    """
    _check_header_value("webhook-id", webhook_id)
    signed = f"{webhook_id}.{int(timestamp)}.".encode("ascii") + body
    digest = hmac.new(_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def signature_header(secrets_in_force: Sequence[str], webhook_id: str, timestamp: int, body: bytes) -> str:
    """`webhook-signature`: one signature per secret in force, joined by exactly one space."""
    if not secrets_in_force:
        raise ValueError("A delivery is signed with at least one secret.")
    return " ".join(sign(secret, webhook_id, timestamp, body) for secret in secrets_in_force)


def webhook_headers(secrets_in_force: Sequence[str], webhook_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one attempt.

    `webhook_id` is the delivery's id, the same on every attempt (the
    receiver's idempotency key); `timestamp` is this attempt's time in unix
    seconds, which receivers hold within five minutes of their clock.
    """
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(timestamp)),
        "webhook-signature": signature_header(secrets_in_force, webhook_id, timestamp, body),
    }
