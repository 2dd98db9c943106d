"""Disconnect revokes at the provider, then soft-deletes; and no token ever leaks.

The leak test runs the whole life of an integration (connect, refresh,
disconnect) with every logger at DEBUG and scans the captured log and every
hub response for any secret the provider issued or holds.
"""

from __future__ import annotations

import logging

import pytest
import sqlalchemy as sa

from hub.provider.credentials import fresh_credentials
from hub.storage.models import Integration, db
from tests.oauth_fixtures import authorize, callback, connect, connect_token, start


@pytest.fixture
def oauth_app(build_oauth_app):
    return build_oauth_app()


def sealed_verifier(app) -> str:
    """The PKCE verifier of the one pending authorization, opened from wherever the state is stored."""
    from hub.runtime import current_hub
    from hub.storage.crypto import OAUTH_STATE_CONTEXT
    from hub.storage.models import OAuthState

    with app.app_context():
        if app.config.get("REDIS_URL"):
            hub = current_hub()
            [key] = list(hub.redis.scan_iter(match=hub.oauth_states.key("*")))
            sealed = hub.redis.get(key).decode()
        else:
            sealed = db.session.execute(sa.select(OAuthState.payload_ciphertext)).scalar_one()
        verifier = app.extensions["hub"].envelope.open_json(None, OAUTH_STATE_CONTEXT, sealed)["code_verifier"]
    assert len(verifier) >= 43
    return verifier


def row(app, integration_id):
    with app.app_context():
        return db.session.execute(sa.select(Integration).where(Integration.id == integration_id)).scalar_one()


def test_disconnect_revokes_the_grant_at_the_provider_then_soft_deletes(oauth_app, provider, tenant):
    client = oauth_app.test_client()
    integration_id = connect(client, tenant)["integration_id"]
    [refresh_token] = list(provider.refresh_tokens)

    response = client.delete(f"/api/integrations/{integration_id}", headers=tenant.headers)

    assert response.status_code == 204
    assert provider.revoked == [refresh_token]
    assert provider.refresh_tokens[refresh_token].revoked
    deleted = row(oauth_app, integration_id)
    assert deleted.deleted_at is not None and deleted.status == "revoked"
    assert client.get(f"/api/integrations/{integration_id}", headers=tenant.headers).status_code == 404


def test_disconnect_still_deletes_when_the_provider_is_down(oauth_app, provider, tenant, caplog):
    client = oauth_app.test_client()
    integration_id = connect(client, tenant)["integration_id"]
    provider.api_error_status = 503

    with caplog.at_level(logging.WARNING, logger="hub"):
        response = client.delete(f"/api/integrations/{integration_id}", headers=tenant.headers)

    assert response.status_code == 204
    assert row(oauth_app, integration_id).deleted_at is not None
    assert f"revoking integration {integration_id} at demo failed: HTTPError" in caplog.text


def test_another_tenants_integration_is_neither_revoked_nor_deleted(oauth_app, provider, tenant, other_tenant):
    client = oauth_app.test_client()
    integration_id = connect(client, tenant)["integration_id"]

    response = client.delete(f"/api/integrations/{integration_id}", headers=other_tenant.headers)

    assert response.status_code == 404
    assert provider.revoked == []
    assert row(oauth_app, integration_id).deleted_at is None


def test_no_token_code_verifier_or_client_secret_appears_in_logs_or_responses(build_oauth_app, provider, tenant, state_backend, caplog):
    app = build_oauth_app(**state_backend)
    client = app.test_client()
    responses = []
    provider.access_token_lifetime = 120
    caplog.set_level(logging.DEBUG)

    token = connect_token(client, tenant)
    started = start(client, token)
    responses.append(started)
    verifier = sealed_verifier(app)
    back = authorize(started.headers["Location"])
    finished = callback(client, back)
    responses += [finished, callback(client, back)]  # the replay's problem body too
    integration_id = finished.headers["Location"].split("integration_id=")[1].split("&")[0]
    with app.app_context():
        fresh_credentials(tenant.id, integration_id)
    responses.append(client.get(f"/api/integrations/{integration_id}", headers=tenant.headers))
    responses.append(client.get("/api/integrations", headers=tenant.headers))
    responses.append(client.delete(f"/api/integrations/{integration_id}", headers=tenant.headers))

    issued = provider.issued_secrets()
    assert len(issued) >= 5  # client secret, code, two access tokens, two refresh tokens
    issued.add(verifier)
    hub_log = "\n".join(
        record.getMessage() for record in caplog.records
        # the fake provider's own server code (authlib's grant modules) logs what it issues at DEBUG
        if not record.name.startswith("authlib.oauth2.rfc")
    )
    served = "\n".join(
        response.get_data(as_text=True) + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())
        for response in responses
    )
    assert "refreshed the access token" in hub_log and "connected integration" in hub_log
    for secret in issued:
        assert secret not in hub_log
        assert secret not in served
    assert token not in hub_log
    assert token not in served
