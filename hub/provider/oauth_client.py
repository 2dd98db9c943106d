"""The hub as an OAuth 2 client: a connector's effective config and its token endpoint calls.

A connector's `oauth_config` hook describes the provider; the operator's
settings supply the client credentials (`OAUTH_<ID>_CLIENT_ID` /
`_CLIENT_SECRET`) and may redirect the endpoints (`OAUTH_<ID>_AUTHORIZE_URL`
/ `_TOKEN_URL`) to staging or a local fake. Token endpoint calls go through
authlib's requests client, which implements client_secret_post/basic and
PKCE, and raises `OAuthError` for a provider's error answer (including
Slack-style `{"ok": false, "error": ...}` bodies under HTTP 200). A
form-encoded token answer (GitHub's, when a client does not ask for JSON;
some older providers always) is read like JSON.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl

import requests
from authlib.integrations.requests_client import OAuth2Session

from hub.errors import BadRequest, ConnectorNotConfigured
from hub.provider.session import DEFAULT_TIMEOUT
from hub.runtime import current_hub
from hub.types import OAuthConfig

# Fields of a token response that are stored under their standard names; the rest are kept as extras.
STANDARD_FIELDS = ("access_token", "refresh_token", "token_type", "scope", "expires_at")
# Relative or transport-only fields that mean nothing once stored.
DROPPED_FIELDS = frozenset({"expires_in", "ok"})


def provider_oauth_config(connector_id: str) -> OAuthConfig:
    """The connector's OAuth description with the operator's overrides; 404 / 400 when it has none."""
    plugins = current_hub().plugins
    plugins.connector(connector_id)
    config = plugins.oauth_config(connector_id) if plugins.has_hook(connector_id, "oauth_config") else None
    if config is None:
        raise BadRequest(f"{connector_id} does not connect through OAuth.")
    settings = plugins.settings_for(connector_id)
    upper = connector_id.upper()
    return dataclasses.replace(
        config,
        authorize_url=settings.get(f"OAUTH_{upper}_AUTHORIZE_URL") or config.authorize_url,
        token_url=settings.get(f"OAUTH_{upper}_TOKEN_URL") or config.token_url,
        client_id=settings.get(f"OAUTH_{upper}_CLIENT_ID") or config.client_id,
        client_secret=settings.get(f"OAUTH_{upper}_CLIENT_SECRET") or config.client_secret,
    )


def require_client(config: OAuthConfig, connector_id: str) -> OAuthConfig:
    """503 until the operator has registered the hub with the provider."""
    if not config.client_id or not config.client_secret:
        upper = connector_id.upper()
        raise ConnectorNotConfigured(
            f"{connector_id} has no OAuth client: set OAUTH_{upper}_CLIENT_ID and OAUTH_{upper}_CLIENT_SECRET."
        )
    return config


def client_config(connector_id: str) -> OAuthConfig:
    return require_client(provider_oauth_config(connector_id), connector_id)


def requested_scope(config: OAuthConfig) -> str | None:
    return config.scope_separator.join(config.scopes) or None


def oauth_session(config: OAuthConfig, redirect_uri: str | None = None) -> OAuth2Session:
    session = OAuth2Session(
        client_id=config.client_id,
        client_secret=config.client_secret,
        token_endpoint_auth_method=config.token_endpoint_auth_method,
        redirect_uri=redirect_uri,
        code_challenge_method="S256" if config.pkce else None,
        default_timeout=DEFAULT_TIMEOUT,
    )
    session.headers["User-Agent"] = "hub-integration-hub/0.1"
    session.register_compliance_hook("access_token_response", form_encoded_as_json)
    session.register_compliance_hook("refresh_token_response", form_encoded_as_json)
    return session


def form_encoded_as_json(response: requests.Response) -> requests.Response:
    """A form-encoded token answer rewritten as the JSON object authlib reads; any other answer as it came."""
    content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
    if content_type not in ("application/x-www-form-urlencoded", "text/plain"):
        return response
    try:
        fields = dict(parse_qsl(response.content.decode("utf-8"), keep_blank_values=True, strict_parsing=True))
    except (UnicodeDecodeError, ValueError):
        return response
    if "access_token" in fields or "error" in fields:
        response._content = json.dumps(fields).encode("utf-8")
        response.headers["Content-Type"] = "application/json"
    return response


def exchange_code(config: OAuthConfig, *, code: str, code_verifier: str | None, redirect_uri: str) -> dict[str, Any]:
    """Trade an authorization code for tokens. Raises OAuthError or a requests error."""
    extra = {"code_verifier": code_verifier} if code_verifier else {}
    with oauth_session(config, redirect_uri) as session:
        return dict(session.fetch_token(config.token_url, grant_type="authorization_code", code=code, **extra))


def refresh_access_token(config: OAuthConfig, refresh_token: str) -> dict[str, Any]:
    """Spend a refresh token. Raises OAuthError or a requests error."""
    with oauth_session(config) as session:
        return dict(session.refresh_token(config.token_url, refresh_token=refresh_token))


def credentials_from_token(
    token: Mapping[str, Any], *, previous: Mapping[str, Any] | None = None, scope: str | None = None
) -> tuple[dict[str, Any], datetime | None]:
    """The credentials dict to store, and when its access token expires.

    A refresh answer often omits what did not change (the refresh token
    when it is not rotated, the scope); those are kept from `previous`.
    """
    if not isinstance(token.get("access_token"), str) or not token["access_token"]:
        raise ValueError("the token response has no access_token")
    credentials: dict[str, Any] = {k: v for k, v in (previous or {}).items() if k not in DROPPED_FIELDS}
    credentials.update({k: v for k, v in token.items() if k not in DROPPED_FIELDS})
    if not credentials.get("scope") and scope:
        credentials["scope"] = scope
    credentials.setdefault("token_type", "Bearer")
    expires_at = _expires_at(token)
    credentials["expires_at"] = int(expires_at.timestamp()) if expires_at else None
    for name in STANDARD_FIELDS:
        credentials.setdefault(name, None)
    return credentials, expires_at


def _expires_at(token: Mapping[str, Any]) -> datetime | None:
    raw = token.get("expires_at")
    if raw is None and token.get("expires_in") is not None:
        try:
            raw = time.time() + float(token["expires_in"])
        except (TypeError, ValueError):
            raw = None
    try:
        return datetime.fromtimestamp(int(float(raw)), tz=timezone.utc) if raw is not None else None
    except (TypeError, ValueError, OverflowError):
        return None
