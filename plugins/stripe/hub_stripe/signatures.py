"""Checking the `Stripe-Signature` header of a webhook delivery.

Stripe signs `"{t}.{raw body}"` with HMAC-SHA256, keyed with the endpoint's
signing secret exactly as the Dashboard shows it (`whsec_...`, not decoded).
While a secret is being rolled Stripe sends one `v1` per active secret, so
any of them may match. Other schemes (`v0`, the test-mode scheme) are
ignored: accepting them would let a weaker scheme stand in for `v1`.
"""

from __future__ import annotations

from hub.kit import DEFAULT_TOLERANCE_SECONDS, HmacScheme, parse_signature_fields

STRIPE_SIGNATURE = HmacScheme(payload="{timestamp}.{body}")

__all__ = ["DEFAULT_TOLERANCE_SECONDS", "STRIPE_SIGNATURE", "signature_is_valid"]


def signature_is_valid(header: str | None, body: bytes, secret: str, now: float, tolerance: float) -> bool:
    """True for a `v1` signature made with `secret` whose one timestamp is within `tolerance` of now, either way."""
    fields = parse_signature_fields(header)
    return STRIPE_SIGNATURE.verify(secret, body, fields.all("v1"), timestamp=fields.one("t"), now=now, tolerance=tolerance)
