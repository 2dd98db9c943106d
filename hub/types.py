"""Plain values that cross the plugin boundary.

Hooks receive and return only these (and builtins), never database rows,
queue handles or keys, so a connector package depends on nothing of the
core but this module and `hub.hookimpl`. `CredentialsRefused` is the one
exception a hook raises on purpose (see `api_key_account`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from hub.errors import CredentialsRefused

__all__ = [
    "AccountInfo", "AuthKind", "ConnectorInfo", "CredentialsRefused", "HealthResult", "NormalizedEvent",
    "OAuthConfig", "ProxyConfig", "SyncResult", "WebhookRequest", "WebhookResponse", "WebhookRouting",
]

AuthKind = Literal["oauth2", "api_key", "none"]
WebhookRouting = Literal["integration", "app", "both", "none"]


@dataclass(frozen=True)
class ConnectorInfo:
    """What a connector is and what it supports; shown by `GET /api/connectors`.

    credential_fields: for API-key connectors, the fields a tenant posts in
    `credentials` mapped to a one-line description. required_credentials
    lists the ones that must be present.
    icon_svg: an optional square SVG icon (at most 16 KiB) the Connect page
    shows beside the display name; the hub serves it only after keeping the
    plain shapes of it (no script, style, link or foreign content), and shows
    the name's initial instead when it is missing or refused.
    webhook_routing: "integration" (each integration has its own URL), "app"
    (one URL for the connector app; the connector names the account in each
    event), "both", or "none".
    """

    display_name: str
    auth_kind: AuthKind
    description: str = ""
    credential_fields: Mapping[str, str] = field(default_factory=dict)
    required_credentials: tuple[str, ...] = ()
    webhook_routing: WebhookRouting = "none"
    supports_sync: bool = False
    supports_revoke: bool = False
    supports_health_check: bool = False
    icon_svg: str = ""


@dataclass(frozen=True)
class OAuthConfig:
    """How to run the OAuth 2 authorization-code flow against one provider.

    The core fills `client_id` and `client_secret` from
    `OAUTH_<ID>_CLIENT_ID` / `_CLIENT_SECRET` and lets
    `OAUTH_<ID>_AUTHORIZE_URL` / `_TOKEN_URL` override the URLs.
    """

    authorize_url: str
    token_url: str
    scopes: tuple[str, ...] = ()
    scope_separator: str = " "
    extra_authorize_params: Mapping[str, str] = field(default_factory=dict)
    pkce: bool = True
    token_endpoint_auth_method: Literal["client_secret_post", "client_secret_basic"] = "client_secret_post"
    revoke_url: str | None = None
    client_id: str | None = None
    client_secret: str | None = None


@dataclass(frozen=True)
class AccountInfo:
    """The provider account a grant or an API key belongs to, as the provider named it.

    Dedupes re-connects, and routes the events that arrive at the
    connector's app-level URL (`NormalizedEvent.account` must match it).
    """

    external_account_id: str
    display_name: str | None = None


@dataclass(frozen=True)
class WebhookRequest:
    """An inbound webhook as the provider sent it. `headers` keys are lower-case."""

    headers: Mapping[str, str]
    body: bytes
    query: Mapping[str, str] = field(default_factory=dict)
    content_type: str = ""

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass(frozen=True)
class WebhookResponse:
    """A reply the connector gives instead of ingesting (e.g. Slack's url_verification)."""

    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain"


@dataclass(frozen=True)
class NormalizedEvent:
    """One provider event in CloudEvents terms.

    id: the provider's event id, the dedupe key within an integration.
    account: the provider account the event belongs to (routes app-level
    webhooks; may be None for per-integration endpoints).
    integration_status: when set (e.g. "revoked" on a deauthorization), the
    core moves the receiving integration to that status.
    request_sync: the event is a change notification that carries no records
    (Gmail's Pub/Sub push says only "the mailbox changed"): the core queues a
    sync of each receiving integration, unless one is already waiting.
    """

    id: str
    type: str
    data: Any
    subject: str | None = None
    time: datetime | None = None
    account: str | None = None
    integration_status: str | None = None
    request_sync: bool = False


@dataclass(frozen=True)
class SyncResult:
    """One page of a sync: records to ingest and the cursor to resume from.

    has_more asks the core to call `sync` again (with `cursor`) in a new job,
    so a long backfill never holds one worker for its whole length.
    retry_after asks the core to try again later (rate limited), keeping the
    cursor.
    """

    records: list[NormalizedEvent]
    cursor: str | None
    has_more: bool = False
    retry_after: float | None = None


@dataclass(frozen=True)
class HealthResult:
    """The outcome of a cheap authenticated call made to test an integration."""

    ok: bool
    detail: str = ""
    needs_reauth: bool = False


@dataclass(frozen=True)
class ProxyConfig:
    """How the proxy (and `hub.connections.session`) reaches the provider's API as one integration.

    base_url: the API's root; every proxied path is appended to it and must
    stay under it (`<ID>_API_BASE_URL` is how a connector lets it be
    overridden, as for sync).
    headers: what authenticates the call (`Authorization`, Stripe's
    `Stripe-Account`); they replace any header of the same name the caller sent.
    query: query parameters the connector sets; they replace the caller's.
    reserved_headers: header names the caller may never send although the
    connector does not set them here (Stripe's `Stripe-Account` for an
    API-key integration: a caller must not reach another account through the key).
    honours_idempotency_key: the provider honours `Idempotency-Key`, so a
    POST or PATCH that carries one may be retried after an ambiguous failure.
    """

    base_url: str
    headers: Mapping[str, str] = field(default_factory=dict)
    query: Mapping[str, str] = field(default_factory=dict)
    reserved_headers: tuple[str, ...] = ()
    honours_idempotency_key: bool = False
