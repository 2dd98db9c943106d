"""Disconnecting an integration: revoke the grant at the provider, then soft-delete.

Revoking is a courtesy to the user and the provider; it must not decide
whether the tenant can disconnect. A provider that is down, or a grant that
is already dead, is logged (without any secret) and the delete goes ahead.
"""

from __future__ import annotations

import logging

from hub.errors import ReauthorizationRequired, TokenRefreshFailed
from hub.http import provider_session
from hub.integrations import decrypt_credentials, delete_integration, get_integration_by_id
from hub.models import Integration, db
from hub.state import current_hub
from hub.tokens import fresh_credentials

log = logging.getLogger(__name__)


def disconnect_integration(tenant_id: str, integration_id: str) -> Integration:
    integration = get_integration_by_id(tenant_id, integration_id)
    plugins = current_hub().plugins
    connector = integration.connector
    if connector in plugins.connectors and plugins.has_hook(connector, "revoke"):
        _revoke(tenant_id, integration)
    return delete_integration(tenant_id, integration_id)


def _revoke(tenant_id: str, integration: Integration) -> None:
    integration_id, connector = integration.id, integration.connector
    try:
        try:
            credentials = fresh_credentials(tenant_id, integration_id)
        except (ReauthorizationRequired, TokenRefreshFailed):
            credentials = decrypt_credentials(integration)
        db.session.commit()  # no transaction may stay open across the provider call
        with provider_session(credentials) as session:
            current_hub().plugins.revoke(connector, session=session, credentials=credentials)
    except Exception as error:  # the delete goes ahead whatever the provider says
        db.session.rollback()
        log.warning("revoking integration %s at %s failed: %s", integration_id, connector, type(error).__name__)
    else:
        log.info("revoked integration %s at %s", integration_id, connector)
