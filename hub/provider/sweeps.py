"""Periodic sweeps over integrations: find the active ones a piece of work applies to, try each, tally.

Token refresh, subscription renewal, health checks and sync scheduling all
walk "every live, active integration whose connector can do X". They share
this module so they agree on what "live and active" means, every later
lookup stays within the integration's tenant, and one integration's
failure never stops the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from hub.errors import ReauthorizationRequired
from hub.logs import describe_error
from hub.runtime import current_hub
from hub.storage.models import Integration, db

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class IntegrationRef:
    """An integration named with its tenant, so whatever is done with it next is tenant-scoped."""

    tenant_id: str
    integration_id: str
    connector: str


def connectors_with(hook: str) -> list[str]:
    """The loaded connectors that implement `hook`."""
    plugins = current_hub().plugins
    return [connector for connector in plugins.connectors if plugins.has_hook(connector, hook)]


def active_integrations(connectors: Sequence[str], *conditions: Any, order_by: Any = None) -> list[IntegrationRef]:
    """Live, active integrations of these connectors that meet `conditions`, read in the caller's transaction."""
    if not connectors:
        return []
    query = sa.select(Integration.tenant_id, Integration.id, Integration.connector).where(
        Integration.status == "active",
        Integration.deleted_at.is_(None),
        Integration.connector.in_(list(connectors)),
        *conditions,
    )
    rows = db.session.execute(query.order_by(order_by if order_by is not None else Integration.id)).all()
    return [IntegrationRef(row.tenant_id, row.id, row.connector) for row in rows]


def sweep(
    targets: Iterable[IntegrationRef],
    attempt: Callable[[IntegrationRef], str],
    *,
    work: str,
    outcomes: Sequence[str] = (),
) -> dict[str, int]:
    """Run `attempt` for each integration and count the outcomes it returns.

    A grant the provider no longer honours counts as `needs_reauth`; any
    other exception is logged (without secrets), rolled back and counted as
    `failed`. `outcomes` are reported even when none happened.
    """
    tally = dict.fromkeys(outcomes, 0)
    targets = list(targets)
    db.session.commit()  # the list is read; no transaction stays open into the attempts
    for target in targets:
        try:
            outcome = attempt(target)
        except ReauthorizationRequired:
            db.session.rollback()
            outcome = "needs_reauth"
        except Exception as error:  # one integration's failure must not stop the others
            db.session.rollback()
            log.warning("%s of integration %s failed: %s", work, target.integration_id, describe_error(error))
            outcome = "failed"
        tally[outcome] = tally.get(outcome, 0) + 1
    return tally
