"""The Slack connector: OAuth v2, the Events API and conversation sync."""

from __future__ import annotations

from hub import hookimpl
from hub.types import ConnectorInfo


@hookimpl
def connector_info() -> ConnectorInfo:
    return ConnectorInfo(
        display_name="Slack",
        auth_kind="oauth2",
        description="Slack workspaces: OAuth v2, the Events API, interactivity and conversation sync.",
        webhook_routing="app",
    )
