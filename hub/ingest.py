"""Webhook ingestion: from raw delivery to stored events and queued jobs.

The order is the guarantee: find the endpoint by its secret's hash, check
the signature on the raw bytes before anything parses them, let the
connector answer a handshake, normalize, then store every event and its job
in ONE transaction (a duplicate is a no-op conflict on the dedupe index),
and only after the commit ring the queue. Nothing slow runs here: no
provider call, no processor.

`webhook_secret` names either one integration (its own endpoint) or a
connector app (one URL for every account; each event names its account and
is stored for every live integration of that account, in every tenant that
connected it, whose account the provider itself named: see hub.accounts).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.exc import SQLAlchemyError

from hub.connector_apps import connector_for_app_secret
from hub.errors import BadRequest, Gone, HubError, NotFound, ServiceUnavailable, Unauthorized
from hub.events import ENDPOINT_GONE_STATUSES, Recipient, StagedEvents, stage_events, store_event, stores_alone
from hub.hotpath import DriverConnection, driver_connection
from hub.database import release_write_lock
from hub.integrations import open_credentials
from hub.models import Integration, db
from hub.queues import enqueue
from hub.ratelimit import limit_webhook
from hub.state import current_hub
from hub.tenants import hash_secret
from hub.types import NormalizedEvent, WebhookRequest, WebhookResponse

log = logging.getLogger(__name__)

UNKNOWN_ENDPOINT = "No such webhook endpoint."
GONE = "This integration was disconnected; the endpoint no longer accepts events."
# Built once: every delivery that is not answered from a remembered endpoint runs it.
ENDPOINT_LOOKUP = sa.select(
    Integration.id, Integration.tenant_id, Integration.status, Integration.deleted_at,
    Integration.credentials_ciphertext, Integration.webhook_secret_hash, Integration.version,
).where(Integration.webhook_secret_hash == sa.bindparam("digest"), Integration.connector == sa.bindparam("connector"))


@dataclass(frozen=True)
class Target:
    """The integration a per-integration endpoint names: the columns ingestion needs, nothing more."""

    id: str
    tenant_id: str
    status: str
    deleted: bool
    credentials_ciphertext: str | None
    version: int

    @property
    def gone(self) -> bool:
        return self.deleted or self.status in ENDPOINT_GONE_STATUSES


@dataclass(frozen=True)
class Endpoint:
    """Where a delivery goes: one integration, or a connector app (integration is None)."""

    connector: str
    digest: str
    integration: Target | None
    remembered_credentials: Mapping[str, Any] | None = None

    @property
    def rate_limit_key(self) -> str:
        return self.integration.id if self.integration is not None else f"app:{self.connector}"

    @property
    def remembered(self) -> bool:
        return self.remembered_credentials is not None


@dataclass(frozen=True)
class Receipt:
    """The outcome of a delivery: a handshake reply, or how many events were new.

    `confirmed` says the store itself checked the integration was live at
    the credentials the signature was verified with (see hub.endpoint_cache).
    """

    handshake: WebhookResponse | None = None
    staged: StagedEvents | None = None
    confirmed: bool = False

    @property
    def status(self) -> str:
        if self.staged is not None and self.staged.inserted == 0 and self.staged.duplicates > 0:
            return "duplicate"
        return "accepted"


def _check_secret(connector: str, secret: str) -> str:
    """The secret's digest; unknown connector and malformed secret look like an unknown secret."""
    if connector not in current_hub().plugins.connectors or not secret or len(secret) > 200:
        raise NotFound(UNKNOWN_ENDPOINT)
    return hash_secret(secret)


def resolve_endpoint(connector: str, secret: str, digest: str, driver: DriverConnection | None = None) -> Endpoint:
    """The endpoint a secret names, read from the database."""
    parameters = {"digest": digest, "connector": connector}
    row = driver.first_row(ENDPOINT_LOOKUP, parameters) if driver else db.session.execute(ENDPOINT_LOOKUP, parameters).first()
    if row is not None:
        integration_id, tenant_id, status, deleted_at, credentials_ciphertext, secret_hash, version = row
        if hmac.compare_digest(secret_hash, digest):
            target = Target(integration_id, tenant_id, status, deleted_at is not None, credentials_ciphertext, version)
            return Endpoint(connector, digest, target)
    app = connector_for_app_secret(connector, secret)
    if app is not None and hmac.compare_digest(app.webhook_secret_hash, digest):
        return Endpoint(connector, digest, None)
    raise NotFound(UNKNOWN_ENDPOINT)


def _remembered_endpoint(connector: str, digest: str) -> Endpoint | None:
    entry = current_hub().endpoints.get(connector, digest)
    if entry is None:
        return None
    target = Target(entry.integration_id, entry.tenant_id, "active", False, None, entry.version)
    return Endpoint(connector, digest, target, remembered_credentials=entry.credentials)


def _recipients(endpoint: Endpoint, event: NormalizedEvent) -> list[Recipient]:
    if endpoint.integration is not None:
        return [Recipient(endpoint.integration.tenant_id, endpoint.integration.id)]
    if not event.account:
        log.info("dropped %s event %s: it names no account to route to", endpoint.connector, event.id)
        return []
    rows = db.session.execute(
        sa.select(Integration.tenant_id, Integration.id).where(
            Integration.connector == endpoint.connector,
            Integration.external_account_id == event.account,
            Integration.account_verified_at.is_not(None),  # an account the provider named, never a claim
            Integration.deleted_at.is_(None),
            Integration.status.not_in(ENDPOINT_GONE_STATUSES),
        )
    ).all()
    if not rows:
        log.info("dropped %s event %s: no live integration has its account", endpoint.connector, event.id)
    return [Recipient(row.tenant_id, row.id) for row in rows]


def receive_webhook(connector: str, secret: str, request: WebhookRequest) -> Receipt:
    """Verify, normalize and durably store one delivery; raises the hub error for each refusal.

    On PostgreSQL a per-integration endpoint this process has seen recently
    skips the lookup; that attempt counts only if it ends in an event stored
    (or found a duplicate) by the statement that confirms the integration is
    live at the same credentials. Anything else is done again from a fresh
    lookup, so every refusal and every other answer comes from the database.
    """
    digest = _check_secret(connector, secret)
    with driver_connection() as driver:
        remembered = _remembered_endpoint(connector, digest) if driver is not None else None
        endpoint = remembered or resolve_endpoint(connector, secret, digest, driver)
        _admit(endpoint)
        receipt = _attempt(endpoint, request, driver) if remembered is not None else None
        if receipt is None:
            if remembered is not None:
                current_hub().endpoints.forget(connector, digest)
                endpoint = resolve_endpoint(connector, secret, digest, driver)
                _gone_check(endpoint)
            receipt = _deliver(endpoint, request, driver)
    if receipt.staged is not None:
        enqueue(receipt.staged.dispatches)  # after the commit, with the connection back in the pool
    return receipt


def _gone_check(endpoint: Endpoint) -> None:
    integration = endpoint.integration
    if integration is not None and has_request_context():
        g.integration_id = integration.id  # every log line of this request names it
    if integration is not None and integration.gone:
        raise Gone(GONE)


def _admit(endpoint: Endpoint) -> None:
    """410 for a disconnected integration, then the endpoint's rate limit: once per delivery."""
    _gone_check(endpoint)
    limit_webhook(endpoint.rate_limit_key)


def _attempt(endpoint: Endpoint, request: WebhookRequest, driver: DriverConnection | None) -> Receipt | None:
    """The delivery through a remembered endpoint if it ends confirmed; None to do it again from the database."""
    try:
        receipt = _deliver(endpoint, request, driver)
    except ServiceUnavailable:
        raise  # the database or a store is down: asking it again would not help
    except HubError:
        return None
    return receipt if receipt.confirmed else None


def _credentials(endpoint: Endpoint) -> Mapping[str, Any] | None:
    integration = endpoint.integration
    if integration is None:
        return None
    if endpoint.remembered_credentials is not None:
        return endpoint.remembered_credentials
    assert integration.credentials_ciphertext is not None
    return open_credentials(integration.tenant_id, integration.id, integration.credentials_ciphertext)


def _deliver(endpoint: Endpoint, request: WebhookRequest, driver: DriverConnection | None) -> Receipt:
    connector, integration = endpoint.connector, endpoint.integration
    plugins = current_hub().plugins
    credentials = _credentials(endpoint)
    if driver is None:
        release_write_lock()  # plugin code runs next
    if not plugins.verify_signature(connector, request=request, credentials=credentials):
        raise Unauthorized("The webhook signature is missing, invalid or too old.")
    handshake = plugins.webhook_handshake(connector, request=request) if plugins.has_hook(connector, "webhook_handshake") else None
    if handshake is not None:
        return Receipt(handshake=handshake)
    try:
        events = plugins.normalize(connector, request=request)
    except ValueError as error:
        raise BadRequest(f"The {connector} connector could not read the body: {error}") from None
    if driver is None or integration is None or len(events) != 1 or not stores_alone(events[0]):
        if endpoint.remembered:
            return Receipt()  # stored only after a fresh lookup: the caller does it again
        return Receipt(staged=_store(endpoint, events))
    staged = store_event(driver, connector, Recipient(integration.tenant_id, integration.id), events[0], integration.version)
    if staged is not None:
        if not endpoint.remembered and credentials is not None:
            current_hub().endpoints.remember(connector, endpoint.digest, integration.id, integration.tenant_id, integration.version, credentials)
        return Receipt(staged=staged, confirmed=True)
    if endpoint.remembered:
        return Receipt()  # not confirmed: the caller looks the endpoint up again
    raise ServiceUnavailable(
        "The integration changed while the delivery was stored; retry the delivery.", headers={"Retry-After": "1"}
    )


def _store(endpoint: Endpoint, events: list[NormalizedEvent]) -> StagedEvents:
    """One session transaction for every event and job of the delivery."""
    try:
        staged = StagedEvents(0, 0, [])
        for event in events:
            recipients = _recipients(endpoint, event)
            if recipients:
                one = stage_events(endpoint.connector, recipients, [event])
                staged = StagedEvents(
                    staged.inserted + one.inserted, staged.duplicates + one.duplicates, staged.dispatches + one.dispatches
                )
        db.session.commit()
    except SQLAlchemyError as error:
        db.session.rollback()
        log.error("could not store a %s delivery: %s", endpoint.connector, type(error).__name__)
        raise ServiceUnavailable(
            "The event could not be stored; retry the delivery.", headers={"Retry-After": "5"}
        ) from None
    return staged
