"""The Stripe connector: Connect OAuth or restricted API keys, signed webhooks, event sync.

Settings (all optional unless the feature is used):
`OAUTH_STRIPE_CLIENT_ID` (the platform's `ca_...`), `OAUTH_STRIPE_CLIENT_SECRET`
(the platform secret key: the Connect client secret and the key used to act
for connected accounts), `STRIPE_WEBHOOK_SECRET` (the platform endpoint's
`whsec_...`), `STRIPE_WEBHOOK_TOLERANCE_SECONDS` (default 300),
`STRIPE_LIVEMODE` (true/false: drop events of the other mode),
`STRIPE_API_BASE_URL`, `STRIPE_CONNECT_BASE_URL`, `STRIPE_API_VERSION`,
`STRIPE_SYNC_PAGE_SIZE` (1-100, default 100).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from hub import hookimpl
from hub.kit import float_setting
from hub.types import (
    AccountInfo,
    ConnectorInfo,
    CredentialsRefused,
    HealthResult,
    NormalizedEvent,
    OAuthConfig,
    ProxyConfig,
    SyncResult,
    WebhookRequest,
)

from hub_stripe.api import api_base_url, auth_headers, connect_base_url, platform_secret_key, raise_for_stripe_error
from hub_stripe.errors import StripeApiError, StripeConfigurationError
from hub_stripe.events import normalize_event, parse_event_body
from hub_stripe.signatures import DEFAULT_TOLERANCE_SECONDS, signature_is_valid
from hub_stripe.sync import sync_events


@hookimpl
def connector_info() -> ConnectorInfo:
    return ConnectorInfo(
        display_name="Stripe",
        auth_kind="oauth2",
        description="Stripe accounts: restricted API keys or Connect OAuth, signed webhooks and event sync.",
        credential_fields={
            "api_key": (
                "A restricted or secret API key (rk_... or sk_...). The hub asks Stripe which account it belongs to "
                "(GET /v1/account); a restricted key without read access to the account gets no platform (Connect) events."
            ),
            "webhook_secret": "The signing secret of this account's webhook endpoint (whsec_...).",
        },
        required_credentials=("api_key",),
        webhook_routing="both",
        supports_sync=True,
        supports_revoke=True,
        supports_health_check=True,
    )


@hookimpl
def oauth_config() -> OAuthConfig:
    """Stripe Connect (Standard accounts). Stripe takes no PKCE; the client secret is the platform key."""
    return OAuthConfig(
        authorize_url="https://connect.stripe.com/oauth/authorize",
        token_url="https://connect.stripe.com/oauth/token",
        scopes=("read_write",),
        pkce=False,
        token_endpoint_auth_method="client_secret_post",
    )


@hookimpl
def oauth_account(token: Mapping[str, Any]) -> AccountInfo:
    """The connected account (`acct_...`); also what platform webhooks name in `account`."""
    account = token.get("stripe_user_id")
    if not isinstance(account, str) or not account:
        raise StripeConfigurationError("the Connect token response has no stripe_user_id")
    return AccountInfo(external_account_id=account)


@hookimpl
def api_key_account(session: requests.Session, credentials: Mapping[str, Any], settings: Mapping[str, str]) -> AccountInfo | None:
    """The account the key belongs to, as Stripe names it to the key itself (`GET /v1/account`).

    That `acct_...` is what platform (Connect) webhooks carry in `account`.
    401 is a key Stripe does not know (refused). 403 is a working
    restricted key without read access to the account: the integration
    then has no account and gets no platform events, only its own endpoint's.
    """
    response = session.get(f"{api_base_url(settings)}/v1/account", headers=auth_headers(credentials, settings))
    if response.status_code == 401:
        raise CredentialsRefused("Stripe does not accept this API key")
    if response.status_code == 403:
        return None
    raise_for_stripe_error(response)
    try:
        account = response.json()
    except ValueError:
        raise StripeApiError(response.status_code, "invalid_response") from None
    account_id = account.get("id") if isinstance(account, dict) else None
    if not isinstance(account_id, str) or not account_id.startswith("acct_"):
        raise StripeApiError(response.status_code, "invalid_response", "no account id")
    return AccountInfo(external_account_id=account_id, display_name=_account_name(account))


def _account_name(account: Mapping[str, Any]) -> str | None:
    for holder, key in ((account.get("business_profile"), "name"), (account.get("settings"), "dashboard")):
        value = holder.get(key) if isinstance(holder, Mapping) else None
        if isinstance(value, Mapping):
            value = value.get("display_name")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


@hookimpl
def verify_signature(request: WebhookRequest, credentials: Mapping[str, Any] | None, settings: Mapping[str, str], now: float) -> bool:
    """Per-integration endpoints use the integration's `webhook_secret`; the platform endpoint `STRIPE_WEBHOOK_SECRET`."""
    if credentials is None:
        secret = settings.get("STRIPE_WEBHOOK_SECRET", "")
    else:
        secret = str(credentials.get("webhook_secret") or "")
    return signature_is_valid(request.header("stripe-signature"), request.body, secret, now, _tolerance(settings))


@hookimpl
def normalize(request: WebhookRequest, settings: Mapping[str, str]) -> list[NormalizedEvent]:
    event = normalize_event(parse_event_body(request.body), settings)
    return [event] if event is not None else []


@hookimpl
def sync(session: requests.Session, credentials: Mapping[str, Any], cursor: str | None, settings: Mapping[str, str]) -> SyncResult:
    return sync_events(session, credentials, cursor, settings)


@hookimpl
def check_health(session: requests.Session, credentials: Mapping[str, Any], settings: Mapping[str, str]) -> HealthResult:
    """Lists one event: the call sync depends on, so a key missing that permission shows up here.

    401 is a revoked or rolled key; 403 is a restricted key without event
    access or a connected account that disconnected the platform. Either
    way a person has to reconnect.
    """
    response = session.get(
        f"{api_base_url(settings)}/v1/events", params={"limit": 1}, headers=auth_headers(credentials, settings)
    )
    if response.status_code in (401, 403):
        return HealthResult(ok=False, detail=f"Stripe refused the credentials (HTTP {response.status_code})", needs_reauth=True)
    if not response.ok:
        return HealthResult(ok=False, detail=f"Stripe answered HTTP {response.status_code}")
    return HealthResult(ok=True)


@hookimpl
def revoke(session: requests.Session, credentials: Mapping[str, Any], settings: Mapping[str, str]) -> None:
    """Disconnects a Connect account from the platform. An API key can only be rolled in the Dashboard."""
    connected_account = credentials.get("stripe_user_id")
    if credentials.get("api_key") or not connected_account:
        return
    client_id = settings.get("OAUTH_STRIPE_CLIENT_ID")
    if not client_id:
        raise StripeConfigurationError("OAUTH_STRIPE_CLIENT_ID is not set")
    response = session.post(
        f"{connect_base_url(settings)}/oauth/deauthorize",
        data={"client_id": client_id, "stripe_user_id": connected_account},
        headers={"Authorization": f"Bearer {platform_secret_key(settings)}"},
    )
    raise_for_stripe_error(response)


def _tolerance(settings: Mapping[str, str]) -> float:
    return float_setting(settings, "STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=DEFAULT_TOLERANCE_SECONDS, minimum=0)


@hookimpl
def proxy_config(credentials: Mapping[str, Any], settings: Mapping[str, str]) -> ProxyConfig:
    """Stripe's API as the integration's account: its own key, or the platform key and `Stripe-Account`.

    `Stripe-Account` is reserved even for an API-key integration: a
    platform's secret key would otherwise act for any of its connected
    accounts. Stripe honours `Idempotency-Key`, so such a POST may be retried.
    """
    return ProxyConfig(
        base_url=api_base_url(settings),
        headers=auth_headers(credentials, settings),
        reserved_headers=("Stripe-Account",),
        honours_idempotency_key=True,
    )
