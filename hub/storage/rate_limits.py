"""Rate limits per tenant (management API), for webhook ingestion and per integration for the proxy.

Webhooks have two budgets, so junk cannot starve signed deliveries: verified
deliveries count against their integration's (or, at an app-level URL,
their provider account's) `HUB_WEBHOOK_RATE_LIMIT`; deliveries that fail
verification count against their endpoint's `HUB_WEBHOOK_FAILURE_RATE_LIMIT`.

Built on the `limits` library with a moving window. Its storage is chosen
once, when the app is built (hub.app): with `REDIS_URL` set the counters
live in Redis (on the app's connection pool), shared by every API process
and machine; without it (embedded, one machine) they live in process
memory. An exceeded limit is a 429 problem with `Retry-After`.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from typing import Any

from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, RedisStorage
from limits.strategies import MovingWindowRateLimiter

from hub.errors import RateLimited, ServiceUnavailable
from hub.storage.redis import namespaced

log = logging.getLogger(__name__)


class RateLimits:
    """The app's limits and the store that counts them."""

    def __init__(self, settings: Mapping[str, Any], redis_client: Any = None) -> None:
        if redis_client is not None:
            storage: Any = RedisStorage(
                settings["REDIS_URL"], connection_pool=redis_client.connection_pool,
                key_prefix=namespaced(settings["HUB_REDIS_PREFIX"], "ratelimit"),
            )
        else:
            storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(storage)
        self.tenant_limit = self._parse(settings.get("HUB_TENANT_RATE_LIMIT"))
        self.webhook_limit = self._parse(settings.get("HUB_WEBHOOK_RATE_LIMIT"))
        self.webhook_failure_limit = self._parse(settings.get("HUB_WEBHOOK_FAILURE_RATE_LIMIT"))
        self.console_sign_in_limit = self._parse(settings.get("HUB_CONSOLE_SIGN_IN_RATE_LIMIT"))
        self.proxy_limit = self._parse(settings.get("HUB_PROXY_RATE_LIMIT"))

    @staticmethod
    def _parse(text: str | None) -> RateLimitItem | None:
        if not text or str(text).lower() in ("off", "none", "0"):
            return None
        return parse(str(text))

    def limit_tenant(self, tenant_id: str) -> None:
        """Count one management call of the tenant."""
        self.hit(self.tenant_limit, "tenant", tenant_id)

    def limit_webhook(self, budget_key: str) -> None:
        """Count one verified delivery against its budget (an integration id, or an app-level account's key)."""
        self.hit(self.webhook_limit, "webhook", budget_key, fail_open=True)

    def limit_webhook_failure(self, endpoint_key: str) -> None:
        """Count one delivery that failed verification against its endpoint's separate budget."""
        self.hit(self.webhook_failure_limit, "webhook-failure", endpoint_key, fail_open=True)

    def limit_console_sign_in(self, address: str) -> None:
        """Count one console sign-in attempt from a client address: guessing keys through the form stays slow."""
        self.hit(self.console_sign_in_limit, "console-sign-in", address)
    def limit_proxy(self, integration_id: str) -> None:
        """Count one proxied call of the integration (the provider's own limits are per account too)."""
        self.hit(self.proxy_limit, "proxy", integration_id)

    def hit(self, item: RateLimitItem | None, scope: str, key: str, *, fail_open: bool = False) -> None:
        """Count one request; raise RateLimited past the limit.

        When the store is unreachable, `fail_open` lets the request through
        (webhook ingestion: refusing would only delay events the database
        can still take); otherwise the caller gets a 503.
        """
        if item is None:
            return
        try:
            allowed = self.limiter.hit(item, scope, key)
        except Exception as error:
            if fail_open:
                log.warning("rate limit store unavailable, %s limit not applied: %s", scope, type(error).__name__)
                return
            raise ServiceUnavailable("The rate limit store is unavailable; retry shortly.", headers={"Retry-After": "1"}) from None
        if allowed:
            return
        reset_at, _remaining = self.limiter.get_window_stats(item, scope, key)
        retry_after = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(
            f"Rate limit of {item} exceeded; retry after {retry_after} seconds.",
            headers={"Retry-After": str(retry_after)},
        )
