"""Checking Slack's request signatures (`X-Slack-Signature`, version v0).

Slack signs `"v0:{timestamp}:{raw body}"` with HMAC-SHA256 keyed with the
app's signing secret, for Events API JSON as well as form-encoded
interactivity and slash-command bodies, so verification never parses the
body. Timestamps more than five minutes away from now, in either
direction, are refused so a captured request cannot be replayed later.
"""

from __future__ import annotations

import hashlib
import hmac
import re

TOLERANCE_SECONDS = 300

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_SIGNATURE = re.compile(r"v0=([0-9a-f]{64})")


def expected_signature(signing_secret: str, timestamp: str, body: bytes) -> str:
    base = b"v0:" + timestamp.encode("ascii") + b":" + body
    return "v0=" + hmac.new(signing_secret.encode("utf-8"), base, hashlib.sha256).hexdigest()


def signature_is_valid(signature: str | None, timestamp: str | None, body: bytes, signing_secret: str, now: float) -> bool:
    if not signature or not timestamp or not signing_secret:
        return False
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return False
    if abs(now - int(timestamp)) > TOLERANCE_SECONDS:
        return False
    expected = expected_signature(signing_secret, timestamp, body)
    return hmac.compare_digest(expected.encode("ascii"), signature.encode("ascii"))
