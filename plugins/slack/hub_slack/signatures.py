"""Checking Slack's request signatures (`X-Slack-Signature`, version v0).

Slack signs `"v0:{timestamp}:{raw body}"` with HMAC-SHA256 keyed with the
app's signing secret, for Events API JSON as well as form-encoded
interactivity and slash-command bodies, so verification never parses the
body. Timestamps more than five minutes away from now, in either
direction, are refused so a captured request cannot be replayed later.
"""

from __future__ import annotations

from hub.kit import HmacScheme

SLACK_SIGNATURE = HmacScheme(payload="v0:{timestamp}:{body}", prefix="v0=")


def signature_is_valid(signature: str | None, timestamp: str | None, body: bytes, signing_secret: str, now: float) -> bool:
    return SLACK_SIGNATURE.verify(signing_secret, body, signature, timestamp=timestamp, now=now)
