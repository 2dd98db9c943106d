"""Token refresh: ahead of expiry, once under concurrency, and the two ways it can fail.

Integrations are connected through the real flow against the fake
authorization server; refreshes go over real HTTP to the same server.
"""

from __future__ import annotations

import socket
import threading
import time
from datetime import timedelta

import pytest

from hub.cli import main
from hub.errors import ReauthorizationRequired, TokenRefreshFailed
from hub.provider.credentials import fresh_credentials, refresh_expiring_tokens
from hub.storage.models import db, utcnow
from hub.tenancy.integrations import get_integration_with_credentials
from tests.oauth_fixtures import connect

SOON = 120  # seconds: inside the five-minute refresh margin


@pytest.fixture
def oauth_app(build_oauth_app):
    return build_oauth_app()


def connected(app, provider, tenant, *, lifetime=SOON):
    """Connect one integration whose access token lives `lifetime` seconds; later tokens live an hour."""
    provider.access_token_lifetime = lifetime
    integration_id = connect(app.test_client(), tenant)["integration_id"]
    provider.access_token_lifetime = 3600
    return integration_id


def stored(app, tenant, integration_id):
    with app.app_context():
        integration, credentials = get_integration_with_credentials(tenant.id, integration_id)
        return integration, credentials


def closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/token"


def test_a_token_that_expires_soon_is_refreshed_ahead_of_time(oauth_app, provider, tenant):
    integration_id = connected(oauth_app, provider, tenant)
    before, old = stored(oauth_app, tenant, integration_id)

    with oauth_app.app_context():
        fresh = fresh_credentials(tenant.id, integration_id)

    assert fresh["access_token"] != old["access_token"]
    assert fresh["access_token"] in provider.tokens
    assert provider.refresh_token_uses == {old["refresh_token"]: 1}
    after, saved = stored(oauth_app, tenant, integration_id)
    assert saved == fresh
    assert after.version == before.version + 1
    assert after.token_expires_at - utcnow() > timedelta(minutes=55)
    assert saved["refresh_token"] != old["refresh_token"]  # the provider rotated it; the new one is kept
    assert saved["scope"] == "read write"


def test_a_token_far_from_expiry_is_returned_as_is(oauth_app, provider, tenant):
    integration_id = connected(oauth_app, provider, tenant, lifetime=3600)
    _, old = stored(oauth_app, tenant, integration_id)

    with oauth_app.app_context():
        assert fresh_credentials(tenant.id, integration_id) == old
    assert provider.refresh_requests == []


def test_a_refresh_token_that_is_not_rotated_is_kept(oauth_app, provider, tenant):
    provider.rotate_refresh_tokens = False
    integration_id = connected(oauth_app, provider, tenant)
    _, old = stored(oauth_app, tenant, integration_id)

    with oauth_app.app_context():
        fresh = fresh_credentials(tenant.id, integration_id)

    assert fresh["refresh_token"] == old["refresh_token"]
    assert fresh["access_token"] != old["access_token"]


def test_two_concurrent_refreshes_spend_the_refresh_token_once(build_oauth_app, provider, tenant, state_backend):
    app = build_oauth_app(**state_backend)  # leases in the database, or in Redis
    integration_id = connected(app, provider, tenant)
    _, old = stored(app, tenant, integration_id)
    provider.token_response_delay = 0.3  # the second worker is surely waiting while the first refreshes
    start = threading.Barrier(2)
    results, errors = [], []

    def worker():
        with app.app_context():
            try:
                start.wait()
                results.append(fresh_credentials(tenant.id, integration_id))
            except Exception as error:
                errors.append(error)
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert errors == []
    assert provider.refresh_token_uses == {old["refresh_token"]: 1}
    assert len(provider.refresh_requests) == 1
    assert results[0] == results[1]
    integration, saved = stored(app, tenant, integration_id)
    assert saved["access_token"] == results[0]["access_token"]
    assert integration.status == "active"


def test_invalid_grant_marks_the_integration_needs_reauth_and_stops(oauth_app, provider, tenant):
    integration_id = connected(oauth_app, provider, tenant)
    _, old = stored(oauth_app, tenant, integration_id)
    provider.refresh_tokens[old["refresh_token"]].revoked = True  # the user revoked the grant at the provider

    with oauth_app.app_context():
        with pytest.raises(ReauthorizationRequired) as raised:
            fresh_credentials(tenant.id, integration_id)
        assert raised.value.retryable is False
        with pytest.raises(ReauthorizationRequired):
            fresh_credentials(tenant.id, integration_id)

    assert len(provider.refresh_requests) == 1  # no retry against a dead grant
    integration, _ = stored(oauth_app, tenant, integration_id)
    assert integration.status == "needs_reauth"
    response = oauth_app.test_client().get(f"/api/integrations/{integration_id}", headers=tenant.headers)
    assert response.json["status"] == "needs_reauth"


def test_a_provider_outage_is_retryable_and_changes_nothing(oauth_app, provider, tenant):
    integration_id = connected(oauth_app, provider, tenant)
    before, old = stored(oauth_app, tenant, integration_id)
    provider.token_error_status = 503

    with oauth_app.app_context():
        with pytest.raises(TokenRefreshFailed) as raised:
            fresh_credentials(tenant.id, integration_id)
    assert raised.value.retryable is True
    after, saved = stored(oauth_app, tenant, integration_id)
    assert (after.status, after.version, saved) == ("active", before.version, old)

    provider.token_error_status = None  # the retry, once the provider is back, succeeds
    with oauth_app.app_context():
        assert fresh_credentials(tenant.id, integration_id)["access_token"] != old["access_token"]


def test_an_unreachable_token_endpoint_is_retryable(make_app, build_oauth_app, provider, tenant):
    integration_id = connected(build_oauth_app(), provider, tenant)
    from tests.oauth_fixtures import install_connector, provider_settings

    offline = make_app(**{**provider_settings("demo", provider), "OAUTH_DEMO_TOKEN_URL": closed_port_url()})
    install_connector(offline, "demo", provider)

    with offline.app_context():
        with pytest.raises(TokenRefreshFailed):
            fresh_credentials(tenant.id, integration_id)
    integration, _ = stored(offline, tenant, integration_id)
    assert integration.status == "active"


def test_an_expired_token_without_a_refresh_token_needs_reauth(oauth_app, provider, tenant):
    provider.issue_refresh_tokens = False
    integration_id = connected(oauth_app, provider, tenant, lifetime=1)
    time.sleep(1.1)

    with oauth_app.app_context():
        with pytest.raises(ReauthorizationRequired):
            fresh_credentials(tenant.id, integration_id)
    assert stored(oauth_app, tenant, integration_id)[0].status == "needs_reauth"
    assert provider.refresh_requests == []


def test_a_soon_expiring_token_without_a_refresh_token_is_used_while_it_lasts(oauth_app, provider, tenant):
    provider.issue_refresh_tokens = False
    integration_id = connected(oauth_app, provider, tenant)
    _, old = stored(oauth_app, tenant, integration_id)

    with oauth_app.app_context():
        assert fresh_credentials(tenant.id, integration_id) == old
    assert provider.refresh_requests == []


def test_the_periodic_refresh_renews_only_tokens_expiring_soon(oauth_app, provider, tenant):
    expiring = connected(oauth_app, provider, tenant, lifetime=SOON)
    provider.account_id = "account-2"
    lasting = connected(oauth_app, provider, tenant, lifetime=3600)
    _, expiring_before = stored(oauth_app, tenant, expiring)
    _, lasting_before = stored(oauth_app, tenant, lasting)

    with oauth_app.app_context():
        outcome = refresh_expiring_tokens()

    assert outcome == {"refreshed": 1, "unchanged": 0, "needs_reauth": 0, "failed": 0}
    assert stored(oauth_app, tenant, expiring)[1]["access_token"] != expiring_before["access_token"]
    assert stored(oauth_app, tenant, lasting)[1] == lasting_before


def test_the_periodic_refresh_reports_dead_grants(oauth_app, provider, tenant):
    integration_id = connected(oauth_app, provider, tenant)
    provider.token_error = "invalid_grant"

    with oauth_app.app_context():
        outcome = refresh_expiring_tokens()
        again = refresh_expiring_tokens()

    assert outcome["needs_reauth"] == 1
    assert again == {"refreshed": 0, "unchanged": 0, "needs_reauth": 0, "failed": 0}  # no longer active
    assert stored(oauth_app, tenant, integration_id)[0].status == "needs_reauth"


def test_hub_tokens_refresh_command(oauth_app, provider, tenant):
    connected(oauth_app, provider, tenant)

    result = oauth_app.test_cli_runner().invoke(main, args=["tokens", "refresh"])

    assert result.exit_code == 0, result.output
    assert "refreshed=1" in result.output
    assert len(provider.refresh_requests) == 1
