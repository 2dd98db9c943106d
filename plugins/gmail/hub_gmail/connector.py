"""The Gmail connector: Google OAuth, Pub/Sub push notifications, history sync.

Settings (all optional unless the feature is used):
`OAUTH_GMAIL_CLIENT_ID` / `OAUTH_GMAIL_CLIENT_SECRET` (the Google OAuth
client; read by the hub), `OAUTH_GMAIL_AUTHORIZE_URL` / `OAUTH_GMAIL_TOKEN_URL`
(overrides, read by the hub), `OAUTH_GMAIL_REVOKE_URL` (default
`https://oauth2.googleapis.com/revoke`), `GMAIL_SCOPES` (comma- or
space-separated; default `https://www.googleapis.com/auth/gmail.readonly`),
`GMAIL_API_BASE_URL` (default `https://gmail.googleapis.com`),
`GMAIL_PUBSUB_AUDIENCE` and `GMAIL_PUBSUB_SERVICE_ACCOUNT` (the audience and
service account of the push subscription's OIDC token; both required to
accept pushes), `GMAIL_PUBSUB_CERTS_URL` (default
`https://www.googleapis.com/oauth2/v1/certs`), `GMAIL_PUBSUB_CLOCK_SKEW_SECONDS`
(0 to 300, default 10), `GMAIL_PUBSUB_TOPIC` (the topic `users.watch`
publishes to; unset: no watch), `GMAIL_WATCH_LABEL_IDS` (comma- or
space-separated), `GMAIL_SYNC_PAGE_SIZE` (1 to 500, default 100),
`GMAIL_SYNC_QUERY` (a Gmail search limiting full listings).

Push: one app-level URL (`webhook_routing="app"`) is the push endpoint of
the Pub/Sub subscription for the topic every mailbox watches; each push
names its mailbox, which routes it to that mailbox's integrations. The push
only says the mailbox changed (`gmail.history.changed`); the messages come
from `sync` (`gmail.message.added`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests
from hub import hookimpl
from hub.kit import list_setting
from hub.types import (
    AccountInfo,
    ConnectorInfo,
    HealthResult,
    NormalizedEvent,
    OAuthConfig,
    ProxyConfig,
    SyncResult,
    WebhookRequest,
)

from hub_gmail.accounts import mailbox_id
from hub_gmail.api import api_base_url, error_reasons, get_profile, raise_for_gmail_error, users_me
from hub_gmail.errors import GmailApiError
from hub_gmail.pubsub import push_is_authentic
from hub_gmail.push import normalize_push
from hub_gmail.sync import sync_mailbox
from hub_gmail.watch import watch_mailbox

AUTHORIZE_URL = "https://accounts.google.com/o/oauth2/v2/auth"
TOKEN_URL = "https://oauth2.googleapis.com/token"
REVOKE_URL = "https://oauth2.googleapis.com/revoke"
DEFAULT_SCOPES = ("https://www.googleapis.com/auth/gmail.readonly",)


# An envelope, drawn for the Connect page (plain shapes only: the hub serves nothing else).
ICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 48 48">'
    '<rect x="4" y="10" width="40" height="28" rx="4" fill="#ffffff" stroke="#c5221f" stroke-width="3"/>'
    '<path d="M6 13l18 14 18-14" fill="none" stroke="#c5221f" stroke-width="3" stroke-linejoin="round"/>'
    "</svg>"
)


@hookimpl
def connector_info() -> ConnectorInfo:
    return ConnectorInfo(
        display_name="Gmail",
        auth_kind="oauth2",
        description="Google mailboxes: OAuth, Pub/Sub push notifications and history sync.",
        icon_svg=ICON,
        webhook_routing="app",
        supports_sync=True,
        supports_revoke=True,
        supports_health_check=True,
    )


@hookimpl
def oauth_config(settings: Mapping[str, str]) -> OAuthConfig:
    """Google's web-server flow.

    `access_type=offline` asks for a refresh token and `prompt=consent`
    makes Google issue one on every connect (it otherwise does so only on
    the first consent). Google does not rotate refresh tokens: a refresh
    answer carries none, and the stored one stays valid.
    """
    return OAuthConfig(
        authorize_url=AUTHORIZE_URL,
        token_url=TOKEN_URL,
        scopes=list_setting(settings, "GMAIL_SCOPES", default=DEFAULT_SCOPES, separators=", "),
        extra_authorize_params={"access_type": "offline", "prompt": "consent"},
        pkce=True,
        token_endpoint_auth_method="client_secret_post",
        revoke_url=revoke_url(settings),
    )


def revoke_url(settings: Mapping[str, str]) -> str:
    return settings.get("OAUTH_GMAIL_REVOKE_URL") or REVOKE_URL


@hookimpl
def oauth_account(session: requests.Session, settings: Mapping[str, str]) -> AccountInfo:
    """The mailbox address from `users.getProfile`, as `normalize` names it in pushes."""
    address = get_profile(session, settings).get("emailAddress")
    account = mailbox_id(address)
    if account is None or not isinstance(address, str):
        raise GmailApiError(200, "no_email_address")
    return AccountInfo(external_account_id=account, display_name=address.strip())


@hookimpl
def verify_signature(request: WebhookRequest, settings: Mapping[str, str], now: float) -> bool:
    """The Pub/Sub push's OIDC token (see `hub_gmail.pubsub`); the app-level URL gets credentials=None."""
    return push_is_authentic(request.header("authorization"), settings, now)


@hookimpl
def normalize(request: WebhookRequest) -> list[NormalizedEvent]:
    return [normalize_push(request.body)]


@hookimpl
def sync(session: requests.Session, cursor: str | None, settings: Mapping[str, str]) -> SyncResult:
    return sync_mailbox(session, cursor, settings)


@hookimpl
def renew_subscription(session: requests.Session, settings: Mapping[str, str]) -> dict[str, Any] | None:
    return watch_mailbox(session, settings)


@hookimpl
def check_health(session: requests.Session, settings: Mapping[str, str]) -> HealthResult:
    """Reads the profile: one cheap call with the integration's token. 401 means the grant is gone."""
    response = session.get(users_me(settings, "/profile"))
    if response.status_code == 401:
        return HealthResult(ok=False, detail="Gmail refused the access token (HTTP 401)", needs_reauth=True)
    if not response.ok:
        return HealthResult(ok=False, detail=f"Gmail answered HTTP {response.status_code}")
    return HealthResult(ok=True)


@hookimpl
def revoke(session: requests.Session, credentials: Mapping[str, Any], settings: Mapping[str, str]) -> None:
    """Revokes the grant at Google; revoking the refresh token also ends its access tokens.

    A token Google no longer knows (`invalid_token`: expired or already
    revoked) counts as revoked. The bearer header is not sent: the token
    to revoke is the form field.
    """
    token = credentials.get("refresh_token") or credentials.get("access_token")
    if not isinstance(token, str) or not token:
        return
    response = session.post(revoke_url(settings), data={"token": token}, headers={"Authorization": None})  # type: ignore[dict-item]
    if response.status_code == 400 and "invalid_token" in error_reasons(response):
        return
    raise_for_gmail_error(response)


@hookimpl
def proxy_config(credentials: Mapping[str, Any], settings: Mapping[str, str]) -> ProxyConfig:
    """Gmail's REST API with the integration's access token; paths start with `gmail/v1/users/me/...`."""
    return ProxyConfig(
        base_url=api_base_url(settings), headers={"Authorization": f"Bearer {credentials.get('access_token', '')}"}
    )
