"""The OAuth connect flow: start (redirect to the provider) and callback (store the grant).

The tenant and end user always come from the caller's credentials at start
and travel in the server-side state, never in a URL the browser could edit.
`return_to` is checked at start against FRONTEND_URL (same origin, under its
path), so the callback can only ever redirect to the host's own frontend.
A provider's refusal, a failed code exchange or a tenant at its integration
quota redirects back with `status=error` and stores nothing. The account an
integration routes app-level webhooks by comes from the token response or a
call with the new token (`oauth_account`), never from the request.
"""

from __future__ import annotations

import logging
import re
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit, urlunsplit

import requests
from authlib.integrations.base_client.errors import OAuthError

from hub.errors import BadRequest, Conflict, HubError, IntegrationQuotaExceeded, KeyProviderUnavailable
from hub.oauth.connect_sessions import spend_connect_token
from hub.oauth.state import InvalidState, PendingAuthorization, consume_state, issue_state
from hub.plugins import checked_account
from hub.provider.oauth_client import (
    credentials_from_token,
    exchange_code,
    oauth_session,
    provider_oauth_config,
    requested_scope,
    require_client,
)
from hub.provider.session import provider_session
from hub.queue.deliveries import announce_integration_change
from hub.queue.queues import enqueue
from hub.runtime import current_hub
from hub.storage.leases import LeaseNotAcquired
from hub.storage.models import Integration
from hub.tenancy import integrations
from hub.types import AccountInfo

log = logging.getLogger(__name__)

RESERVED_AUTHORIZE_PARAMS = frozenset(
    {"response_type", "client_id", "redirect_uri", "state", "code_challenge", "code_challenge_method", "scope"}
)
ERROR_CODE = re.compile(r"[a-z0-9_.\-]{1,64}")
MAX_RETURN_TO = 2048
CONNECT_LEASE_TTL_SECONDS = 30
CONNECT_LEASE_WAIT_SECONDS = 10
CALLBACK_PATH = "/api/oauth/callback/{connector}"
# The hub's own Connect page shows the outcome of the flows it starts (hub.web.connect_page).
CONNECT_RESULT_PATH = "/connect/result"


def callback_url(connector_id: str) -> str:
    """Where the provider sends the browser back: the hub's callback for this connector."""
    return current_hub().settings["APP_BASE_URL"] + CALLBACK_PATH.format(connector=connector_id)


def connect_result_url() -> str:
    """The hub's own page that shows a Connect page flow's outcome."""
    return current_hub().settings["APP_BASE_URL"] + CONNECT_RESULT_PATH


def default_landing() -> str:
    """Where a flow without `return_to` ends: FRONTEND_URL, or the hub's own result page when
    FRONTEND_URL is unset (it then defaults to APP_BASE_URL, where the hub has no page of its own)."""
    settings = current_hub().settings
    if settings["FRONTEND_URL"] == settings["APP_BASE_URL"]:
        return connect_result_url()
    return settings["FRONTEND_URL"]


def validate_return_to(return_to: str | None) -> str | None:
    """`return_to` when it lies under FRONTEND_URL (same origin, same path prefix), or is the
    hub's own Connect result page; 400 otherwise."""
    if return_to is None or return_to == "":
        return None
    refused = BadRequest("return_to must be an absolute URL under FRONTEND_URL.")
    if len(return_to) > MAX_RETURN_TO or any(ch in return_to for ch in "\\\r\n\t") or not return_to.isprintable():
        raise refused
    if _is_connect_result_page(return_to):
        return return_to
    frontend = urlsplit(current_hub().settings["FRONTEND_URL"])
    try:
        target = urlsplit(return_to)
        target_port, frontend_port = target.port, frontend.port
    except ValueError:
        raise refused from None
    same_origin = (
        target.scheme.lower() == frontend.scheme.lower()
        and (target.hostname or "") == (frontend.hostname or "").lower()
        and target_port == frontend_port
        and target.username is None
        and target.password is None
    )
    prefix = frontend.path.rstrip("/")
    under_prefix = target.path == prefix or target.path.startswith(prefix + "/") or (not prefix and target.path == "")
    # Browsers resolve "..", "." and their percent-encoded forms, which would climb out of the prefix.
    dot_segments = any(segment in (".", "..") for segment in unquote(target.path).split("/"))
    if not same_origin or not under_prefix or dot_segments:
        raise refused
    return return_to


def _is_connect_result_page(return_to: str) -> bool:
    page = urlsplit(connect_result_url())
    try:
        target = urlsplit(return_to)
        same_port = target.port == page.port
    except ValueError:
        return False
    return (
        target.scheme.lower() == page.scheme.lower() and (target.hostname or "") == (page.hostname or "").lower()
        and same_port and target.username is None and target.password is None
        and target.path == page.path and not target.fragment
    )


def authorization_url(
    connector_id: str, *, tenant_id: str, end_user_id: str | None, return_to: str | None, browser_nonce_hash: str,
    connect_token_digest: str | None = None,
) -> tuple[str, str]:
    """Record a pending authorization server-side; returns the provider URL to send the user to, and the state."""
    config = provider_oauth_config(connector_id)
    return_to = validate_return_to(return_to)
    config = require_client(config, connector_id)
    redirect_uri = callback_url(connector_id)
    verifier = secrets.token_urlsafe(48) if config.pkce else None
    state = issue_state(
        tenant_id=tenant_id, end_user_id=end_user_id, connector=connector_id, code_verifier=verifier,
        return_to=return_to, browser_nonce_hash=browser_nonce_hash, connect_token_digest=connect_token_digest,
    )
    extra = {k: v for k, v in config.extra_authorize_params.items() if k not in RESERVED_AUTHORIZE_PARAMS}
    with oauth_session(config, redirect_uri) as session:
        url, _ = session.create_authorization_url(
            config.authorize_url, state=state, code_verifier=verifier, scope=requested_scope(config), **extra
        )
    return url, state


def complete_authorization(connector_id: str, params: Mapping[str, str], *, browser_nonce: str | None) -> str:
    """Finish a flow from the provider's redirect; returns where to send the browser next.

    A bad state, or a state this browser did not start (`browser_nonce`, from
    its cookie, see hub.oauth.browser), is a 400: the request cannot be tied
    to a tenant, so there is nowhere safe to redirect. Everything after that
    redirects to the frontend with `status=success` or `status=error`.
    """
    current_hub().plugins.connector(connector_id)
    pending = consume_state(params.get("state"), browser_nonce=browser_nonce)
    if pending.connector != connector_id:
        raise InvalidState("The OAuth state was issued for another connector; start the connection again.")
    target = pending.return_to or default_landing()

    def failed(error_code: str) -> str:
        log.info("OAuth connection to %s for tenant %s failed: %s", connector_id, pending.tenant_id, error_code)
        return with_query(target, status="error", error=error_code, connector=connector_id)

    provider_error = params.get("error")
    if provider_error:
        return failed(provider_error if ERROR_CODE.fullmatch(provider_error) else "provider_error")
    code = params.get("code")
    if not code:
        return failed("invalid_request")
    try:
        config = require_client(provider_oauth_config(connector_id), connector_id)
        current_hub().envelope.ensure_data_key(pending.tenant_id)  # before the single-use code is spent
        token = exchange_code(
            config, code=code, code_verifier=pending.code_verifier, redirect_uri=callback_url(connector_id)
        )
        credentials, expires_at = credentials_from_token(token, scope=requested_scope(config))
    except OAuthError as error:
        return failed(error.error if ERROR_CODE.fullmatch(str(error.error or "")) else "invalid_grant")
    except (requests.RequestException, ValueError) as error:
        log.warning("OAuth code exchange with %s failed: %s", connector_id, type(error).__name__)
        return failed("temporarily_unavailable")
    except KeyProviderUnavailable:
        log.warning("OAuth callback for %s cannot finish: the key provider is unavailable", connector_id)
        return failed("temporarily_unavailable")
    except HubError as error:
        log.warning("OAuth callback for %s cannot finish: %s", connector_id, error.title)
        return failed("server_error")
    try:
        with provider_session(credentials) as session:
            account = current_hub().plugins.oauth_account(connector_id, token=dict(token), session=session)
        account = checked_account(connector_id, account)
    except Exception as error:  # a connector's failure must end the flow cleanly, never with a 500
        log.warning("the %s connector could not identify the account: %s", connector_id, type(error).__name__)
        return failed("account_lookup_failed")
    try:
        integration = save_connection(pending, credentials, expires_at, account)
    except IntegrationQuotaExceeded:
        return failed("integration_quota_exceeded")
    except (LeaseNotAcquired, Conflict):
        return failed("temporarily_unavailable")
    log.info("connected integration %s (%s) for tenant %s", integration.id, connector_id, pending.tenant_id)
    spend_connect_token(pending.connect_token_digest)
    enqueue(announce_integration_change("hub.integration.connected", pending.tenant_id, integration.id))
    return with_query(target, status="success", integration_id=integration.id, connector=connector_id)


def save_connection(
    pending: PendingAuthorization, credentials: dict[str, Any], expires_at: datetime | None, account: AccountInfo | None
) -> Integration:
    """Create the integration, or refresh the tenant's existing one for the same provider account."""
    connector_id = pending.connector
    name = (account.display_name if account else None) or current_hub().plugins.info(connector_id).display_name
    if account is None:
        return integrations.create_integration(
            pending.tenant_id, connector=connector_id, name=name[:200], credentials=credentials,
            end_user_id=pending.end_user_id, token_expires_at=expires_at,
        )
    lease = f"oauth-connect:{pending.tenant_id}:{connector_id}:{account.external_account_id}"
    with current_hub().leases.hold_with_session(lease, CONNECT_LEASE_TTL_SECONDS, wait_seconds=CONNECT_LEASE_WAIT_SECONDS):
        existing = integrations.find_by_external_account(pending.tenant_id, connector_id, account.external_account_id)
        if existing is None:
            return integrations.create_integration(
                pending.tenant_id, connector=connector_id, name=name[:200], credentials=credentials,
                external_account_id=account.external_account_id, end_user_id=pending.end_user_id,
                token_expires_at=expires_at,
            )
        # A disabled integration stays disabled: reconnecting renews its grant, not the tenant's decision.
        status = "disabled" if existing.status == "disabled" else "active"
        attempts_left = 3
        while True:
            try:
                return integrations.update_integration_credentials(
                    pending.tenant_id, existing.id, credentials, token_expires_at=expires_at, status=status,
                    external_account_id=account.external_account_id,
                )
            except Conflict:  # a token refresh wrote in between; the new grant wins, on the newest version
                attempts_left -= 1
                if not attempts_left:
                    raise


def with_query(url: str, **params: str) -> str:
    """`url` with `params` added to its query (replacing any of the same name)."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query += list(params.items())
    return urlunsplit(parts._replace(query=urlencode(query)))
