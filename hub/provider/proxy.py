"""Using a connection: one call to the provider's API as an integration, for the proxy route and in-process code.

`forward` is the whole of the design's "Using a connection: the proxy" that
does not depend on HTTP framing: the integration within its tenant (404),
only an active one (409), the integration's rate limit, fresh credentials
(refreshed ahead of expiry; the transaction ended before the provider is
called, as `hub.provider.calls` explains), the connector's `proxy_config`,
the URL and headers built by `hub.provider.proxy_request` (every refusal is
made before any connection), then the attempts: a provider 401 refreshes
the token once under the integration's lease and retries once; `Hub-Retries`
retries 429/502/503/504 and connection failures with backoff and jitter,
honouring `Retry-After` up to `HUB_PROXY_MAX_RETRY_AFTER_SECONDS`, and all of
it ends within `HUB_PROXY_TIMEOUT_SECONDS`.

The answer is the provider's `requests.Response`, opened with `stream=True`
and not yet read, so the caller streams the body (raw bytes, nothing
decompressed) and closes it. Redirects are never followed: a 3xx is an answer.

Why not `provider_call`'s session: the proxy keeps connection pools per
process (one TCP connection per call would halve its rate), sends only the
headers the caller and the connector give (that session adds the access
token to every request, which a Stripe Connect call must not carry), and
must see a 401 to refresh and retry. The rule `provider_call` keeps is kept
here too: fresh credentials, then `end_transaction`, then the provider.
"""

from __future__ import annotations

import hmac
import logging
import random
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from urllib3.exceptions import NewConnectionError

from hub.errors import BadRequest, Conflict, ConnectorNotConfigured, HubError, ProviderTimeout, ProviderUnreachable
from hub.metrics import PROXY_REQUESTS, PROXY_SECONDS
from hub.provider.calls import end_transaction
from hub.provider.credentials import fresh_credentials_of, refresh_credentials
from hub.provider.proxy_body import ReplayableBody
from hub.provider.proxy_request import build_target_url, outgoing_headers, parse_retry_after
from hub.runtime import current_hub
from hub.tenancy.integrations import integration_in_use
from hub.types import ProxyConfig

log = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({429, 502, 503, 504})
# POST and PATCH may have acted when the provider answered 502/503/504 or the
# connection broke mid-call; they are retried then only under an Idempotency-Key
# the provider honours.
NOT_IDEMPOTENT = frozenset({"POST", "PATCH"})
METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")
CONNECT_TIMEOUT_SECONDS = 5.0
BACKOFF_FIRST_SECONDS = 0.2
BACKOFF_MAX_SECONDS = 5.0

# Connections kept open per provider host, and hosts kept pooled: enough for a worker's threads.
POOLED_CONNECTIONS_PER_HOST = 32
POOLED_HOSTS = 64

_adapter: HTTPAdapter | None = None
_adapter_lock = threading.Lock()


@dataclass
class ProxyRequest:
    """A call to the provider, as the caller sent it (raw path and query, their headers, their body)."""

    method: str
    raw_path: str
    raw_query: str = ""
    headers: Iterable[tuple[str, str]] = ()
    body: ReplayableBody | None = None
    retries: int = 0


@dataclass
class ProxyAnswer:
    """The provider's answer (streamed, unread) and how many requests the hub sent to get it."""

    response: requests.Response
    attempts: int


def transport() -> HTTPAdapter:
    """This process's connection pools to providers, shared by its threads (urllib3's pools are thread-safe).

    The adapter alone, not a `requests.Session`: a session keeps a cookie jar,
    so a cookie one tenant's provider set would ride on the next call to that
    host, whoever makes it; it would also read `.netrc` credentials and proxy
    variables from the environment, and add default headers. The provider
    receives the caller's and the connector's headers only.
    """
    global _adapter
    adapter = _adapter
    if adapter is None:
        with _adapter_lock:
            if _adapter is None:
                _adapter = HTTPAdapter(pool_connections=POOLED_HOSTS, pool_maxsize=POOLED_CONNECTIONS_PER_HOST, max_retries=0)
            adapter = _adapter
    return adapter


def send(method: str, url: str, headers: dict[str, str], body: Any, timeout: tuple[float, float]) -> requests.Response:
    """One request on the shared pools, not redirected, its body left unread (`stream`).

    `url` is used as it is: `build_target_url` already checked that requests'
    own preparation leaves it unchanged. The body goes through requests'
    preparation, which gives a known length Content-Length and an unknown one
    chunked framing.
    """
    prepared = requests.PreparedRequest()
    prepared.method = method
    prepared.url = url
    prepared.headers = CaseInsensitiveDict(headers)
    prepared.prepare_body(body, None)
    prepared.hooks = {"response": []}
    started = time.monotonic()
    response = transport().send(prepared, stream=True, timeout=timeout)
    response.elapsed = timedelta(seconds=time.monotonic() - started)
    return response


def _settings() -> dict[str, Any]:
    return current_hub().settings


def connector_config(connector: str, credentials: dict[str, Any]) -> ProxyConfig:
    """The connector's `proxy_config`; a connector that fails to give one is not configured (503), never a 500."""
    try:
        config = current_hub().plugins.proxy_config(connector, credentials=credentials)
    except HubError:
        raise
    except Exception as error:
        log.error("connector %s could not give its proxy configuration: %s", connector, type(error).__name__)
        raise ConnectorNotConfigured(f"The {connector} connector is not configured to reach its API.") from None
    if config is None:
        raise BadRequest(f"The {connector} connector has no API base URL to proxy to.")
    return config


def _authenticates_with_access_token(config: ProxyConfig, credentials: dict[str, Any]) -> bool:
    """Whether a 401 may be cured by a refresh: the connector sent the OAuth access token, and a refresh token exists."""
    token = credentials.get("access_token")
    if not isinstance(token, str) or not token or not credentials.get("refresh_token"):
        return False
    return any(token in value for value in config.headers.values())


def _may_retry(method: str, *, status: int | None, not_sent: bool, idempotent_by_key: bool) -> bool:
    if method not in NOT_IDEMPOTENT or idempotent_by_key:
        return True
    return status == 429 or not_sent


def _backoff(retry_number: int) -> float:
    """Equal jitter: between half and all of an exponentially growing cap, so callers refused together spread out."""
    cap = min(BACKOFF_MAX_SECONDS, BACKOFF_FIRST_SECONDS * (2**retry_number))
    return random.uniform(cap / 2, cap)


def _never_connected(error: requests.ConnectionError) -> bool:
    """The request certainly did not reach the provider (refused, or no address): safe to send again."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, NewConnectionError) or isinstance(error.args[0] if error.args else None, NewConnectionError)


def forward(tenant_id: str, integration_id: str, call: ProxyRequest) -> ProxyAnswer:
    """Send `call` to the provider as the integration; raises HubError for the hub's own refusals."""
    method = call.method.upper()
    if method not in METHODS:
        raise BadRequest(f"The proxy does not forward {method}.")
    integration, stored_credentials = integration_in_use(tenant_id, integration_id)
    # Ended before anything else: a token refresh below writes in a transaction of its own.
    end_transaction()
    connector, status = integration.connector, integration.status
    if connector not in current_hub().plugins.connectors:
        raise BadRequest(f"The {connector} connector is not installed.")
    if not current_hub().plugins.has_hook(connector, "proxy_config"):
        raise BadRequest(f"The {connector} connector has no API base URL to proxy to.")
    if status != "active":
        raise Conflict(f"The integration is {status}; only an active integration can be used.")
    current_hub().rate_limits.limit_proxy(integration_id)
    credentials = fresh_credentials_of(integration, stored_credentials)
    end_transaction()

    config = connector_config(connector, credentials)
    url = build_target_url(config.base_url, call.raw_path, call.raw_query, config.query)
    caller_headers = list(call.headers)
    headers = outgoing_headers(caller_headers, config.headers, connector_removes=config.reserved_headers)
    idempotent_by_key = config.honours_idempotency_key and any(
        name.lower() == "idempotency-key" for name, _ in caller_headers
    )

    settings = _settings()
    started = time.monotonic()
    deadline = started + float(settings["HUB_PROXY_TIMEOUT_SECONDS"])
    max_retry_after = float(settings["HUB_PROXY_MAX_RETRY_AFTER_SECONDS"])
    attempts = 0
    retries_left = call.retries
    refreshed = False
    path = call.raw_path.split("?")[0]

    def finish(outcome: str, status_shown: int | str) -> None:
        elapsed = time.monotonic() - started
        PROXY_REQUESTS.labels(connector=connector, method=method, outcome=outcome).inc()
        PROXY_SECONDS.labels(connector=connector).observe(elapsed)
        log.info(
            "proxied %s %s/%s for integration %s: %s after %d attempt(s) in %.3fs",
            method, connector, path, integration_id, status_shown, attempts, elapsed,
            extra={"integration_id": integration_id, "connector": connector, "method": method, "path": path,
                   "status": status_shown, "attempts": attempts, "duration_seconds": round(elapsed, 4)},
        )

    def wait_then_retry(wait: float, answered: requests.Response | None = None) -> bool:
        """Spend one of the caller's retries if the wait fits the limits; the answer being retried is let go first."""
        nonlocal retries_left
        if retries_left <= 0 or wait > max_retry_after or time.monotonic() + wait >= deadline:
            return False
        retries_left -= 1
        if answered is not None:
            answered.close()
        time.sleep(wait)
        return True

    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            finish("timeout", 504)
            raise ProviderTimeout("The provider did not answer in time.", headers={"Hub-Proxy-Attempts": str(attempts)})
        attempts += 1
        try:
            response = send(
                method,
                url,
                headers,
                call.body.attempt() if call.body is not None else None,
                (min(CONNECT_TIMEOUT_SECONDS, remaining), remaining),
            )
        except requests.Timeout as error:
            not_sent = isinstance(error, requests.ConnectTimeout)
            if _may_retry(method, status=None, not_sent=not_sent, idempotent_by_key=idempotent_by_key) and wait_then_retry(
                _backoff(call.retries - retries_left)
            ):
                continue
            finish("timeout", 504)
            raise ProviderTimeout("The provider did not answer in time.", headers={"Hub-Proxy-Attempts": str(attempts)}) from None
        except requests.ConnectionError as error:
            not_sent = _never_connected(error)
            if _may_retry(method, status=None, not_sent=not_sent, idempotent_by_key=idempotent_by_key) and wait_then_retry(
                _backoff(call.retries - retries_left)
            ):
                continue
            finish("unreachable", 502)
            raise ProviderUnreachable("The provider could not be reached.", headers={"Hub-Proxy-Attempts": str(attempts)}) from None

        code = response.status_code
        if code == 401 and not refreshed and _authenticates_with_access_token(config, credentials):
            refreshed = True
            rejected = str(credentials["access_token"])
            try:
                credentials, _ = refresh_credentials(tenant_id, integration_id, rejected_token=rejected)
            except HubError as error:
                response.close()
                finish("refresh-failed", error.status)
                error.extra.setdefault("headers", {})["Hub-Proxy-Attempts"] = str(attempts)
                raise
            except BaseException:
                response.close()
                raise
            finally:
                end_transaction()
            renewed = str(credentials.get("access_token") or "")
            if not hmac.compare_digest(renewed.encode(), rejected.encode()):
                response.close()
                config = connector_config(connector, credentials)
                headers = outgoing_headers(caller_headers, config.headers, connector_removes=config.reserved_headers)
                continue
        elif code in RETRIED_STATUSES and _may_retry(method, status=code, not_sent=False, idempotent_by_key=idempotent_by_key):
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if wait_then_retry(retry_after if retry_after is not None else _backoff(call.retries - retries_left), response):
                continue
        finish(f"{code // 100}xx", code)
        return ProxyAnswer(response, attempts)
