"""The GitHub connector: an OAuth App, per-integration repository webhooks, issue sync.

Settings: `OAUTH_GITHUB_CLIENT_ID` / `OAUTH_GITHUB_CLIENT_SECRET` (the OAuth
App's; its callback URL is `APP_BASE_URL/api/oauth/callback/github`),
`GITHUB_SCOPES` (default `repo read:user`), `GITHUB_API_BASE_URL` (default
https://api.github.com; GitHub Enterprise Server: `https://HOST/api/v3`),
`GITHUB_SYNC_PAGE_SIZE` (1-100, default 100). The hub's own
`OAUTH_GITHUB_AUTHORIZE_URL` / `_TOKEN_URL` move the OAuth endpoints.

A repository webhook is set up by the tenant: its URL is the integration's
`webhook_url`, content type JSON, and its secret the integration's
`webhook_secret` credential (`PATCH /api/integrations/<id>`).

The proxy (`/api/integrations/<id>/proxy/<path>`) calls the REST API as the
connected user, under `GITHUB_API_BASE_URL`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import requests

from hub import hookimpl
from hub.kit import HmacScheme, decode_cursor, encode_cursor, int_setting, list_setting, next_page_url, rate_limit_delay, url_setting
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
from hub_github.events import normalize_delivery

SIGNATURE = HmacScheme(prefix="sha256=")
DEFAULT_SCOPES = ("repo", "read:user")
HEADERS = {"Accept": "application/vnd.github+json", "X-GitHub-Api-Version": "2022-11-28"}


class GitHubApiError(Exception):
    """GitHub refused a call; only the status is kept (GitHub's messages may quote the request)."""

    def __init__(self, status: int) -> None:
        self.status = status
        super().__init__(f"GitHub API answered HTTP {status}")


def api_base_url(settings: Mapping[str, str]) -> str:
    return url_setting(settings, "GITHUB_API_BASE_URL", default="https://api.github.com")


def api_url(settings: Mapping[str, str], path: str) -> str:
    return api_base_url(settings) + path


@hookimpl
def connector_info() -> ConnectorInfo:
    return ConnectorInfo(
        display_name="GitHub",
        auth_kind="oauth2",
        description="GitHub through an OAuth App: repository webhooks (push, issues, pull requests) and issue sync.",
        credential_fields={"webhook_secret": "The secret of the repository webhook that posts to this integration's webhook_url."},
        webhook_routing="integration",
        supports_sync=True,
        supports_revoke=True,
        supports_health_check=True,
    )


@hookimpl
def oauth_config(settings: Mapping[str, str]) -> OAuthConfig:
    return OAuthConfig(
        authorize_url="https://github.com/login/oauth/authorize",
        token_url="https://github.com/login/oauth/access_token",
        scopes=list_setting(settings, "GITHUB_SCOPES", default=DEFAULT_SCOPES, separators=", "),
    )


@hookimpl
def oauth_account(session: requests.Session, settings: Mapping[str, str]) -> AccountInfo:
    """The user who granted access, by GitHub's numeric id (a login can be renamed)."""
    response = session.get(api_url(settings, "/user"), headers=HEADERS)
    if not response.ok:
        raise GitHubApiError(response.status_code)
    user = response.json()
    if not isinstance(user, dict) or not isinstance(user.get("id"), int):
        raise GitHubApiError(response.status_code)
    return AccountInfo(external_account_id=str(user["id"]), display_name=user.get("login"))


@hookimpl
def verify_signature(request: WebhookRequest, credentials: Mapping[str, Any] | None) -> bool:
    """`X-Hub-Signature-256` over the raw body; GitHub signs no timestamp (the delivery id is the replay defence)."""
    secret = str((credentials or {}).get("webhook_secret") or "")
    return SIGNATURE.verify(secret, request.body, request.header("x-hub-signature-256"))


@hookimpl
def webhook_handshake(request: WebhookRequest) -> WebhookResponse | None:
    """GitHub pings a new webhook once; answering proves the URL and the secret work."""
    if request.header("x-github-event") == "ping":
        return WebhookResponse(status=200, body=b'{"status":"pong"}', content_type="application/json")
    return None


@hookimpl
def normalize(request: WebhookRequest) -> list[NormalizedEvent]:
    return normalize_delivery(request)


@hookimpl
def sync(session: requests.Session, cursor: str | None, settings: Mapping[str, str]) -> SyncResult:
    """Issues and pull requests the user can see, oldest change first, page by page along the `Link` header.

    The cursor holds the next page's URL during a walk, and afterwards the
    newest `updated_at` seen: the next walk asks `since` then (GitHub's
    `since` is inclusive, so the last item comes again and dedupes).
    """
    position = decode_cursor(cursor)
    url = position.get("next")
    if not isinstance(url, str) or not url.startswith(api_url(settings, "/")):
        size = int_setting(settings, "GITHUB_SYNC_PAGE_SIZE", default=100, minimum=1, maximum=100)
        params = {"filter": "all", "state": "all", "sort": "updated", "direction": "asc", "per_page": size}
        if isinstance(position.get("since"), str):
            params["since"] = position["since"]
        url = requests.Request("GET", api_url(settings, "/issues"), params=params).prepare().url or ""
    response = session.get(url, headers=HEADERS)
    waited = rate_limit_delay(response.status_code, response.headers, now=time.time())
    if waited is not None:
        return SyncResult(records=[], cursor=cursor, has_more=True, retry_after=waited)
    if not response.ok:
        raise GitHubApiError(response.status_code)
    items = [item for item in response.json() if isinstance(item, dict) and isinstance(item.get("id"), int)]
    since = max([position.get("since") or "", *(str(item.get("updated_at") or "") for item in items)]) or None
    following = next_page_url(response.headers.get("Link"), current_url=response.url)
    records = [_issue_record(item) for item in items]
    return SyncResult(records=records, cursor=encode_cursor({"next": following, "since": since}), has_more=following is not None)


def _issue_record(item: Mapping[str, Any]) -> NormalizedEvent:
    kind = "pull_request" if "pull_request" in item else "issue"
    repository = str(item.get("repository_url") or "").rpartition("/repos/")[2] or None
    return NormalizedEvent(
        id=f"{kind}:{item['id']}:{item.get('updated_at')}",
        type=f"github.{kind}.synced",
        data={"repository": repository, kind: {name: item.get(name) for name in ("id", "number", "title", "state", "html_url", "updated_at")}},
        subject=f"{repository}#{item.get('number')}" if repository else None,
    )


@hookimpl
def check_health(session: requests.Session, settings: Mapping[str, str]) -> HealthResult:
    response = session.get(api_url(settings, "/user"), headers=HEADERS)
    if response.status_code == 401:
        return HealthResult(ok=False, detail="GitHub refused the access token (HTTP 401)", needs_reauth=True)
    return HealthResult(ok=response.ok, detail="" if response.ok else f"GitHub answered HTTP {response.status_code}")


@hookimpl
def revoke(session: requests.Session, credentials: Mapping[str, Any], settings: Mapping[str, str]) -> None:
    """Deletes the OAuth App's grant, so the user's authorization ends with the integration (404: already gone)."""
    client_id, client_secret = settings.get("OAUTH_GITHUB_CLIENT_ID"), settings.get("OAUTH_GITHUB_CLIENT_SECRET")
    token = credentials.get("access_token")
    if not client_id or not client_secret or not token:
        return
    response = session.delete(
        api_url(settings, f"/applications/{client_id}/grant"), json={"access_token": token}, auth=(client_id, client_secret), headers=HEADERS
    )
    if not response.ok and response.status_code != 404:
        raise GitHubApiError(response.status_code)


@hookimpl
def proxy_config(credentials: Mapping[str, Any], settings: Mapping[str, str]) -> ProxyConfig | None:
    """The REST API with the user's token; None for a webhook-only integration, which holds no token.

    GitHub ignores `Idempotency-Key`, so a POST is retried only when GitHub
    certainly did not act. Callers choose their own `Accept` and API version.
    """
    token = credentials.get("access_token")
    if not token:
        return None
    return ProxyConfig(base_url=api_base_url(settings), headers={"Authorization": f"Bearer {token}"})
