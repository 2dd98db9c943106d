"""Errors the Slack connector raises; messages carry Slack's error code, never a token or secret."""

from __future__ import annotations


class SlackError(Exception):
    """Base of the Slack connector's errors."""


class SlackConfigurationError(SlackError):
    """A setting or the integration's credentials cannot work."""


class SlackApiError(SlackError):
    """Slack answered `ok: false` (often under HTTP 200) or an HTTP error.

    `error` is Slack's machine-readable code (`invalid_auth`, `not_in_channel`, ...).
    """

    def __init__(self, method: str, error: str, status: int = 200) -> None:
        self.method = method
        self.error = error
        self.status = status
        super().__init__(f"Slack {method} failed: {error} (HTTP {status})")


class SlackRateLimited(SlackError):
    """Slack asked us to slow down (HTTP 429 or `ok: false, error: ratelimited`)."""

    def __init__(self, method: str, retry_after: float) -> None:
        self.method = method
        self.retry_after = retry_after
        super().__init__(f"Slack {method} is rate limited; retry after {retry_after:g} s")
