"""Calls to Stripe's REST API on behalf of one integration.

Two kinds of integration reach Stripe differently: an API-key integration
sends its own (restricted) key; a Connect integration sends the platform's
secret key (`OAUTH_STRIPE_CLIENT_SECRET`) and names the connected account
in `Stripe-Account`, which is how Stripe recommends acting for a connected
account (the OAuth access token is a legacy per-account key).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests

from hub.kit import retry_after_seconds, url_setting
from hub_stripe.errors import StripeApiError, StripeConfigurationError

DEFAULT_API_BASE_URL = "https://api.stripe.com"
DEFAULT_CONNECT_BASE_URL = "https://connect.stripe.com"


def api_base_url(settings: Mapping[str, str]) -> str:
    return url_setting(settings, "STRIPE_API_BASE_URL", default=DEFAULT_API_BASE_URL)


def connect_base_url(settings: Mapping[str, str]) -> str:
    return url_setting(settings, "STRIPE_CONNECT_BASE_URL", default=DEFAULT_CONNECT_BASE_URL)


def platform_secret_key(settings: Mapping[str, str]) -> str:
    key = settings.get("OAUTH_STRIPE_CLIENT_SECRET")
    if not key:
        raise StripeConfigurationError("OAUTH_STRIPE_CLIENT_SECRET (the platform secret key) is not set")
    return key


def auth_headers(credentials: Mapping[str, Any], settings: Mapping[str, str]) -> dict[str, str]:
    """Headers that authenticate as the integration's account."""
    headers: dict[str, str] = {}
    version = settings.get("STRIPE_API_VERSION")
    if version:
        headers["Stripe-Version"] = version
    api_key = credentials.get("api_key")
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
        return headers
    connected_account = credentials.get("stripe_user_id")
    if connected_account:
        headers["Authorization"] = f"Bearer {platform_secret_key(settings)}"
        headers["Stripe-Account"] = str(connected_account)
        return headers
    raise StripeConfigurationError("the integration's credentials have neither an api_key nor a stripe_user_id")


def rate_limit_wait(response: requests.Response) -> float:
    """Seconds to wait after a 429, from `Retry-After` (NaN, infinities and garbage read as absent)."""
    return retry_after_seconds(response.headers, now=time.time())


def raise_for_stripe_error(response: requests.Response) -> None:
    if response.ok:
        return
    error: Any = {}
    try:
        error = response.json().get("error") or {}
    except (ValueError, AttributeError):
        pass
    if not isinstance(error, dict):
        error = {}
    raise StripeApiError(response.status_code, error.get("type"), error.get("code"))
