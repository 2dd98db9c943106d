"""The hooks a plugin may implement, typed and documented where they are declared.

Each hook's section in docs/plugin_hooks.md adds an example; the parameters
and the return value are described here, so an editor shows them to a plugin
author at the implementation.

Connector hooks (everything but `process_event` and `automate`) are
dispatched by the core to the ONE connector a call addresses; a connector
never sees another connector's traffic. Every hook is called with keyword
arguments; an implementation may accept only the ones it needs. A plugin
receives and returns plain values (`hub.types`, builtins, an HTTP session):
never a database row, a queue or a key.

`settings`, wherever it appears, is the mapping of the connector's own
settings: every setting named `<ID>_*` or `OAUTH_<ID>_*` (for Slack:
`SLACK_SIGNING_SECRET`, `OAUTH_SLACK_CLIENT_ID`, ...), from the hub's config
or the environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import pluggy

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

if TYPE_CHECKING:
    import requests

hookspec = pluggy.HookspecMarker("hub")
hookimpl = pluggy.HookimplMarker("hub")


@hookspec
def connector_info() -> ConnectorInfo:  # type: ignore[empty-body]
    """Describe the connector: display name, auth kind, what it supports. Required for every connector.

    :returns: a `ConnectorInfo`; its `credential_fields` and `required_credentials`
        are the fields a tenant posts for an API-key integration, its `supports_*`
        flags are advertised in `GET /api/connectors` (the matching hooks must be
        implemented too).
    """


@hookspec
def oauth_config(settings: Mapping[str, str]) -> OAuthConfig | None:  # type: ignore[empty-body]
    """How to run the OAuth 2 authorization-code flow against the provider.

    :param settings: the connector's own settings.
    :returns: an `OAuthConfig` (authorize and token URLs, scopes, PKCE, the token
        endpoint's client authentication). The hub fills the client id and secret
        from `OAUTH_<ID>_CLIENT_ID` / `_CLIENT_SECRET`; `OAUTH_<ID>_AUTHORIZE_URL` /
        `_TOKEN_URL` override the URLs. None: the connector does not use OAuth.
    """


@hookspec
def oauth_account(token: Mapping[str, Any], session: requests.Session, settings: Mapping[str, str]) -> AccountInfo | None:  # type: ignore[empty-body]
    """Which provider account a fresh OAuth grant belongs to, read from the provider, never from the browser.

    Connecting the same account again then updates its integration instead of
    adding one, and the events that arrive at the connector's app-level URL reach it.

    :param token: the token response (access token, refresh token, provider extras
        such as Slack's `team`); when the hub re-checks an integration stored before
        accounts were checked, its stored credentials.
    :param session: an HTTP session that sends the new access token.
    :param settings: the connector's own settings.
    :returns: an `AccountInfo`, or None when the grant names no account.
    """


@hookspec
def api_key_account(session: requests.Session, credentials: Mapping[str, Any], settings: Mapping[str, str]) -> AccountInfo | None:  # type: ignore[empty-body]
    """Which provider account API-key credentials belong to, asked of the provider with those credentials.

    Called when an API-key integration is created and whenever its
    credentials change. The answer is the only source of the integration's
    `external_account_id`, which routes app-level webhooks: a tenant must
    not be able to name another tenant's account. Raise
    `hub.types.CredentialsRefused` when the provider refuses the
    credentials; any other exception means the provider could not be asked.

    :param session: an HTTP session with timeouts and no authentication set: send
        the credentials the way the provider expects.
    :param credentials: the credentials the tenant posted (or their merge over the stored ones).
    :param settings: the connector's own settings.
    :returns: an `AccountInfo`, or None when the credentials work but name no
        account (the integration then gets no app-level events).
    """


@hookspec
def verify_signature(  # type: ignore[empty-body]
    request: WebhookRequest, credentials: Mapping[str, Any] | None, settings: Mapping[str, str], now: float
) -> bool:
    """Check an inbound webhook's signature over the raw body, before anything parses it.

    Compare with `hmac.compare_digest`. A scheme without a signed timestamp
    (GitHub's) cannot refuse a replay: the event id must then be the
    provider's delivery id, so that dedupe drops it.

    :param request: the delivery as sent: lower-cased `headers`, the raw `body` bytes, `query`, `content_type`.
    :param credentials: the receiving integration's decrypted credentials at a
        per-integration URL (such as Stripe's `webhook_secret`); None at the
        app-level URL, where the signing secret comes from `settings`.
    :param settings: the connector's own settings.
    :param now: the current UNIX time, for the timestamp tolerance.
    :returns: True only for a valid and fresh signature; anything else is a 401.
    """


@hookspec
def webhook_handshake(request: WebhookRequest, settings: Mapping[str, str]) -> WebhookResponse | None:  # type: ignore[empty-body]
    """Answer a provider's endpoint verification (Slack's `url_verification`), after the signature was verified.

    :param request: the verified delivery.
    :param settings: the connector's own settings.
    :returns: the `WebhookResponse` to send instead of ingesting, or None for an ordinary delivery.
    """


@hookspec
def normalize(request: WebhookRequest, settings: Mapping[str, str]) -> list[NormalizedEvent]:  # type: ignore[empty-body]
    """Turn a verified webhook into events; the hub stores each once per integration (dedupe on `id`).

    Raise ValueError for a body the connector cannot read (the caller gets 400,
    whose `detail` quotes the message: never put the body or a secret in it;
    RecursionError and OverflowError from parsing are treated the same). The
    hub refuses with a 400 an event it cannot store: text with NUL or a lone
    surrogate, data that is not strict JSON or is nested over 64 deep.

    :param request: the verified delivery.
    :param settings: the connector's own settings.
    :returns: the delivery's `NormalizedEvent`s; an empty list for a delivery the hub does not want.
    """


@hookspec
def sync(  # type: ignore[empty-body]
    session: requests.Session, credentials: Mapping[str, Any], cursor: str | None, settings: Mapping[str, str]
) -> SyncResult:
    """Fetch one page of records since `cursor`; they go through the same dedupe and processing as webhooks.

    :param session: an HTTP session that sends `Authorization: Bearer <access_token>` whenever the
        credentials hold an `access_token` (freshly refreshed), no authentication otherwise
        (API-key connectors send their key from `credentials`).
    :param credentials: the integration's decrypted credentials.
    :param cursor: what the previous page returned, or None the first time (stored as text, no
        size limit of the hub's own: keep it small).
    :param settings: the connector's own settings.
    :returns: a `SyncResult`: the records, the cursor to resume from, `has_more` to be
        called again in a new job, `retry_after` (seconds, at most a day is honoured)
        when the provider rate-limited the call.
    """


@hookspec
def revoke(session: requests.Session, credentials: Mapping[str, Any], settings: Mapping[str, str]) -> None:
    """Revoke the grant at the provider when an integration is deleted; errors are logged and the delete goes ahead.

    :param session: an HTTP session with the integration's access token (as stored, even when it could not be refreshed).
    :param credentials: the integration's decrypted credentials.
    :param settings: the connector's own settings.
    :returns: None.
    """


@hookspec
def check_health(session: requests.Session, credentials: Mapping[str, Any], settings: Mapping[str, str]) -> HealthResult | None:  # type: ignore[empty-body]
    """Make one cheap authenticated call, so the hub can record whether the integration still works.

    :param session: an HTTP session with a fresh access token.
    :param credentials: the integration's decrypted credentials.
    :param settings: the connector's own settings.
    :returns: a `HealthResult` (`needs_reauth` marks the integration `needs_reauth`), or None for "unknown".
    """


@hookspec
def renew_subscription(  # type: ignore[empty-body]
    session: requests.Session, credentials: Mapping[str, Any], settings: Mapping[str, str]
) -> dict[str, Any] | None:
    """Renew a provider-side subscription that lapses on its own (Gmail's `users.watch`, 7 days). Periodic.

    :param session: an HTTP session with a fresh access token.
    :param credentials: the integration's decrypted credentials.
    :param settings: the connector's own settings.
    :returns: credential fields to merge into the stored credentials (such as the watch's expiry), or None.
    """


@hookspec
def proxy_config(credentials: Mapping[str, Any], settings: Mapping[str, str]) -> ProxyConfig | None:  # type: ignore[empty-body]
    """Where the proxy sends an integration's calls and how it authenticates them.

    Called for every proxied call (`/api/integrations/<id>/proxy/...` and
    `hub.connections.session`), and again after the hub refreshed a token
    that the provider refused with 401. The hub builds the URL, checks it
    stays under `base_url`, strips the caller's credentials and adds the
    headers returned here; the connector never sees the caller's request.

    :param credentials: the integration's decrypted credentials, with an access token that is not about to expire.
    :param settings: the connector's own settings (read `<ID>_API_BASE_URL` here).
    :returns: a `ProxyConfig` (base URL, authentication headers and query
        parameters, reserved headers, whether `Idempotency-Key` is honoured),
        or None when the connector has no API to proxy to (the caller gets 400).
    """


@hookspec
def process_event(event: Mapping[str, Any]) -> None:
    """Act on one normalized event. Every implementation runs, connectors' and other plugins' alike.

    Raise to make the event retry (with backoff; after the last attempt the
    event is dead and can be replayed). An event may reach a processor more
    than once after a crash: processing must be idempotent.

    :param event: a CloudEvents 1.0 dict (`specversion`, `id`, `source`, `type`,
        `subject`, `time`, `data`) plus `tenantid`, `integrationid` and `connector`.
    :returns: None.
    """


@hookspec
def automate(event: Mapping[str, Any]) -> None:
    """Run automation for one processed event, on the automation queue, after every `process_event` succeeded.

    Every implementation runs. Raise to make the automation retry (the
    event's processors do not run again). Must be idempotent, like
    `process_event` (the event's `id` is a good idempotency key).

    :param event: the same CloudEvents 1.0 dict that `process_event` received.
    :returns: None.
    """
