"""No database transaction is open while a provider is called.

A fake provider on 127.0.0.1 holds every request until the test releases
it. While a health check, a subscription renewal, a sync page, a revocation
or a token refresh of one tenant's integration waits in that provider,
another tenant's webhook is stored and answered 200: on SQLite, where every
transaction holds the one write lock, it would otherwise wait for the
provider (and after the busy timeout get a 503).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, jsonify

from hub import hookimpl
from hub.provider.credentials import refresh_expiring_tokens
from hub.provider.health import check_all_integrations
from hub.provider.revoke import disconnect_integration
from hub.provider.subscriptions import renew_all_subscriptions
from hub.provider.sync import request_sync
from hub.storage.models import db, utcnow
from hub.tenancy.integrations import create_integration, get_integration_by_id, webhook_url
from hub.testkit.http_server import serve_wsgi
from hub.types import ConnectorInfo, HealthResult, NormalizedEvent, OAuthConfig, SyncResult
from hub.worker.runner import run_sync_job

# Only keeps a broken run from hanging; nothing is timed. Longer than SQLite's busy
# timeout (30 s), so a webhook held behind the lock fails instead of slipping through.
GUARD_SECONDS = 90


@dataclass
class HeldProvider:
    """Every request waits until `release` is set; `entered` says one arrived."""

    entered: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    paths: list[str] = field(default_factory=list)

    def app(self) -> Flask:
        api = Flask("held-provider")
        replies = {
            "health": {"ok": True},
            "watch": {"expiration": "1900000000000"},
            "events": {"events": [], "cursor": "c1", "has_more": False},
            "revoke": {},
            "token": {"access_token": "renewed-access", "refresh_token": "renewed-refresh", "token_type": "Bearer", "expires_in": 3600},
        }

        @api.route("/<name>", methods=["GET", "POST"])
        def held(name: str):  # type: ignore[no-untyped-def]
            self.paths.append(name)
            self.entered.set()
            self.release.wait(GUARD_SECONDS)
            return jsonify(replies[name])

        return api


class SlowConnector:
    """Calls the held provider from every hook that talks to a provider, noting whether a transaction was open."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.open_transactions: list[bool] = []

    def _call(self, session: Any, method: str, name: str) -> Any:
        self.open_transactions.append(db.session().in_transaction())
        response = session.request(method, f"{self.base_url}/{name}", timeout=(5, GUARD_SECONDS))
        response.raise_for_status()
        return response.json()

    @hookimpl
    def connector_info(self):
        return ConnectorInfo(
            display_name="Slow", auth_kind="oauth2", supports_sync=True, supports_revoke=True, supports_health_check=True
        )

    @hookimpl
    def oauth_config(self):
        self.open_transactions.append(db.session().in_transaction())
        return OAuthConfig(
            authorize_url=f"{self.base_url}/authorize", token_url=f"{self.base_url}/token", client_id="cid", client_secret="csecret"
        )

    @hookimpl
    def check_health(self, session):
        return HealthResult(ok=self._call(session, "GET", "health")["ok"])

    @hookimpl
    def renew_subscription(self, session):
        return {"watch_expiration": self._call(session, "POST", "watch")["expiration"]}

    @hookimpl
    def sync(self, session, cursor):
        page = self._call(session, "GET", "events")
        return SyncResult(records=[], cursor=page["cursor"], has_more=page["has_more"])

    @hookimpl
    def revoke(self, session):
        self._call(session, "POST", "revoke")


def signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class ReceivingConnector:
    """Per-integration webhooks signed with HMAC-SHA256 of the body."""

    @hookimpl
    def connector_info(self):
        return ConnectorInfo(
            display_name="Receiving", auth_kind="api_key", credential_fields={"signing_secret": "secret"}, webhook_routing="integration"
        )

    @hookimpl
    def verify_signature(self, request, credentials):
        expected = signature(str((credentials or {}).get("signing_secret", "")), request.body)
        return hmac.compare_digest(expected, request.header("x-signature") or "")

    @hookimpl
    def normalize(self, request):
        body = json.loads(request.body)
        return [NormalizedEvent(id=body["id"], type=body["type"], data=body)]


def health_check(tenant_id: str, integration_id: str) -> Any:
    return check_all_integrations()


def subscription_renewal(tenant_id: str, integration_id: str) -> Any:
    return renew_all_subscriptions()


def sync_page(tenant_id: str, integration_id: str) -> Any:
    job_id, _dispatches = request_sync(tenant_id, integration_id)
    return run_sync_job(job_id)


def revocation_on_disconnect(tenant_id: str, integration_id: str) -> Any:
    return disconnect_integration(tenant_id, integration_id).deleted_at


def token_refresh(tenant_id: str, integration_id: str) -> Any:
    return refresh_expiring_tokens()


PROVIDER_CALLS: dict[str, tuple[Callable[[str, str], Any], str]] = {
    "health check": (health_check, "health"),
    "subscription renewal": (subscription_renewal, "watch"),
    "sync page": (sync_page, "events"),
    "revocation on disconnect": (revocation_on_disconnect, "revoke"),
    "token refresh": (token_refresh, "token"),
}


@pytest.fixture
def app(make_app):
    """Only the test connectors: the real ones would call real providers."""
    return make_app(HUB_DISABLED_CONNECTORS="gmail,slack,stripe")


@pytest.fixture
def held_provider():
    provider = HeldProvider()
    with serve_wsgi(provider.app()) as url:
        yield provider, url
        provider.release.set()


@pytest.mark.parametrize("call", list(PROVIDER_CALLS))
def test_another_tenants_webhook_is_stored_while_a_provider_call_waits(app, tenant, other_tenant, held_provider, call):
    provider, url = held_provider
    work, provider_path = PROVIDER_CALLS[call]
    slow = SlowConnector(url)
    app.extensions["hub"].plugins.register_connector("slow", slow)
    app.extensions["hub"].plugins.register_connector("receiving", ReceivingConnector())
    expires_soon = call == "token refresh"
    with app.app_context():
        calling = create_integration(
            tenant.id, connector="slow", name="slow provider",
            credentials={"access_token": "current-access", "refresh_token": "current-refresh"},
            token_expires_at=utcnow() + (timedelta(minutes=1) if expires_soon else timedelta(days=1)),
        ).id
        receiving = create_integration(other_tenant.id, connector="receiving", name="other tenant", credentials={"signing_secret": "s3cret"})
        path = "/api/webhooks/receiving/" + webhook_url(receiving).rsplit("/", 1)[1]

    results: list[Any] = []

    def run_in_background() -> None:
        with app.app_context():
            try:
                results.append(work(tenant.id, calling))
            except BaseException as error:  # reported in the test's thread
                results.append(error)

    worker = threading.Thread(target=run_in_background, name=f"provider-call-{provider_path}")
    worker.start()
    try:
        assert provider.entered.wait(GUARD_SECONDS), "the provider was never called"
        body = json.dumps({"id": "evt_while_waiting", "type": "thing.happened"}).encode()
        response = app.test_client().post(
            path, data=body, headers={"Content-Type": "application/json", "X-Signature": signature("s3cret", body)}
        )
    finally:
        provider.release.set()
        worker.join(GUARD_SECONDS)

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.json == {"status": "accepted"}
    assert provider.paths == [provider_path]
    assert slow.open_transactions and not any(slow.open_transactions), "a transaction was open during a provider call"
    assert results and not isinstance(results[0], BaseException), results
    if call == "revocation on disconnect":
        with app.app_context():
            assert get_integration_by_id(tenant.id, calling, include_deleted=True).deleted_at is not None
