"""Errors the Gmail connector raises.

Messages carry an HTTP status and Google's machine-readable error reason
(`authError`, `notFound`, ...), never a token, a key or Google's
human-readable message (which may quote request details).
"""

from __future__ import annotations


class GmailError(Exception):
    """Base of the Gmail connector's errors."""


class GmailConfigurationError(GmailError):
    """A setting or a stored value (such as the sync cursor) cannot work: fix the configuration, not the request."""


class GmailApiError(GmailError):
    """Gmail (or Google's OAuth endpoints) answered a call with an error."""

    def __init__(self, status: int, reason: str | None = None) -> None:
        self.status = status
        self.reason = reason
        super().__init__(f"Gmail API returned HTTP {status}" + (f" ({reason})" if reason else ""))


class GmailRateLimited(GmailError):
    """Gmail asked us to slow down: HTTP 429, or 403 with `rateLimitExceeded` / `userRateLimitExceeded`."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"Gmail API is rate limited; retry after {retry_after:g} s")
