"""Calling Slack Web API methods with the session the hub hands over (it sends the bot token).

Slack reports most failures as HTTP 200 with `{"ok": false, "error": ...}`,
so every answer is checked for `ok` and turned into `SlackApiError`; rate
limits (HTTP 429 with `Retry-After`) become `SlackRateLimited`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests

from hub.kit import retry_after_seconds, url_setting
from hub_slack.errors import SlackApiError, SlackRateLimited

DEFAULT_API_BASE_URL = "https://slack.com/api"


def api_base_url(settings: Mapping[str, str]) -> str:
    """`SLACK_API_BASE_URL` replaces `https://slack.com/api` (method names are appended)."""
    return url_setting(settings, "SLACK_API_BASE_URL", default=DEFAULT_API_BASE_URL)


def rate_limit_wait(response: requests.Response) -> float:
    """Seconds to wait, from `Retry-After` (NaN, infinities and garbage read as absent)."""
    return retry_after_seconds(response.headers, now=time.time())


def checked_body(method: str, response: requests.Response) -> dict[str, Any]:
    """The JSON answer of a Slack method, or an error; `ok: false` under HTTP 200 is an error too."""
    if response.status_code == 429:
        raise SlackRateLimited(method, rate_limit_wait(response))
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise SlackApiError(method, "invalid_response", response.status_code)
    if body.get("ok") is not True:
        error = body.get("error") if isinstance(body.get("error"), str) else "unknown_error"
        if error == "ratelimited":
            raise SlackRateLimited(method, rate_limit_wait(response))
        raise SlackApiError(method, error, response.status_code)
    return body


def call(session: requests.Session, settings: Mapping[str, str], method: str, params: Mapping[str, Any] | None = None, *, post: bool = False) -> dict[str, Any]:
    url = f"{api_base_url(settings)}/{method}"
    if post:
        response = session.post(url, data=dict(params or {}))
    else:
        response = session.get(url, params=dict(params or {}))
    return checked_body(method, response)
