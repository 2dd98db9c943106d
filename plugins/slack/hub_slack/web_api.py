"""Calling Slack Web API methods with the session the hub hands over (it sends the bot token).

Slack reports most failures as HTTP 200 with `{"ok": false, "error": ...}`,
so every answer is checked for `ok` and turned into `SlackApiError`; rate
limits (HTTP 429 with `Retry-After`) become `SlackRateLimited`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from typing import Any

import requests

from hub_slack.errors import SlackApiError, SlackRateLimited

DEFAULT_API_BASE_URL = "https://slack.com/api"
DEFAULT_RETRY_AFTER_SECONDS = 1.0


def api_base_url(settings: Mapping[str, str]) -> str:
    """`SLACK_API_BASE_URL` replaces `https://slack.com/api` (method names are appended)."""
    return settings.get("SLACK_API_BASE_URL", DEFAULT_API_BASE_URL).rstrip("/")


def retry_after_seconds(response: requests.Response) -> float:
    value = response.headers.get("Retry-After", "").strip()
    if not value:
        return DEFAULT_RETRY_AFTER_SECONDS
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return DEFAULT_RETRY_AFTER_SECONDS


def checked_body(method: str, response: requests.Response) -> dict[str, Any]:
    """The JSON answer of a Slack method, or an error; `ok: false` under HTTP 200 is an error too."""
    if response.status_code == 429:
        raise SlackRateLimited(method, retry_after_seconds(response))
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SlackApiError(method, "invalid_response", response.status_code)
    if body.get("ok") is not True:
        error = body.get("error") if isinstance(body.get("error"), str) else "unknown_error"
        if error == "ratelimited":
            raise SlackRateLimited(method, retry_after_seconds(response))
        raise SlackApiError(method, error, response.status_code)
    return body


def call(session: requests.Session, settings: Mapping[str, str], method: str, params: Mapping[str, Any] | None = None, *, post: bool = False) -> dict[str, Any]:
    url = f"{api_base_url(settings)}/{method}"
    if post:
        response = session.post(url, data=dict(params or {}))
    else:
        response = session.get(url, params=dict(params or {}))
    return checked_body(method, response)
