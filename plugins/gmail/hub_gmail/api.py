"""Calling the Gmail REST API with the session the hub hands over (it sends the access token).

Every call goes through `checked_json`, which turns Google's error answers
into `GmailApiError` (status and Google's error reason only) and its rate
limits into `GmailRateLimited`. Gmail signals a rate limit either as HTTP 429
or as HTTP 403 whose error reason is `rateLimitExceeded` or
`userRateLimitExceeded`; a plain 403 (a missing scope, a disabled API) is an
ordinary error that waiting does not fix.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests

from hub.kit import retry_after_seconds, url_setting
from hub_gmail.errors import GmailApiError, GmailRateLimited

DEFAULT_API_BASE_URL = "https://gmail.googleapis.com"
# Gmail's per-user quotas are counted per second and per minute, and Gmail
# often sends no Retry-After: waiting a few seconds beats hitting the limit
# again at once.
DEFAULT_RETRY_AFTER_SECONDS = 5.0
RATE_LIMIT_REASONS = frozenset({"rateLimitExceeded", "userRateLimitExceeded"})


def api_base_url(settings: Mapping[str, str]) -> str:
    """`GMAIL_API_BASE_URL` replaces `https://gmail.googleapis.com` (staging, tests against a local fake)."""
    return url_setting(settings, "GMAIL_API_BASE_URL", default=DEFAULT_API_BASE_URL)


def users_me(settings: Mapping[str, str], path: str = "") -> str:
    """The URL of a resource of the authenticated user's mailbox (`/gmail/v1/users/me/...`)."""
    return f"{api_base_url(settings)}/gmail/v1/users/me{path}"


def error_reasons(response: requests.Response) -> list[str]:
    """Google's machine-readable reasons from a JSON error body (`error.errors[].reason`, `error.status`, OAuth `error`)."""
    try:
        body = response.json()
    except ValueError:
        return []
    if not isinstance(body, Mapping):
        return []
    error = body.get("error")
    if isinstance(error, str):  # OAuth endpoints: {"error": "invalid_token", ...}
        return [error]
    if not isinstance(error, Mapping):
        return []
    reasons = [
        item["reason"]
        for item in error.get("errors") or []
        if isinstance(item, Mapping) and isinstance(item.get("reason"), str)
    ]
    if isinstance(error.get("status"), str):
        reasons.append(error["status"])
    return reasons


def is_rate_limited(response: requests.Response) -> bool:
    if response.status_code == 429:
        return True
    return response.status_code == 403 and bool(RATE_LIMIT_REASONS.intersection(error_reasons(response)))


def rate_limit_wait(response: requests.Response) -> float:
    """Seconds to wait from `Retry-After` or an exhausted quota (NaN, infinities and garbage read as absent), or the default."""
    return retry_after_seconds(response.headers, now=time.time(), default=DEFAULT_RETRY_AFTER_SECONDS)


def raise_for_gmail_error(response: requests.Response) -> None:
    """Nothing for a 2xx answer; `GmailRateLimited` or `GmailApiError` otherwise."""
    if is_rate_limited(response):
        raise GmailRateLimited(rate_limit_wait(response))
    if not response.ok:
        reasons = error_reasons(response)
        raise GmailApiError(response.status_code, reasons[0] if reasons else None)


def checked_json(response: requests.Response) -> dict[str, Any]:
    """The JSON object of a successful answer; an error for anything else."""
    raise_for_gmail_error(response)
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise GmailApiError(response.status_code, "invalid_response")
    return body


def get_profile(session: requests.Session, settings: Mapping[str, str]) -> dict[str, Any]:
    """`users.getProfile`: the mailbox address and its current `historyId`."""
    return checked_json(session.get(users_me(settings, "/profile")))
