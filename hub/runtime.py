"""The hub of one Flask app: the one per-app registry, kept in `app.extensions["hub"]` (never a module global).

It holds what the app is built from (settings, the envelope that seals
and opens every secret, the plugin host) and the stores chosen once, when the app is built (hub.app): the Redis
client, if any, and the lease, rate-limit, OAuth state and console session backends built on
it or on the database. The subsystems above keep their own per-app parts
here too (the Huey queues, the endpoint memory, the gauge cache), registered
by their type: `current_hub().part(Queues)`. So everything per-app hangs off
one object, and nothing here needs to know the subsystems that use it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import current_app
from redis import Redis

from hub.plugins import PluginHost
from hub.storage.console_sessions import ConsoleSessions
from hub.storage.crypto import KeyRing
from hub.storage.envelope import Envelope
from hub.storage.leases import Leases
from hub.storage.oauth_states import OAuthStates
from hub.storage.rate_limits import RateLimits

Part = TypeVar("Part")


@dataclass
class Hub:
    settings: dict[str, Any]
    envelope: Envelope  # seals and opens every secret (hub.storage.envelope)
    keyring: KeyRing | None  # ENCRYPTION_KEY: opens values sealed before data keys, until they are moved
    plugins: PluginHost
    redis: Redis | None  # one client when REDIS_URL is set (hub.storage.redis.connect)
    leases: Leases
    rate_limits: RateLimits
    oauth_states: OAuthStates
    console_sessions: ConsoleSessions
    _parts: dict[type, Any] = field(default_factory=dict)

    def attach(self, part: Part) -> Part:
        """Register a subsystem's per-app object under its type (once, while the app is built)."""
        self._parts[type(part)] = part
        return part

    def part(self, kind: type[Part]) -> Part:
        """The per-app object of this type."""
        return self._parts[kind]


def current_hub() -> Hub:
    return current_app.extensions["hub"]
