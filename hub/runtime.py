"""The hub's per-app state, kept in `app.extensions["hub"]` (never a module global)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from hub.plugins import PluginHost
from hub.storage.crypto import KeyRing
from hub.webhooks.endpoint_cache import EndpointCache


@dataclass
class HubState:
    keyring: KeyRing
    plugins: PluginHost
    settings: dict[str, Any]
    endpoints: EndpointCache = field(default_factory=EndpointCache)


def current_hub() -> HubState:
    return current_app.extensions["hub"]
