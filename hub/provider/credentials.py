"""Fresh credentials for workers and connector calls, and the token refresh behind them.

Every caller that needs to talk to a provider on an integration's behalf
goes through `fresh_credentials`, so token refresh has one home. A refresh
happens ahead of expiry, under a per-integration lease that works across
processes and machines (`hub.storage.leases`), re-reads the integration once the
lease is held (another worker may just have refreshed), and writes with the
version it read. Together these mean a refresh token (single-use at many
providers) is spent once, however many workers want a token at the same
moment.

A provider that rejects the grant (`invalid_grant`) moves the integration to
`needs_reauth` and raises `ReauthorizationRequired`, which is never worth
retrying; a network error or provider outage raises `TokenRefreshFailed`,
which is.
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import requests
from authlib.integrations.base_client.errors import OAuthError

from hub.errors import Conflict, ReauthorizationRequired, TokenRefreshFailed
from hub.metrics import TOKEN_REFRESHES
from hub.provider.oauth_client import client_config, credentials_from_token, refresh_access_token
from hub.provider.sweeps import IntegrationRef, active_integrations, connectors_with, sweep
from hub.queue.deliveries import announce_integration
from hub.queue.queues import enqueue
from hub.runtime import current_hub
from hub.storage.leases import LeaseNotAcquired
from hub.storage.models import Integration, db, utcnow
from hub.tenancy.integrations import (
    IntegrationInUse,
    get_integration_with_credentials,
    update_integration_credentials,
    update_integration_status,
)

log = logging.getLogger(__name__)

REFRESH_MARGIN = timedelta(minutes=5)
# The periodic task looks further ahead than callers do, so a token is renewed before anyone waits on it.
PERIODIC_WINDOW = timedelta(minutes=15)
LEASE_TTL_SECONDS = 60.0
LEASE_WAIT_SECONDS = 30.0
# Error codes meaning the grant itself is gone (Slack says invalid_refresh_token).
GRANT_REVOKED_ERRORS = frozenset({"invalid_grant", "invalid_refresh_token"})


@dataclass(frozen=True)
class _Snapshot:
    """What the refresh needs from the row, read while the lease is held."""

    connector: str
    status: str
    version: int
    token_expires_at: datetime | None
    credentials: dict[str, Any]


def fresh_credentials(tenant_id: str, integration_id: str) -> dict[str, Any]:
    """The integration's credentials, with an access token that is not about to expire.

    When a refresh is due, this ends the caller's database transaction
    (the refresh must not hold it across a provider call).
    """
    integration, credentials = get_integration_with_credentials(tenant_id, integration_id)
    return fresh_credentials_of(integration, credentials)


def fresh_credentials_of(integration: Integration | IntegrationInUse, credentials: dict[str, Any]) -> dict[str, Any]:
    """`fresh_credentials` for a row the caller already read with its credentials (one read fewer on a hot path)."""
    if integration.status == "needs_reauth":
        raise ReauthorizationRequired("The integration needs to be connected again.")
    if not _expires_within(integration.token_expires_at, REFRESH_MARGIN):
        return credentials
    credentials, _refreshed = refresh_credentials(integration.tenant_id, integration.id, margin=REFRESH_MARGIN)
    return credentials


def refresh_credentials(
    tenant_id: str, integration_id: str, *, margin: timedelta = REFRESH_MARGIN, rejected_token: str | None = None
) -> tuple[dict[str, Any], bool]:
    """Refresh the access token if it expires within `margin`; returns the credentials and whether it did.

    `rejected_token` is an access token the provider just refused (401): the
    refresh is then due while the stored token is still that one, whatever
    its expiry says. When several processes were refused at once, the first
    to hold the lease refreshes; the others find a new token stored and use
    it, so the refresh token is spent once.
    """
    try:
        with current_hub().leases.hold_with_session(f"token-refresh:{integration_id}", LEASE_TTL_SECONDS, wait_seconds=LEASE_WAIT_SECONDS):
            return _refresh_holding_lease(tenant_id, integration_id, margin, rejected_token)
    except LeaseNotAcquired:
        raise TokenRefreshFailed("Another worker is refreshing this token; retry shortly.") from None


def _still_stored(credentials: dict[str, Any], rejected_token: str | None) -> bool:
    stored = credentials.get("access_token")
    if rejected_token is None or not isinstance(stored, str):
        return False
    return hmac.compare_digest(stored.encode(), rejected_token.encode())


def _refresh_holding_lease(
    tenant_id: str, integration_id: str, margin: timedelta, rejected_token: str | None = None
) -> tuple[dict[str, Any], bool]:
    current = _read(tenant_id, integration_id)
    if current.status == "needs_reauth":
        raise ReauthorizationRequired("The integration needs to be connected again.")
    if not _expires_within(current.token_expires_at, margin) and not _still_stored(current.credentials, rejected_token):
        return current.credentials, False  # refreshed by another worker while we waited
    refresh_token = current.credentials.get("refresh_token")
    if not refresh_token:
        if current.token_expires_at is not None and current.token_expires_at <= utcnow():
            _mark_needs_reauth(tenant_id, integration_id, "the access token expired and there is no refresh token")
            raise ReauthorizationRequired("The access token expired and the provider gave no refresh token.")
        return current.credentials, False
    config = client_config(current.connector)
    try:
        token = refresh_access_token(config, refresh_token)
        credentials, expires_at = credentials_from_token(token, previous=current.credentials)
    except OAuthError as error:
        if error.error in GRANT_REVOKED_ERRORS:
            TOKEN_REFRESHES.labels(connector=current.connector, outcome="needs_reauth").inc()
            _mark_needs_reauth(tenant_id, integration_id, f"the provider answered {error.error}")
            raise ReauthorizationRequired("The provider no longer accepts this grant; connect again.") from None
        TOKEN_REFRESHES.labels(connector=current.connector, outcome="refused").inc()
        log.warning("token refresh of integration %s refused: %s", integration_id, error.error)
        raise TokenRefreshFailed(f"The provider refused the refresh ({error.error}); retry later.") from None
    except (requests.RequestException, ValueError) as error:
        TOKEN_REFRESHES.labels(connector=current.connector, outcome="failed").inc()
        log.warning("token refresh of integration %s failed: %s", integration_id, type(error).__name__)
        raise TokenRefreshFailed("The provider could not be reached to refresh the token; retry later.") from None
    TOKEN_REFRESHES.labels(connector=current.connector, outcome="refreshed").inc()
    stored = _store(tenant_id, integration_id, credentials, expires_at, current.version, spent=refresh_token)
    log.info("refreshed the access token of integration %s", integration_id)
    return stored, True


def _read(tenant_id: str, integration_id: str) -> _Snapshot:
    """Read committed state, then end the transaction so no provider call runs inside one.

    The data key the new tokens will be sealed with is unwrapped here too: a
    key provider outage must stop a refresh before the refresh token is spent.
    """
    db.session.expire_all()
    integration, credentials = get_integration_with_credentials(tenant_id, integration_id)
    snapshot = _Snapshot(
        integration.connector, integration.status, integration.version, integration.token_expires_at, credentials
    )
    db.session.commit()
    current_hub().envelope.ensure_data_key(tenant_id)
    return snapshot


def _store(
    tenant_id: str,
    integration_id: str,
    credentials: dict[str, Any],
    expires_at: datetime | None,
    version: int,
    *,
    spent: str,
) -> dict[str, Any]:
    """Write the new tokens on `version`; after a concurrent write, keep whichever grant is newer.

    The lease keeps other refreshes out, so a conflicting writer is a key
    rotation (same tokens, re-sealed: ours still belong on top) or a new
    connection (a newer grant than ours: keep it).
    """
    while True:
        try:
            update_integration_credentials(
                tenant_id, integration_id, credentials, expected_version=version, token_expires_at=expires_at
            )
            return credentials
        except Conflict:
            current = _read(tenant_id, integration_id)
            if current.credentials.get("refresh_token") != spent:
                return current.credentials
            version = current.version


def _mark_needs_reauth(tenant_id: str, integration_id: str, reason: str) -> None:
    log.warning("integration %s needs to be connected again: %s", integration_id, reason)
    integration = update_integration_status(tenant_id, integration_id, "needs_reauth", commit=False)
    dispatches = announce_integration("hub.integration.needs_reauth", integration)
    db.session.commit()
    enqueue(dispatches)


def _expires_within(expires_at: datetime | None, margin: timedelta) -> bool:
    return expires_at is not None and expires_at <= utcnow() + margin


def refresh_expiring_tokens(window: timedelta = PERIODIC_WINDOW) -> dict[str, int]:
    """Refresh every active integration whose access token expires within `window` (periodic work)."""
    targets = active_integrations(
        connectors_with("oauth_config"),
        Integration.token_expires_at.is_not(None),
        Integration.token_expires_at <= utcnow() + window,
        order_by=Integration.token_expires_at,
    )

    def refresh(target: IntegrationRef) -> str:
        _credentials, refreshed = refresh_credentials(target.tenant_id, target.integration_id, margin=window)
        return "refreshed" if refreshed else "unchanged"

    return sweep(targets, refresh, work="periodic token refresh", outcomes=("refreshed", "unchanged", "needs_reauth", "failed"))
