"""The Gmail connector: Google OAuth, Pub/Sub push notifications, history sync."""

from __future__ import annotations

from hub import hookimpl
from hub.types import ConnectorInfo


@hookimpl
def connector_info() -> ConnectorInfo:
    return ConnectorInfo(
        display_name="Gmail",
        auth_kind="oauth2",
        description="Google mailboxes: OAuth, Pub/Sub push notifications and history sync.",
        webhook_routing="app",
    )
