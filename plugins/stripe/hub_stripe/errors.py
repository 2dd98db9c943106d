"""Errors the Stripe connector raises; messages never carry keys or secrets."""

from __future__ import annotations


class StripeError(Exception):
    """Base of the Stripe connector's errors."""


class StripeConfigurationError(StripeError):
    """A setting or the integration's credentials cannot work (fix the configuration, not the request)."""


class StripeApiError(StripeError):
    """Stripe answered an API call with an error.

    Only the status and Stripe's error type and code are kept: Stripe's
    human-readable messages may quote (masked) keys.
    """

    def __init__(self, status: int, error_type: str | None = None, code: str | None = None) -> None:
        self.status = status
        self.error_type = error_type
        self.code = code
        details = ", ".join(part for part in (error_type, code) if part)
        super().__init__(f"Stripe API returned HTTP {status}" + (f" ({details})" if details else ""))
