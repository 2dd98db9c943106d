"""The hooks a plugin may implement. Each is documented in docs/plugin_hooks.md.

Connector hooks (everything but `process_event`) are dispatched by the core
to the ONE connector a call addresses; a connector never sees another
connector's traffic. Every hook is called with keyword arguments; an
implementation may accept only the ones it needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pluggy

hookspec = pluggy.HookspecMarker("hub")
hookimpl = pluggy.HookimplMarker("hub")


@hookspec
def connector_info():  # type: ignore[no-untyped-def]
    """Describe the connector: display name, auth kind, what it supports.

    Required for every connector. Returns a `hub.types.ConnectorInfo`.
    """


@hookspec
def oauth_config(settings: Mapping[str, str]):  # type: ignore[no-untyped-def]
    """How to run OAuth 2 against this provider. Returns `hub.types.OAuthConfig`."""


@hookspec
def oauth_account(token: Mapping[str, Any], session: Any, settings: Mapping[str, str]):  # type: ignore[no-untyped-def]
    """Which provider account a fresh OAuth token belongs to. Returns `hub.types.AccountInfo`."""


@hookspec
def api_key_account(session: Any, credentials: Mapping[str, Any], settings: Mapping[str, str]):  # type: ignore[no-untyped-def]
    """Which provider account API-key credentials belong to, asked of the provider with those credentials.

    Called when an API-key integration is created and whenever its
    credentials change. The answer is the only source of the integration's
    `external_account_id`, which routes app-level webhooks: a tenant must
    not be able to name another tenant's account. Returns
    `hub.types.AccountInfo`, or None when the credentials work but name no
    account (the integration then gets no app-level events). Raise
    `hub.types.CredentialsRefused` when the provider refuses the
    credentials; any other exception means the provider could not be asked.
    """


@hookspec
def verify_signature(request: Any, credentials: Mapping[str, Any] | None, settings: Mapping[str, str], now: float):  # type: ignore[no-untyped-def]
    """Check a webhook's signature over the raw body. Returns True only when valid and fresh."""


@hookspec
def webhook_handshake(request: Any, settings: Mapping[str, str]):  # type: ignore[no-untyped-def]
    """Answer a provider's endpoint handshake. Returns `hub.types.WebhookResponse` or None."""


@hookspec
def normalize(request: Any, settings: Mapping[str, str]):  # type: ignore[no-untyped-def]
    """Turn a verified webhook into events. Returns a list of `hub.types.NormalizedEvent`.

    Raise ValueError for a body the connector cannot read (the caller gets 400;
    RecursionError and OverflowError from parsing are treated the same). The
    hub refuses with a 400 an event it cannot store: text with NUL or a lone
    surrogate, data that is not strict JSON or is nested over 64 deep.
    """


@hookspec
def sync(session: Any, credentials: Mapping[str, Any], cursor: str | None, settings: Mapping[str, str]):  # type: ignore[no-untyped-def]
    """Fetch one page of records since `cursor`. Returns `hub.types.SyncResult`."""


@hookspec
def revoke(session: Any, credentials: Mapping[str, Any], settings: Mapping[str, str]):  # type: ignore[no-untyped-def]
    """Revoke the grant at the provider when an integration is deleted. Returns None."""


@hookspec
def check_health(session: Any, credentials: Mapping[str, Any], settings: Mapping[str, str]):  # type: ignore[no-untyped-def]
    """Make one cheap authenticated call. Returns `hub.types.HealthResult`."""


@hookspec
def renew_subscription(session: Any, credentials: Mapping[str, Any], settings: Mapping[str, str]):  # type: ignore[no-untyped-def]
    """Renew a provider-side subscription that expires (Gmail's users.watch). Periodic.

    Returns a dict of credential fields to store (merged into the credentials), or None.
    """


@hookspec
def process_event(event: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """Act on one normalized event (a CloudEvent dict). Every implementation runs.

    Raise to make the event retry. Must be idempotent: an event may be
    delivered to a processor more than once after a crash.
    """


@hookspec
def automate(event: Mapping[str, Any]):  # type: ignore[no-untyped-def]
    """Run automation for one processed event (a CloudEvent dict), on the automation queue.

    Every implementation runs, after every `process_event` has succeeded.
    Raise to make the automation retry (the event's processors are not run
    again). Must be idempotent, like `process_event`.
    """
