"""Webhook ingestion: from raw delivery to stored events and queued jobs.

The order is the guarantee: find the endpoint by its secret's hash, check
the signature on the raw bytes before anything parses them, let the
connector answer a handshake, normalize, then store every event and its job
in ONE transaction (a duplicate is a no-op conflict on the dedupe index),
and only after the commit ring the queue. Nothing slow runs here: no
provider call, no processor.

Rate limits come after the signature check, so junk cannot starve signed
deliveries: a verified delivery is charged to its integration's budget (at
an app-level URL, to the budget of each provider account its events name,
once they are known), a failed verification to its endpoint's separate
failure budget (429 past it, 401 before).

`webhook_secret` names either one integration (its own endpoint) or a
connector app (one URL for every account; each event names its account and
is stored for every live integration of that account, in every tenant that
connected it, whose account the provider itself named: see hub.provider.accounts).
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import g, has_request_context
from sqlalchemy.exc import DataError, SQLAlchemyError

from hub.errors import BadRequest, Gone, HubError, NotFound, RateLimited, ServiceUnavailable, Unauthorized
from hub.events.checks import check_events
from hub.events.store import ENDPOINT_GONE_STATUSES, Recipient, StagedEvents, stage_events, store_event, stores_alone
from hub.queue.queues import enqueue
from hub.runtime import current_hub
from hub.storage.database import release_write_lock
from hub.storage.driver import DriverConnection, driver_connection
from hub.storage.models import Integration, db
from hub.storage.secrets import hash_secret
from hub.tenancy.connector_apps import connector_for_app_secret
from hub.tenancy.integrations import open_credentials
from hub.types import NormalizedEvent, WebhookRequest, WebhookResponse
from hub.webhooks.endpoint_cache import EndpointCache

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
    def failure_budget_key(self) -> str:
        """Failed verifications are counted per endpoint: an unverified body names no account to trust."""
        return self.integration.id if self.integration is not None else app_budget_key(self.connector, None)

    @property
    def remembered(self) -> bool:
        return self.remembered_credentials is not None


@dataclass(frozen=True)
class Receipt:
    """The outcome of a delivery: a handshake reply, or how many events were new.

    `confirmed` says the store itself checked the integration was live at
    the credentials the signature was verified with (see hub.webhooks.endpoint_cache).
    """

    handshake: WebhookResponse | None = None
    staged: StagedEvents | None = None
    confirmed: bool = False

    @property
    def status(self) -> str:
        if self.staged is not None and self.staged.inserted == 0 and self.staged.duplicates > 0:
            return "duplicate"
        return "accepted"


class DeliveryBudgets:
    """The webhook budgets one delivery is charged to, each at most once.

    A delivery through a remembered endpoint may be tried a second time from
    a fresh lookup (see `receive_webhook`); it is still one delivery.
    """

    def __init__(self) -> None:
        self._charged: set[str] = set()

    def charge(self, budget_key: str) -> None:
        if budget_key not in self._charged:
            self._charged.add(budget_key)
            current_hub().rate_limits.limit_webhook(budget_key)


def app_budget_key(connector: str, account: str | None) -> str:
    """The rate-limit budget of verified events at a connector's app-level URL: one per provider account.

    Keyed on the account the verified event names, not on the shared URL, so
    one busy account (or tenant) cannot use up every other's budget; events
    naming no account share the connector's.
    """
    return f"app:{connector}" if account is None else f"app:{connector}:{account}"


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
    entry = current_hub().part(EndpointCache).get(connector, digest)
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
    lookup, so every refusal and every other answer comes from the database,
    and the delivery is still charged once to each rate-limit budget.
    """
    digest = _check_secret(connector, secret)
    budgets = DeliveryBudgets()
    with driver_connection() as driver:
        remembered = _remembered_endpoint(connector, digest) if driver is not None else None
        endpoint = remembered or resolve_endpoint(connector, secret, digest, driver)
        _gone_check(endpoint)
        receipt = _attempt(endpoint, request, driver, budgets) if remembered is not None else None
        if receipt is None:
            if remembered is not None:
                current_hub().part(EndpointCache).forget(connector, digest)
                endpoint = resolve_endpoint(connector, secret, digest, driver)
                _gone_check(endpoint)
            receipt = _deliver(endpoint, request, driver, budgets)
    if receipt.staged is not None:
        enqueue(receipt.staged.dispatches)  # after the commit, with the connection back in the pool
    return receipt


def _gone_check(endpoint: Endpoint) -> None:
    integration = endpoint.integration
    if integration is not None and has_request_context():
        g.integration_id = integration.id  # every log line of this request names it
    if integration is not None and integration.gone:
        raise Gone(GONE)


def _attempt(endpoint: Endpoint, request: WebhookRequest, driver: DriverConnection | None, budgets: DeliveryBudgets) -> Receipt | None:
    """The delivery through a remembered endpoint if it ends confirmed; None to do it again from the database."""
    try:
        receipt = _deliver(endpoint, request, driver, budgets)
    except (ServiceUnavailable, RateLimited):
        raise  # a store is down, or a verified delivery is over its budget: asking again would not help
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


def _verify(endpoint: Endpoint, request: WebhookRequest, credentials: Mapping[str, Any] | None) -> None:
    """401 for a delivery whose signature does not verify, 429 once its endpoint's failures are over their budget.

    Through a remembered endpoint a failure is not final (it is tried again
    from a fresh lookup), so only the final answer is counted.
    """
    if current_hub().plugins.verify_signature(endpoint.connector, request=request, credentials=credentials):
        return
    if not endpoint.remembered:
        current_hub().rate_limits.limit_webhook_failure(endpoint.failure_budget_key)
    raise Unauthorized("The webhook signature is missing, invalid or too old.")


def _deliver(endpoint: Endpoint, request: WebhookRequest, driver: DriverConnection | None, budgets: DeliveryBudgets) -> Receipt:
    connector, integration = endpoint.connector, endpoint.integration
    plugins = current_hub().plugins
    credentials = _credentials(endpoint)
    if driver is None:
        release_write_lock()  # plugin code runs next
    _verify(endpoint, request, credentials)
    if integration is not None:
        budgets.charge(integration.id)
    with _unreadable_body(connector):
        handshake = plugins.webhook_handshake(connector, request=request) if plugins.has_hook(connector, "webhook_handshake") else None
        if handshake is not None:
            if integration is None:
                budgets.charge(app_budget_key(connector, None))
            return Receipt(handshake=handshake)
        events = plugins.normalize(connector, request=request)
    check_events(connector, events)
    if integration is None:
        for key in sorted({app_budget_key(connector, event.account) for event in events} or {app_budget_key(connector, None)}):
            budgets.charge(key)
    if driver is None or integration is None or len(events) != 1 or not stores_alone(events[0]):
        if endpoint.remembered:
            return Receipt()  # stored only after a fresh lookup: the caller does it again
        return Receipt(staged=_store(endpoint, events))
    staged = store_event(driver, connector, Recipient(integration.tenant_id, integration.id), events[0], integration.version)
    if staged is not None:
        if not endpoint.remembered and credentials is not None:
            current_hub().part(EndpointCache).remember(connector, endpoint.digest, integration.id, integration.tenant_id, integration.version, credentials)
        return Receipt(staged=staged, confirmed=True)
    if endpoint.remembered:
        return Receipt()  # not confirmed: the caller looks the endpoint up again
    raise ServiceUnavailable(
        "The integration changed while the delivery was stored; retry the delivery.", headers={"Retry-After": "1"}
    )


@contextmanager
def _unreadable_body(connector: str) -> Iterator[None]:
    """What a plugin raises on a body it cannot read is a 400 (the provider stops retrying), never a 500.

    ValueError is the documented signal (json's decode errors included);
    RecursionError and OverflowError are what parsing and arithmetic raise
    on absurd nesting and numbers. Other exceptions are the plugin's bugs.
    """
    try:
        yield
    except ValueError as error:
        raise BadRequest(f"The {connector} connector could not read the body: {str(error)[:200]}") from None
    except RecursionError:
        raise BadRequest(f"The {connector} connector could not read the body: it is nested too deeply.") from None
    except OverflowError:
        raise BadRequest(f"The {connector} connector could not read the body: a number in it is out of range.") from None


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
    except DataError as error:
        db.session.rollback()
        log.warning("the database refused a value of a %s delivery: %s", endpoint.connector, type(error).__name__)
        raise BadRequest("The delivery holds a value the database cannot store.") from None
    except SQLAlchemyError as error:
        db.session.rollback()
        log.error("could not store a %s delivery: %s", endpoint.connector, type(error).__name__)
        raise ServiceUnavailable(
            "The event could not be stored; retry the delivery.", headers={"Retry-After": "5"}
        ) from None
    return staged
