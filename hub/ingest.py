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
connected it).
"""

from __future__ import annotations

import hmac
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.exc import SQLAlchemyError

from hub.connector_apps import connector_for_app_secret
from hub.errors import BadRequest, Gone, NotFound, ServiceUnavailable, Unauthorized
from hub.events import Recipient, StagedEvents, stage_events, store_event, stores_alone
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
# Built once: every delivery runs it.
ENDPOINT_LOOKUP = sa.select(
    Integration.id, Integration.tenant_id, Integration.status, Integration.deleted_at,
    Integration.credentials_ciphertext, Integration.webhook_secret_hash,
).where(Integration.webhook_secret_hash == sa.bindparam("digest"), Integration.connector == sa.bindparam("connector"))
LIVE_STATUSES_EXCLUDED = ("revoked",)


@dataclass(frozen=True)
class Target:
    """The integration a per-integration endpoint names: the columns ingestion needs, nothing more."""

    id: str
    tenant_id: str
    status: str
    deleted: bool
    credentials_ciphertext: str


@dataclass(frozen=True)
class Endpoint:
    """Where a delivery goes: one integration, or a connector app (integration is None)."""

    connector: str
    integration: Target | None

    @property
    def rate_limit_key(self) -> str:
        return self.integration.id if self.integration is not None else f"app:{self.connector}"


@dataclass(frozen=True)
class Receipt:
    """The outcome of a delivery: a handshake reply, or how many events were new."""

    handshake: WebhookResponse | None = None
    staged: StagedEvents | None = None

    @property
    def status(self) -> str:
        if self.staged is not None and self.staged.inserted == 0 and self.staged.duplicates > 0:
            return "duplicate"
        return "accepted"


def resolve_endpoint(connector: str, secret: str, driver: DriverConnection | None = None) -> Endpoint:
    """The endpoint a secret names; unknown connector and unknown secret look the same."""
    if connector not in current_hub().plugins.connectors or not secret or len(secret) > 200:
        raise NotFound(UNKNOWN_ENDPOINT)
    digest = hash_secret(secret)
    parameters = {"digest": digest, "connector": connector}
    row = driver.first_row(ENDPOINT_LOOKUP, parameters) if driver else db.session.execute(ENDPOINT_LOOKUP, parameters).first()
    if row is not None:
        integration_id, tenant_id, status, deleted_at, credentials_ciphertext, secret_hash = row
        if hmac.compare_digest(secret_hash, digest):
            return Endpoint(connector, Target(integration_id, tenant_id, status, deleted_at is not None, credentials_ciphertext))
    app = connector_for_app_secret(connector, secret)
    if app is not None and hmac.compare_digest(app.webhook_secret_hash, digest):
        return Endpoint(connector, None)
    raise NotFound(UNKNOWN_ENDPOINT)


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
            Integration.deleted_at.is_(None),
            Integration.status.not_in(LIVE_STATUSES_EXCLUDED),
        )
    ).all()
    if not rows:
        log.info("dropped %s event %s: no live integration has its account", endpoint.connector, event.id)
    return [Recipient(row.tenant_id, row.id) for row in rows]


def receive_webhook(connector: str, secret: str, request: WebhookRequest) -> Receipt:
    """Verify, normalize and durably store one delivery; raises the hub error for each refusal."""
    with driver_connection() as driver:
        receipt = _receive(connector, secret, request, driver)
    if receipt.staged is not None:
        enqueue(receipt.staged.dispatches)  # after the commit, with the connection back in the pool
    return receipt


def _receive(connector: str, secret: str, request: WebhookRequest, driver: DriverConnection | None) -> Receipt:
    endpoint = resolve_endpoint(connector, secret, driver)
    integration = endpoint.integration
    if integration is not None and has_request_context():
        g.integration_id = integration.id  # every log line of this request names it
    if integration is not None and (integration.deleted or integration.status in LIVE_STATUSES_EXCLUDED):
        raise Gone("This integration was disconnected; the endpoint no longer accepts events.")
    limit_webhook(endpoint.rate_limit_key)
    plugins = current_hub().plugins
    credentials = (
        open_credentials(integration.tenant_id, integration.id, integration.credentials_ciphertext) if integration is not None else None
    )
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
    if driver is not None and integration is not None and len(events) == 1 and stores_alone(events[0]):
        return Receipt(staged=store_event(driver, connector, Recipient(integration.tenant_id, integration.id), events[0]))
    return Receipt(staged=_store(endpoint, events))


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
