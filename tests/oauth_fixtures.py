"""Shared pieces of the OAuth tests: a fake provider, a connector that uses it, and the redirect dance.

The connector is registered on the app's own plugin host; its `oauth_config`
names unreachable provider URLs, so every test also proves that the
`OAUTH_<ID>_AUTHORIZE_URL` / `_TOKEN_URL` overrides are what the hub uses.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from hub import hookimpl
from hub.testkit.oauth_server import FakeOAuthProvider
from hub.types import AccountInfo, ConnectorInfo, OAuthConfig

FRONTEND_URL = "http://frontend.test"


class ProviderConnector:
    """A connector for the fake provider; `connector_id` picks the settings it reads."""

    def __init__(self, connector_id: str, *, pkce: bool = True, auth_method: str = "client_secret_post") -> None:
        self.connector_id = connector_id
        self.pkce = pkce
        self.auth_method = auth_method

    def _api(self, settings: Any) -> str:
        return settings[f"{self.connector_id.upper()}_API_BASE_URL"]

    @hookimpl
    def connector_info(self) -> ConnectorInfo:
        return ConnectorInfo(display_name=f"{self.connector_id.title()} Provider", auth_kind="oauth2", supports_revoke=True)

    @hookimpl
    def oauth_config(self) -> OAuthConfig:
        return OAuthConfig(
            authorize_url="https://provider.invalid/authorize",
            token_url="https://provider.invalid/token",
            scopes=("read", "write"),
            extra_authorize_params={"access_type": "offline", "state": "overridden-by-the-plugin"},
            pkce=self.pkce,
            token_endpoint_auth_method=self.auth_method,  # type: ignore[arg-type]
        )

    @hookimpl
    def oauth_account(self, session: requests.Session, settings: Any) -> AccountInfo:
        response = session.get(self._api(settings) + "/userinfo")
        response.raise_for_status()
        body = response.json()
        return AccountInfo(external_account_id=body["id"], display_name=body["name"])

    @hookimpl
    def revoke(self, session: requests.Session, credentials: Any, settings: Any) -> None:
        token = credentials.get("refresh_token") or credentials["access_token"]
        session.post(self._api(settings) + "/revoke", data={"token": token}).raise_for_status()


class ApiKeyConnector:
    @hookimpl
    def connector_info(self) -> ConnectorInfo:
        return ConnectorInfo(display_name="Keys Only", auth_kind="api_key", credential_fields={"api_key": "the key"})


def provider_settings(connector_id: str, provider: FakeOAuthProvider, *, with_client: bool = True) -> dict[str, str]:
    upper = connector_id.upper()
    settings = {
        f"OAUTH_{upper}_AUTHORIZE_URL": provider.authorize_url,
        f"OAUTH_{upper}_TOKEN_URL": provider.token_url,
        f"{upper}_API_BASE_URL": provider.base_url,
    }
    if with_client:
        settings[f"OAUTH_{upper}_CLIENT_ID"] = provider.client_id
        settings[f"OAUTH_{upper}_CLIENT_SECRET"] = provider.client_secret
    return settings


def install_connector(app: Any, connector_id: str, provider: FakeOAuthProvider) -> None:
    connector = ProviderConnector(connector_id, pkce=provider.require_pkce, auth_method=provider.token_endpoint_auth_method)
    app.extensions["hub"].plugins.register_connector(connector_id, connector)


@pytest.fixture
def provider() -> Any:
    fake = FakeOAuthProvider()
    with fake.serve():
        yield fake


@pytest.fixture(params=["database", "redis"])
def state_backend(request: pytest.FixtureRequest) -> dict[str, str]:
    """Settings that put OAuth state (and leases) in the database or in Redis."""
    if request.param == "redis":
        return {"REDIS_URL": request.getfixturevalue("redis_url")}
    return {}


@pytest.fixture
def build_oauth_app(make_app: Any, provider: FakeOAuthProvider) -> Any:
    def build(*, connectors: tuple[str, ...] = ("demo",), **config: Any) -> Any:
        settings: dict[str, Any] = {}
        for connector_id in connectors:
            settings.update(provider_settings(connector_id, provider))
        settings.update(config)
        app = make_app(**settings)
        for connector_id in connectors:
            install_connector(app, connector_id, provider)
        return app

    return build


# the redirect dance -------------------------------------------------------


def connect_token(client: Any, tenant: Any, **body: Any) -> str:
    response = client.post("/api/connect/sessions", json={"end_user_id": "user-42", **body}, headers=tenant.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json["token"]


def start(client: Any, token: str | None, connector: str = "demo", **params: str) -> Any:
    query = dict(params)
    if token is not None:
        query["connect_token"] = token
    return client.get(f"/api/oauth/start/{connector}", query_string=query)


def authorize(provider_url: str) -> str:
    """Follow the browser to the provider, which approves at once; returns its redirect back to the hub."""
    response = requests.get(provider_url, allow_redirects=False, timeout=10)
    assert response.status_code == 302, response.text
    return response.headers["Location"]


def callback(client: Any, location: str) -> Any:
    parts = urlsplit(location)
    return client.get(parts.path, query_string=parts.query)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}


def connect(client: Any, tenant: Any, connector: str = "demo", **params: str) -> dict[str, str]:
    """The whole flow; returns the query the browser lands on at the frontend."""
    started = start(client, connect_token(client, tenant), connector, **params)
    assert started.status_code == 302, started.get_data(as_text=True)
    finished = callback(client, authorize(started.headers["Location"]))
    assert finished.status_code == 302, finished.get_data(as_text=True)
    return query_of(finished.headers["Location"])
