"""Provider accounts that route app-level webhooks: learned from the provider, never claimed.

An app-level webhook (Slack's one Events URL, a Stripe Connect platform
endpoint) names the provider account it belongs to, and the hub stores it
for every live integration of that account, in every tenant. So an
integration's `external_account_id` is only ever what the provider itself
said: the OAuth token response or a call with the fresh token
(`oauth_account`), or a call the hub makes with the tenant's own API-key
credentials (`api_key_account`). A request field could name any account,
and the tenant behind it would receive another tenant's events.

`account_verified_at` marks an account the provider named. Rows stored
before the hub kept this rule have none and receive no app-level events
until `verify_accounts` (periodic work) has asked the provider whose
credentials they hold: the account is confirmed, replaced by the one the
provider names, or dropped when the provider names none or refuses the
credentials.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import requests
import sqlalchemy as sa

from hub.errors import CredentialsRefused, ProviderUnavailable, ReauthorizationRequired
from hub.plugins import checked_account
from hub.provider.calls import provider_call
from hub.provider.session import TimeoutSession
from hub.runtime import current_hub
from hub.storage.models import Integration, db, utcnow
from hub.tenancy.integrations import get_integration_with_credentials
from hub.types import AccountInfo

log = logging.getLogger(__name__)

# An API request waits for this call: it must end well inside a gunicorn worker's timeout.
LOOKUP_TIMEOUT = (5.0, 10.0)
RETRY_AFTER_SECONDS = 30
VERIFY_BATCH = 100


class _LookupSession(TimeoutSession):
    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", LOOKUP_TIMEOUT)
        return super().request(method, url, *args, **kwargs)


@contextmanager
def _lookup_session() -> Iterator[requests.Session]:
    session = _LookupSession()
    session.headers["User-Agent"] = "hub-integration-hub/0.1"
    with session:
        yield session


def learn_api_key_account(connector_id: str, credentials: Mapping[str, Any]) -> AccountInfo | None:
    """Ask the provider, with these credentials, which account they belong to (`api_key_account`).

    None when the connector does not implement the hook or the provider
    names no account: such an integration gets no app-level events. Ends
    the session's transaction first, so no lock is held while the provider
    answers. Raises CredentialsRefused (400) when the provider refuses the
    credentials and ProviderUnavailable (503 with Retry-After) when it
    cannot be asked; the caller then stores nothing.
    """
    plugins = current_hub().plugins
    if not plugins.has_hook(connector_id, "api_key_account"):
        return None
    display_name = plugins.info(connector_id).display_name
    db.session.commit()
    try:
        with _lookup_session() as session:
            account = plugins.api_key_account(connector_id, session=session, credentials=credentials)
    except CredentialsRefused:
        log.info("%s refused the credentials it was asked about", connector_id)
        raise CredentialsRefused(f"{display_name} refused these credentials.") from None
    except Exception as error:  # the provider could not be asked; the error text may quote the request
        log.warning("could not ask %s which account the credentials belong to: %s", connector_id, type(error).__name__)
        raise ProviderUnavailable(
            f"{display_name} could not be asked which account these credentials belong to; retry shortly.",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        ) from None
    return checked_account(connector_id, account)


def _is_api_key_row(connector_id: str, credentials: Mapping[str, Any]) -> bool:
    """API-key credentials hold only the connector's declared fields (the API refuses any other); OAuth credentials hold tokens."""
    fields = current_hub().plugins.info(connector_id).credential_fields
    return bool(fields) and set(credentials) <= set(fields)


def _ask_provider(tenant_id: str, integration_id: str, connector_id: str, credentials: Mapping[str, Any]) -> AccountInfo | None:
    plugins = current_hub().plugins
    if _is_api_key_row(connector_id, credentials):
        return learn_api_key_account(connector_id, credentials)
    if not plugins.has_hook(connector_id, "oauth_account") or not credentials.get("access_token"):
        return None
    with provider_call(tenant_id, integration_id) as call:
        account = plugins.oauth_account(connector_id, token=dict(call.credentials), session=call.session)
    return checked_account(connector_id, account)


def verify_account(tenant_id: str, integration_id: str) -> str:
    """Ask the provider about one unverified account; returns what happened to it."""
    integration, credentials = get_integration_with_credentials(tenant_id, integration_id)
    connector_id, claimed, version = integration.connector, integration.external_account_id, integration.version
    if connector_id not in current_hub().plugins.connectors:
        db.session.commit()
        return "skipped"  # its webhooks are refused anyway; asked again once the connector is installed
    try:
        account = _ask_provider(tenant_id, integration_id, connector_id, credentials)
    except (CredentialsRefused, ReauthorizationRequired):
        account = None  # a connection that works again names its account then (reconnect, new credentials)
    learned = account.external_account_id if account is not None else None
    written = db.session.execute(
        sa.update(Integration)
        .where(
            Integration.id == integration_id, Integration.tenant_id == tenant_id, Integration.version == version,
            Integration.account_verified_at.is_(None),
        )
        .values(external_account_id=learned, account_verified_at=utcnow() if learned is not None else None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    if written != 1:
        return "skipped"  # new credentials were stored meanwhile, with the account they name
    if learned is None:
        log.warning("integration %s no longer routes app-level events: the provider names no account for it", integration_id)
        return "cleared"
    if learned != claimed:
        log.warning("integration %s routes by the account the provider named, not the one it was stored with", integration_id)
        return "changed"
    return "verified"


def verify_accounts(batch: int = VERIFY_BATCH) -> dict[str, int]:
    """Periodic: ask the provider about every account stored without its word (rows older than this rule)."""
    outcome = {"verified": 0, "changed": 0, "cleared": 0, "skipped": 0, "failed": 0}
    after = ""
    while True:
        rows = db.session.execute(
            sa.select(Integration.tenant_id, Integration.id)
            .where(
                Integration.external_account_id.is_not(None),
                Integration.account_verified_at.is_(None),
                Integration.deleted_at.is_(None),
                Integration.id > after,
            )
            .order_by(Integration.id)
            .limit(batch)
        ).all()
        db.session.commit()
        for tenant_id, integration_id in rows:
            try:
                outcome[verify_account(tenant_id, integration_id)] += 1
            except Exception as error:  # unreachable provider, bad ciphertext: left unrouted, asked again next period
                db.session.rollback()
                log.warning("could not verify the account of integration %s: %s", integration_id, type(error).__name__)
                outcome["failed"] += 1
        if len(rows) < batch:
            return outcome
        after = rows[-1].id
