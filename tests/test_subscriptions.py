"""Periodic renewal of provider-side subscriptions (Gmail's users.watch), against a fake provider on 127.0.0.1."""

from __future__ import annotations

import pytest
from flask import Flask, jsonify, request

from hub import hookimpl
from hub.provider.subscriptions import renew_all_subscriptions
from hub.tenancy.integrations import create_integration, get_integration_with_credentials
from hub.testkit.http_server import serve_wsgi
from hub.types import ConnectorInfo


def fake_provider() -> Flask:
    api = Flask("fake-watch")

    @api.post("/watch")
    def watch():  # type: ignore[no-untyped-def]
        if request.headers.get("Authorization") != "Bearer live-token":
            return jsonify({"error": "unauthorized"}), 401
        return jsonify({"historyId": "777", "expiration": "1900000000000"})

    return api


class WatchingConnector:
    def __init__(self, base_url: str) -> None:
        self.base_url = base_url

    @hookimpl
    def connector_info(self):
        return ConnectorInfo(display_name="Watching", auth_kind="oauth2")

    @hookimpl
    def renew_subscription(self, session):
        response = session.post(f"{self.base_url}/watch")
        response.raise_for_status()
        reply = response.json()
        return {"watch_history_id": reply["historyId"], "watch_expiration": reply["expiration"]}


@pytest.fixture
def provider_url():
    with serve_wsgi(fake_provider()) as url:
        yield url


def test_renewal_merges_what_the_connector_returns_into_the_credentials(app, tenant, provider_url):
    app.extensions["hub"].plugins.register_connector("watching", WatchingConnector(provider_url))
    with app.app_context():
        live = create_integration(tenant.id, connector="watching", name="a", credentials={"access_token": "live-token", "refresh_token": "r1"})
        dead = create_integration(tenant.id, connector="watching", name="b", credentials={"access_token": "revoked-token"})
        assert renew_all_subscriptions() == {"renewed": 1, "unchanged": 0, "needs_reauth": 0, "failed": 1}
        _, credentials = get_integration_with_credentials(tenant.id, live.id)
        assert credentials == {"access_token": "live-token", "refresh_token": "r1", "watch_history_id": "777", "watch_expiration": "1900000000000"}
        _, untouched = get_integration_with_credentials(tenant.id, dead.id)
        assert untouched == {"access_token": "revoked-token"}


def test_integrations_of_connectors_without_subscriptions_are_left_alone(app, tenant):
    with app.app_context():
        row = create_integration(tenant.id, connector="stripe", name="s", credentials={"api_key": "rk_test_1"})
        assert renew_all_subscriptions() == {"renewed": 0, "unchanged": 0, "needs_reauth": 0, "failed": 0}
        assert get_integration_with_credentials(tenant.id, row.id)[0].version == 1
