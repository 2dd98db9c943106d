"""The Stripe connector: Connect OAuth or restricted API keys, signed webhooks, event sync."""

from __future__ import annotations

from hub import hookimpl
from hub.types import ConnectorInfo


@hookimpl
def connector_info() -> ConnectorInfo:
    return ConnectorInfo(
        display_name="Stripe",
        auth_kind="api_key",
        description="Stripe accounts: restricted API keys or Connect OAuth, signed webhooks and event sync.",
        credential_fields={
            "api_key": "A restricted or secret API key (rk_... or sk_...).",
            "webhook_secret": "The signing secret of this account's webhook endpoint (whsec_...).",
        },
        required_credentials=("api_key",),
        webhook_routing="both",
    )
