"""Disconnecting an integration: revoke the grant at the provider, then soft-delete.

Revoking is a courtesy to the user and the provider; it must not decide
whether the tenant can disconnect. A provider that is down, or a grant that
is already dead, is logged (without any secret) and the delete goes ahead.
"""

from __future__ import annotations

import logging

from hub.provider.calls import provider_call
from hub.queue.deliveries import announce_integration
from hub.queue.queues import enqueue
from hub.runtime import current_hub
from hub.storage.models import Integration, db
from hub.tenancy.integrations import delete_integration, get_integration_by_id

log = logging.getLogger(__name__)


def disconnect_integration(tenant_id: str, integration_id: str) -> Integration:
    integration = get_integration_by_id(tenant_id, integration_id)
    plugins = current_hub().plugins
    connector = integration.connector
    if connector in plugins.connectors and plugins.has_hook(connector, "revoke"):
        _revoke(tenant_id, integration_id, connector)
    deleted = delete_integration(tenant_id, integration_id, commit=False)
    dispatches = announce_integration("hub.integration.deleted", deleted)
    db.session.commit()
    enqueue(dispatches)
    return deleted


def _revoke(tenant_id: str, integration_id: str, connector: str) -> None:
    try:
        with provider_call(tenant_id, integration_id, stale_credentials_ok=True) as call:
            current_hub().plugins.revoke(call.connector, session=call.session, credentials=call.credentials)
    except Exception as error:  # the delete goes ahead whatever the provider says
        db.session.rollback()
        log.warning("revoking integration %s at %s failed: %s", integration_id, connector, type(error).__name__)
    else:
        log.info("revoked integration %s at %s", integration_id, connector)
