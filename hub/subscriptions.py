"""Renewing provider-side subscriptions that expire (Gmail's `users.watch` lasts 7 days).

For each active integration whose connector implements `renew_subscription`,
the hub calls it with a fresh token and merges the fields it returns (such as
the watch's expiry) into the stored credentials, with the version check
every credential write uses.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa

from hub.errors import Conflict, ReauthorizationRequired
from hub.http import provider_session
from hub.integrations import get_integration_with_credentials, update_integration_credentials
from hub.jobs import describe_error
from hub.models import Integration, db
from hub.state import current_hub
from hub.tokens import fresh_credentials

log = logging.getLogger(__name__)


def renew_subscription(tenant_id: str, integration_id: str) -> bool:
    """Renew one integration's subscription; returns whether the connector stored anything."""
    integration = db.session.get(Integration, integration_id)
    if integration is None:
        return False
    connector = integration.connector
    credentials = fresh_credentials(tenant_id, integration_id)
    db.session.commit()  # no transaction stays open across the provider call
    with provider_session(credentials) as session:
        changes = current_hub().plugins.renew_subscription(connector, session=session, credentials=credentials)
    if not changes:
        return False
    for _attempt in range(3):
        current, stored = get_integration_with_credentials(tenant_id, integration_id)
        try:
            update_integration_credentials(tenant_id, integration_id, {**stored, **changes}, expected_version=current.version)
            return True
        except Conflict:
            continue  # a token refresh wrote in between: merge into its credentials
    raise Conflict("The integration kept changing while its subscription was renewed.")


def renew_all_subscriptions() -> dict[str, int]:
    plugins = current_hub().plugins
    renewing = [cid for cid in plugins.connectors if plugins.has_hook(cid, "renew_subscription")]
    if not renewing:
        return {}
    rows = db.session.execute(
        sa.select(Integration.tenant_id, Integration.id).where(
            Integration.status == "active", Integration.deleted_at.is_(None), Integration.connector.in_(renewing)
        )
    ).all()
    db.session.commit()
    outcome = {"renewed": 0, "unchanged": 0, "needs_reauth": 0, "failed": 0}
    for tenant_id, integration_id in rows:
        try:
            outcome["renewed" if renew_subscription(tenant_id, integration_id) else "unchanged"] += 1
        except ReauthorizationRequired:
            outcome["needs_reauth"] += 1
        except Exception as error:  # one integration's failure must not stop the others
            db.session.rollback()
            log.warning("renewing the subscription of integration %s failed: %s", integration_id, describe_error(error))
            outcome["failed"] += 1
    return outcome
