"""Checking the `Stripe-Signature` header of a webhook delivery.

Stripe signs `"{t}.{raw body}"` with HMAC-SHA256, keyed with the endpoint's
signing secret exactly as the Dashboard shows it (`whsec_...`, not decoded).
While a secret is being rolled Stripe sends one `v1` per active secret, so
any of them may match. Other schemes (`v0`, the test-mode scheme) are
ignored: accepting them would let a weaker scheme stand in for `v1`.
"""

from __future__ import annotations

import hashlib
import hmac
import re

DEFAULT_TOLERANCE_SECONDS = 300

_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


def parse_signature_header(header: str) -> tuple[str, list[str]] | None:
    """The timestamp and the `v1` signatures, or None for a header that cannot be trusted.

    A header with no timestamp, more than one timestamp, or no `v1` is
    malformed; a `v1` that is not lower-case hex SHA-256 can never match
    and is skipped.
    """
    timestamps: list[str] = []
    signatures: list[str] = []
    for item in header.split(","):
        key, separator, value = item.strip().partition("=")
        if not separator:
            return None
        if key == "t":
            timestamps.append(value)
        elif key == "v1" and _HEX_SHA256.fullmatch(value):
            signatures.append(value)
    if len(timestamps) != 1 or not _TIMESTAMP.fullmatch(timestamps[0]) or not signatures:
        return None
    return timestamps[0], signatures


def expected_signature(secret: str, timestamp: str, body: bytes) -> str:
    signed = timestamp.encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def signature_is_valid(header: str | None, body: bytes, secret: str, now: float, tolerance: float) -> bool:
    """True for a signature made with `secret` whose timestamp is within `tolerance` of now.

    The window applies in both directions: a timestamp far in the future is
    as suspicious as a replayed old one, and honest clocks agree to well
    within the tolerance.
    """
    if not header or not secret:
        return False
    parsed = parse_signature_header(header)
    if parsed is None:
        return False
    timestamp, signatures = parsed
    if abs(now - int(timestamp)) > tolerance:
        return False
    expected = expected_signature(secret, timestamp, body).encode("ascii")
    matches = [hmac.compare_digest(expected, candidate.encode("ascii")) for candidate in signatures]
    return any(matches)
