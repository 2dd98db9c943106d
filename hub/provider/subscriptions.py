"""Renewing provider-side subscriptions that expire (Gmail's `users.watch` lasts 7 days).

For each active integration whose connector implements `renew_subscription`,
the hub calls it with a fresh token and merges the fields it returns (such as
the watch's expiry) into the stored credentials, with the version check
every credential write uses.
"""

from __future__ import annotations

from hub.errors import Conflict
from hub.provider.calls import provider_call
from hub.provider.sweeps import IntegrationRef, active_integrations, connectors_with, sweep
from hub.runtime import current_hub
from hub.tenancy.integrations import get_integration_with_credentials, update_integration_credentials

OUTCOMES = ("renewed", "unchanged", "needs_reauth", "failed")


def renew_subscription(tenant_id: str, integration_id: str) -> bool:
    """Renew one integration's subscription; returns whether the connector stored anything."""
    with provider_call(tenant_id, integration_id) as call:
        changes = current_hub().plugins.renew_subscription(call.connector, session=call.session, credentials=call.credentials)
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
    targets = active_integrations(connectors_with("renew_subscription"))

    def renew(target: IntegrationRef) -> str:
        return "renewed" if renew_subscription(target.tenant_id, target.integration_id) else "unchanged"

    return sweep(targets, renew, work="subscription renewal", outcomes=OUTCOMES)
