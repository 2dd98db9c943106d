"""Periodic connector health checks record status and spot revoked grants."""

from __future__ import annotations

import pytest
from flask import Flask, jsonify, request

from hub import hookimpl
from hub.provider.health import check_all_integrations
from hub.tenancy.integrations import create_integration, get_integration_by_id
from hub.testkit.http_server import serve_wsgi
from hub.types import ConnectorInfo, HealthResult


def fake_provider() -> Flask:
    api = Flask("fake-provider")

    @api.get("/me")
    def me():
        if request.headers.get("Authorization") != "Bearer good-token":
            return jsonify({"error": "invalid_token"}), 401
        return jsonify({"id": "acct_1"})

    return api


class PingConnector:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    @hookimpl
    def connector_info(self):
        return ConnectorInfo(display_name="Ping", auth_kind="oauth2", supports_health_check=True)

    @hookimpl
    def check_health(self, session):
        response = session.get(f"{self.base_url}/me")
        return HealthResult(ok=response.ok, needs_reauth=response.status_code == 401)


class SilentConnector:
    @hookimpl
    def connector_info(self):
        return ConnectorInfo(display_name="Silent", auth_kind="api_key", credential_fields={"api_key": "key"})


@pytest.fixture
def app(make_app):
    """Only test connectors: health checks of the real ones would call real providers."""
    return make_app(HUB_DISABLED_CONNECTORS="gmail,slack,stripe")


@pytest.fixture
def provider_url():
    with serve_wsgi(fake_provider()) as url:
        yield url


def test_health_checks_record_ok_and_mark_revoked_grants(app, tenant, provider_url):
    app.extensions["hub"].plugins.register_connector("ping", PingConnector(provider_url))
    app.extensions["hub"].plugins.register_connector("silent", SilentConnector())
    with app.app_context():
        healthy = create_integration(tenant.id, connector="ping", name="good", credentials={"access_token": "good-token"})
        revoked = create_integration(tenant.id, connector="ping", name="bad", credentials={"access_token": "revoked-token"})
        untouched = create_integration(tenant.id, connector="silent", name="no check", credentials={"api_key": "k"})

        outcomes = check_all_integrations()

        assert outcomes == {"ok": 1, "needs_reauth": 1}
        good = get_integration_by_id(tenant.id, healthy.id)
        assert good.health_status == "ok" and good.last_health_check_at is not None and good.status == "active"
        bad = get_integration_by_id(tenant.id, revoked.id)
        assert bad.health_status == "needs_reauth" and bad.status == "needs_reauth"
        assert get_integration_by_id(tenant.id, untouched.id).health_status is None
        assert check_all_integrations() == {"ok": 1}, "integrations needing re-authorization are not checked again"


def test_an_unreachable_provider_is_recorded_as_error(app, tenant):
    app.extensions["hub"].plugins.register_connector("ping", PingConnector("http://127.0.0.1:1"))
    with app.app_context():
        row = create_integration(tenant.id, connector="ping", name="x", credentials={"access_token": "good-token"})
        assert check_all_integrations() == {"error": 1}
        assert get_integration_by_id(tenant.id, row.id).status == "active"
