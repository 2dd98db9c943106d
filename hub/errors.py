"""The hub's error hierarchy.

Service code raises these; `hub.api.problems` turns each into one RFC 9457
problem response. Messages are written for the API caller, so they never
carry a credential, a token or a key: callers pass only safe text.
"""

from __future__ import annotations

from typing import Any


class HubError(Exception):
    """Base of every error the hub reports to a caller."""

    status: int = 500
    title: str = "Internal error"
    slug: str = "internal-error"

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        self.extra = extra


class BadRequest(HubError):
    status, title, slug = 400, "Bad request", "bad-request"


class ValidationFailed(BadRequest):
    title, slug = "Invalid request body", "validation-failed"


class Unauthorized(HubError):
    status, title, slug = 401, "Unauthorized", "unauthorized"


class Forbidden(HubError):
    status, title, slug = 403, "Forbidden", "forbidden"


class NotFound(HubError):
    status, title, slug = 404, "Not found", "not-found"


class Conflict(HubError):
    status, title, slug = 409, "Conflict", "conflict"


class CredentialsRefused(BadRequest):
    """The provider refused the credentials a tenant posted; nothing was stored.

    Connectors raise it (as `hub.types.CredentialsRefused`) from
    `api_key_account`; the core answers with its own detail, never the
    connector's message.
    """

    title, slug = "Credentials refused", "credentials-refused"


class IntegrationQuotaExceeded(Conflict):
    """The tenant already has `HUB_MAX_INTEGRATIONS_PER_TENANT` integrations."""

    title, slug = "Integration quota exceeded", "integration-quota-exceeded"


class ApiKeyLimitReached(Conflict):
    """The tenant already holds the most live API keys it may; revoke one first."""

    title, slug = "API key limit reached", "api-key-limit-reached"


class Gone(HubError):
    status, title, slug = 410, "Gone", "gone"


class PayloadTooLarge(HubError):
    status, title, slug = 413, "Payload too large", "payload-too-large"


class RateLimited(HubError):
    status, title, slug = 429, "Too many requests", "rate-limited"


class ServiceUnavailable(HubError):
    status, title, slug = 503, "Service unavailable", "service-unavailable"


class ProviderUnavailable(ServiceUnavailable):
    """The provider could not be asked (unreachable, timed out, answered 5xx); nothing was stored, retry later."""

    title, slug = "Provider unavailable", "provider-unavailable"


class ProviderUnreachable(HubError):
    """The proxy could not reach the provider (refused, reset, name not found): a 502, as a gateway says it."""

    status, title, slug = 502, "Bad gateway", "provider-unreachable"


class ProviderTimeout(HubError):
    """The provider did not answer a proxied call within `HUB_PROXY_TIMEOUT_SECONDS`."""

    status, title, slug = 504, "Gateway timeout", "provider-timeout"


class KeyProviderUnavailable(ServiceUnavailable):
    """The key provider (a KMS) could not be asked for a data key that is not cached; nothing was stored, retry later.

    Raised by key providers for anything passing (unreachable, throttled,
    timed out); the worker retries a job that met it, a webhook provider
    retries on the 503. The detail never names a key.
    """

    title, slug = "Key provider unavailable", "key-provider-unavailable"
    retryable = True
    RETRY_AFTER_SECONDS = 5

    def __init__(self, detail: str | None = None, **extra: Any) -> None:
        extra.setdefault("headers", {"Retry-After": str(self.RETRY_AFTER_SECONDS)})
        super().__init__(detail or "The key provider is unavailable; retry shortly.", **extra)


class ConnectorNotConfigured(ServiceUnavailable):
    title, slug = "Connector not configured", "connector-not-configured"


class ReauthorizationRequired(Conflict):
    """The provider no longer honours the grant; only the user connecting again can fix it, so never retry."""

    title, slug = "Reauthorization required", "reauthorization-required"
    retryable = False


class TokenRefreshFailed(ServiceUnavailable):
    """A token refresh failed for a passing reason (network, provider outage, busy lock); retry later."""

    title, slug = "Token refresh failed", "token-refresh-failed"
    retryable = True


class ConfigurationError(Exception):
    """Raised at start-up when the settings cannot run the hub safely."""


class DecryptionFailed(Exception):
    """A ciphertext does not open under any key for its row (moved, tampered or unknown key)."""


class PluginError(Exception):
    """A connector plugin misbehaved (bad return value, missing required hook)."""
