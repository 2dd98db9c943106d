"""Calling a provider on an integration's behalf: the one way in.

Every call a connector makes to its provider with an integration's
credentials (health checks, subscription renewals, sync pages, revocation)
runs inside `provider_call`. It reads the integration within its tenant,
gets credentials with an access token that is not about to expire, ends the
database transaction, and only then hands out the HTTP session.

Why the transaction must end first: on SQLite every transaction begins
IMMEDIATE, so even a read holds the database's one write lock until it
ends; a provider that takes 30 seconds to answer would make every other
tenant's webhook wait 30 seconds and fail. On PostgreSQL an open
transaction across a slow call holds a connection and its snapshot for as
long. So nothing the block receives is an ORM row that could lazily load
(and so begin a transaction again) while the provider is called: only plain
values.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import requests

from hub.errors import ReauthorizationRequired, TokenRefreshFailed
from hub.provider.credentials import fresh_credentials
from hub.provider.session import provider_session
from hub.storage.models import db
from hub.tenancy.integrations import decrypt_credentials, get_integration_by_id


class ProviderCall(NamedTuple):
    """What a connector hook needs to call its provider: no database row, only values."""

    connector: str
    session: requests.Session
    credentials: dict[str, Any]


def end_transaction() -> None:
    """Commit the session's transaction (what the caller wrote is kept), so none is open during the call."""
    db.session.commit()


@contextmanager
def provider_call(tenant_id: str, integration_id: str, *, stale_credentials_ok: bool = False) -> Iterator[ProviderCall]:
    """Fresh credentials, the transaction ended, then a provider session for the block.

    Another tenant's integration id is not found (404), as everywhere.
    `stale_credentials_ok` is for calls that must be tried even when the
    token cannot be refreshed (revoking a grant on disconnect): the stored
    credentials are used as they are.
    """
    connector = get_integration_by_id(tenant_id, integration_id).connector
    try:
        credentials = fresh_credentials(tenant_id, integration_id)
    except (ReauthorizationRequired, TokenRefreshFailed):
        if not stale_credentials_ok:
            raise
        db.session.rollback()
        credentials = decrypt_credentials(get_integration_by_id(tenant_id, integration_id))
    end_transaction()
    with provider_session(credentials) as session:
        yield ProviderCall(connector, session, credentials)
