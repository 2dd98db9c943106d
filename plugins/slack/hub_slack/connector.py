"""The Slack connector: OAuth v2, the Events API, interactivity, slash commands and conversation sync.

Settings: `OAUTH_SLACK_CLIENT_ID` / `OAUTH_SLACK_CLIENT_SECRET`,
`SLACK_SIGNING_SECRET` (verifies every request to the app-level URL, which
serves as Events, Interactivity and Slash Command Request URL),
`SLACK_SCOPES` and `SLACK_USER_SCOPES` (comma- or space-separated),
`SLACK_API_BASE_URL` (default `https://slack.com/api`),
`SLACK_SYNC_CONVERSATION_TYPES` (default `public_channel,private_channel`),
`SLACK_SYNC_PAGE_SIZE` (default 200).
"""

from __future__ import annotations

import json
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
    WebhookResponse,
)

from hub_slack.accounts import external_account_id
from hub_slack.errors import SlackApiError, SlackRateLimited
from hub_slack.payloads import is_form, normalize_request, parse_form
from hub_slack.signatures import signature_is_valid
from hub_slack.sync import sync_messages
from hub_slack.web_api import api_base_url, call

# Enough to read the conversations the bot is in and to hear mentions.
DEFAULT_BOT_SCOPES = (
    "channels:read",
    "channels:history",
    "groups:read",
    "groups:history",
    "app_mentions:read",
)
# auth.test / auth.revoke errors that mean the grant is gone.
GRANT_GONE_ERRORS = {"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired"}


@hookimpl
def connector_info() -> ConnectorInfo:
    return ConnectorInfo(
        display_name="Slack",
        auth_kind="oauth2",
        description="Slack workspaces: OAuth v2, the Events API, interactivity and conversation sync.",
        webhook_routing="app",
        supports_sync=True,
        supports_revoke=True,
        supports_health_check=True,
    )


@hookimpl
def oauth_config(settings: Mapping[str, str]) -> OAuthConfig:
    """Slack OAuth v2 with a bot token.

    With token rotation turned on for the app, `oauth.v2.access` also
    returns `refresh_token` and `expires_in` (12 hours), and refreshing is
    a standard `grant_type=refresh_token` call to the same token URL; like
    every Slack method it may answer `ok: false` under HTTP 200, which the
    refresh must treat as a failed grant.
    """
    extra: dict[str, str] = {}
    user_scopes = list_setting(settings, "SLACK_USER_SCOPES", separators=", ")
    if user_scopes:
        extra["user_scope"] = ",".join(user_scopes)
    return OAuthConfig(
        authorize_url="https://slack.com/oauth/v2/authorize",
        token_url="https://slack.com/api/oauth.v2.access",
        scopes=list_setting(settings, "SLACK_SCOPES", default=DEFAULT_BOT_SCOPES, separators=", "),
        scope_separator=",",
        extra_authorize_params=extra,
        pkce=False,
        token_endpoint_auth_method="client_secret_basic",
    )


@hookimpl
def oauth_account(token: Mapping[str, Any]) -> AccountInfo:
    """The installation's workspace (or Grid org), in the format `normalize` puts in `account`."""
    if token.get("ok") is False:
        raise SlackApiError("oauth.v2.access", str(token.get("error") or "unknown_error"))
    team = token.get("team") if isinstance(token.get("team"), Mapping) else {}
    enterprise = token.get("enterprise") if isinstance(token.get("enterprise"), Mapping) else {}
    account = external_account_id(team.get("id"), enterprise.get("id"), token.get("is_enterprise_install"))
    if account is None:
        raise SlackApiError("oauth.v2.access", "no_team_in_token_response")
    name = team.get("name") or enterprise.get("name")
    return AccountInfo(external_account_id=account, display_name=name if isinstance(name, str) else None)


@hookimpl
def verify_signature(request: WebhookRequest, settings: Mapping[str, str], now: float) -> bool:
    return signature_is_valid(
        request.header("x-slack-signature"),
        request.header("x-slack-request-timestamp"),
        request.body,
        settings.get("SLACK_SIGNING_SECRET", ""),
        now,
    )


@hookimpl
def webhook_handshake(request: WebhookRequest) -> WebhookResponse | None:
    """Answers the Events API's `url_verification` and the slash-command `ssl_check`."""
    if is_form(request):
        try:
            fields = parse_form(request.body)
        except ValueError:
            return None
        return WebhookResponse(status=200, body=b"") if fields.get("ssl_check") == "1" else None
    try:
        payload = json.loads(request.body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    if not isinstance(payload, dict) or payload.get("type") != "url_verification":
        return None
    challenge = payload.get("challenge")
    if not isinstance(challenge, str):
        return None
    return WebhookResponse(status=200, body=challenge.encode("utf-8"), content_type="text/plain")


@hookimpl
def normalize(request: WebhookRequest) -> list[NormalizedEvent]:
    return normalize_request(request)


@hookimpl
def sync(session: requests.Session, cursor: str | None, settings: Mapping[str, str]) -> SyncResult:
    return sync_messages(session, cursor, settings)


@hookimpl
def check_health(session: requests.Session, settings: Mapping[str, str]) -> HealthResult:
    try:
        identity = call(session, settings, "auth.test", post=True)
    except SlackRateLimited:
        return HealthResult(ok=False, detail="Slack rate limited auth.test")
    except SlackApiError as error:
        return HealthResult(ok=False, detail=f"auth.test failed: {error.error}", needs_reauth=error.error in GRANT_GONE_ERRORS)
    team = identity.get("team")
    return HealthResult(ok=True, detail=f"workspace {team}" if isinstance(team, str) else "")


@hookimpl
def revoke(session: requests.Session, settings: Mapping[str, str]) -> None:
    """Revokes the bot token; a token Slack already considers gone counts as revoked."""
    try:
        call(session, settings, "auth.revoke", post=True)
    except SlackApiError as error:
        if error.error not in GRANT_GONE_ERRORS:
            raise


@hookimpl
def proxy_config(credentials: Mapping[str, Any], settings: Mapping[str, str]) -> ProxyConfig:
    """The Web API with the bot token; paths are method names (`chat.postMessage`).

    Slack ignores `Idempotency-Key`, so a POST is retried only when Slack certainly did not act.
    """
    return ProxyConfig(
        base_url=api_base_url(settings), headers={"Authorization": f"Bearer {credentials.get('access_token', '')}"}
    )
