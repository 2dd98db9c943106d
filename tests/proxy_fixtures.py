"""The proxy's tests: the hub served on 127.0.0.1, a fake provider API and OAuth server per connector, and a connection.

Everything talks real HTTP: the caller to the hub (requests, or http.client
for request targets requests would rewrite), the hub to the fake API and to
the fake token endpoint.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from hub.storage.models import utcnow
from hub.tenancy.integrations import create_integration, get_integration_with_credentials
from hub.testing import TenantCredentials, make_tenant
from hub.testkit.http_server import serve_wsgi
from hub.testkit.oauth_server import FakeOAuthProvider
from tests.support.fake_provider_api import FakeProviderApi

CONNECTORS = ("gmail", "slack", "stripe")
STRIPE_KEY = "rk_test_51ProxyKeyOfTheAccount"
PLATFORM_KEY = "sk_test_51PlatformSecretKey"
CONNECTED_ACCOUNT = "acct_1ConnectedAccount"
# How each connector's token endpoint wants the client to authenticate.
TOKEN_AUTH = {"gmail": "client_secret_post", "slack": "client_secret_basic"}


@dataclass
class Connection:
    """One integration of one tenant, reachable through the hub's proxy."""

    connector: str
    app: Any
    hub_url: str
    api: FakeProviderApi
    oauth: FakeOAuthProvider | None
    tenant: TenantCredentials
    integration_id: str
    settings: dict[str, Any]

    @property
    def prefix(self) -> str:
        return f"/api/integrations/{self.integration_id}/proxy"

    def call(self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return requests.request(method, f"{self.hub_url}{self.prefix}/{path}", headers={**self.tenant.headers, **(headers or {})}, **kwargs)

    def raw(self, method: str, target: str, headers: dict[str, str] | None = None, body: bytes | None = None) -> tuple[int, dict[str, str], bytes]:
        """A request with this exact target, byte for byte (requests and http.client would rewrite or refuse it)."""
        parts = urlsplit(self.hub_url)
        lines = [f"{method} {target} HTTP/1.1", f"Host: {parts.netloc}", "Connection: close"]
        lines += [f"{name}: {value}" for name, value in {**self.tenant.headers, **(headers or {})}.items()]
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (body or b"")
        with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
            sock.sendall(request)
            response = http.client.HTTPResponse(sock)
            response.begin()
            return response.status, dict(response.getheaders()), response.read()

    def stored(self) -> tuple[Any, dict[str, Any]]:
        with self.app.app_context():
            return get_integration_with_credentials(self.tenant.id, self.integration_id)


def connector_settings(connector: str, api: FakeProviderApi, oauth: FakeOAuthProvider | None) -> dict[str, str]:
    upper = connector.upper()
    settings = {f"{upper}_API_BASE_URL": api.base_url + ("/api" if connector == "slack" else "")}
    if oauth is not None:
        settings.update({
            f"OAUTH_{upper}_TOKEN_URL": oauth.token_url,
            f"OAUTH_{upper}_CLIENT_ID": oauth.client_id,
            f"OAUTH_{upper}_CLIENT_SECRET": oauth.client_secret,
        })
    if connector == "stripe":
        settings["OAUTH_STRIPE_CLIENT_SECRET"] = PLATFORM_KEY
    return settings


def store_integration(app: Any, tenant: TenantCredentials, connector: str, oauth: FakeOAuthProvider | None, *, lifetime: int = 3600, credentials: dict[str, Any] | None = None) -> str:
    expires_at = None
    if credentials is None:
        if oauth is None:
            credentials = {"api_key": STRIPE_KEY}
        else:
            token = oauth.issue_grant(lifetime=lifetime)
            credentials = {key: token[key] for key in ("access_token", "refresh_token", "token_type", "scope")}
            expires_at = utcnow() + timedelta(seconds=lifetime)
    with app.app_context():
        integration = create_integration(
            tenant.id, connector=connector, name=f"{connector} account", credentials=credentials,
            external_account_id=f"{connector}-account", token_expires_at=expires_at,
        )
        return integration.id


ConnectionFactory = Callable[..., Connection]


@pytest.fixture
def make_connection(make_app: Any) -> Iterator[ConnectionFactory]:
    """`make_connection(connector, lifetime=..., **settings)`: a served hub, fakes and one integration."""
    with ExitStack() as stack:

        def build(connector: str, *, lifetime: int = 3600, credentials: dict[str, Any] | None = None, api_key: str | None = STRIPE_KEY, **settings: Any) -> Connection:
            oauth = None
            if connector in TOKEN_AUTH:
                oauth = FakeOAuthProvider(token_endpoint_auth_method=TOKEN_AUTH[connector], require_pkce=False)
                stack.enter_context(oauth.serve())
            api = FakeProviderApi(oauth=oauth, api_key=None if oauth else api_key)
            api.base_url = stack.enter_context(serve_wsgi(api))
            settings = {**connector_settings(connector, api, oauth), **settings}
            app = make_app(**settings)
            tenant = make_tenant(app, "Acme")
            integration_id = store_integration(app, tenant, connector, oauth, lifetime=lifetime, credentials=credentials)
            hub_url = stack.enter_context(serve_wsgi(app))
            return Connection(connector, app, hub_url, api, oauth, tenant, integration_id, settings)

        yield build


@pytest.fixture(params=CONNECTORS)
def connection(request: pytest.FixtureRequest, make_connection: ConnectionFactory) -> Connection:
    return make_connection(request.param)
