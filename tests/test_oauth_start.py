"""Connect sessions and the start endpoint: who may start a flow, for which tenant, to where.

Every refusal is a problem+json 4xx/503 and leaves no OAuth state behind.
"""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeTimedSerializer

from hub.oauth.connect_sessions import SALT
from hub.storage.models import OAuthState, db
from tests.oauth_fixtures import FRONTEND_URL, ApiKeyConnector, connect_token, query_of, start


@pytest.fixture
def oauth_app(build_oauth_app):
    return build_oauth_app()


@pytest.fixture
def client(oauth_app):
    return oauth_app.test_client()


def stored_states(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(OAuthState)).scalar_one()


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status and body["title"] and body["detail"]
    return body


# connect sessions ---------------------------------------------------------


def test_a_connect_session_returns_a_short_lived_token(client, tenant):
    response = client.post("/api/connect/sessions", json={"end_user_id": "user-42", "allowed_connectors": ["demo"]}, headers=tenant.headers)

    assert response.status_code == 201
    assert set(response.json) == {"token", "expires_at"}
    assert response.json["expires_at"].endswith("Z")
    assert response.headers["Cache-Control"] == "no-store"


def test_a_connect_session_needs_the_tenant_api_key(client):
    assert_problem(client.post("/api/connect/sessions", json={"end_user_id": "u"}), 401)
    assert_problem(client.post("/api/connect/sessions", json={"end_user_id": "u"}, headers={"Authorization": "Bearer hub_sk_nope"}), 401)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"end_user_id": ""},
        {"end_user_id": 42},
        {"end_user_id": "u" * 256},
        {"end_user_id": "u", "tenant_id": "someone-else"},
        {"end_user_id": "u", "allowed_connectors": []},
        {"end_user_id": "u", "allowed_connectors": "demo"},
        {"end_user_id": "u", "allowed_connectors": [1]},
    ],
    ids=["missing-user", "empty-user", "number-user", "long-user", "tenant-smuggled", "no-connectors", "connectors-not-a-list", "connector-not-a-string"],
)
def test_a_bad_connect_session_body_is_refused(client, tenant, body):
    assert_problem(client.post("/api/connect/sessions", json=body, headers=tenant.headers), 400)


def test_a_connect_session_for_an_unknown_connector_is_not_found(client, tenant):
    body = {"end_user_id": "u", "allowed_connectors": ["demo", "nope"]}
    problem = assert_problem(client.post("/api/connect/sessions", json=body, headers=tenant.headers), 404)
    assert "nope" in problem["detail"]


def test_a_connect_session_body_must_be_json(client, tenant):
    response = client.post("/api/connect/sessions", data="end_user_id=u", headers=tenant.headers, content_type="application/x-www-form-urlencoded")
    assert_problem(response, 400)


# start: authentication ----------------------------------------------------


def test_start_without_credentials_is_unauthorized(oauth_app, client):
    problem = assert_problem(start(client, None), 401)
    assert "connect_token" in problem["detail"]
    assert stored_states(oauth_app) == 0


def test_start_with_a_forged_connect_token_is_unauthorized(oauth_app, client, tenant):
    forged = URLSafeTimedSerializer("not-the-secret-key", salt=SALT).dumps(
        {"tid": tenant.id, "uid": "u", "con": None, "exp": int(time.time()) + 600}
    )
    assert_problem(start(client, forged), 401)
    assert_problem(start(client, "garbage"), 401)
    assert_problem(start(client, ""), 401)
    assert stored_states(oauth_app) == 0


def test_start_with_an_expired_connect_token_is_unauthorized(build_oauth_app, tenant):
    app = build_oauth_app(HUB_CONNECT_TOKEN_TTL_SECONDS=1)
    client = app.test_client()
    token = connect_token(client, tenant)
    time.sleep(2.1)  # itsdangerous timestamps have one-second resolution
    assert_problem(start(client, token), 401)
    assert stored_states(app) == 0


def test_the_tenant_comes_from_the_connect_token_only(oauth_app, client, tenant, other_tenant):
    token = connect_token(client, tenant)

    smuggled = start(client, token, tenant_id=other_tenant.id)
    both = client.get("/api/oauth/start/demo", query_string={"connect_token": token}, headers=other_tenant.headers)

    assert "tenant" in assert_problem(smuggled, 400)["detail"]
    assert "not both" in assert_problem(both, 400)["detail"]
    assert stored_states(oauth_app) == 0


def test_a_connect_token_limited_to_other_connectors_is_forbidden(build_oauth_app, tenant):
    app = build_oauth_app(connectors=("demo", "other"))
    client = app.test_client()
    token = connect_token(client, tenant, allowed_connectors=["other"])

    assert_problem(start(client, token, "demo"), 403)
    assert start(client, token, "other").status_code == 302


# start: the connector -----------------------------------------------------


def test_start_for_an_unknown_connector_is_not_found(oauth_app, client, tenant):
    assert_problem(start(client, connect_token(client, tenant), "nope"), 404)


def test_start_for_a_connector_without_oauth_is_a_bad_request(oauth_app, client, tenant):
    oauth_app.extensions["hub"].plugins.register_connector("keys", ApiKeyConnector())
    problem = assert_problem(start(client, connect_token(client, tenant), "keys"), 400)
    assert "OAuth" in problem["detail"]
    assert stored_states(oauth_app) == 0


def test_start_for_a_connector_without_client_credentials_is_unavailable(make_app, provider, tenant):
    from tests.oauth_fixtures import install_connector, provider_settings

    app = make_app(**provider_settings("demo", provider, with_client=False))
    install_connector(app, "demo", provider)
    client = app.test_client()

    problem = assert_problem(start(client, connect_token(client, tenant)), 503)

    assert "OAUTH_DEMO_CLIENT_ID" in problem["detail"]
    assert stored_states(app) == 0


# start: return_to ---------------------------------------------------------


@pytest.mark.parametrize(
    "return_to",
    [
        "https://evil.test/",
        "http://evil.test/app",
        "//evil.test/path",
        "https://frontend.test/",
        "http://frontend.test.evil.test/",
        "http://frontend.test@evil.test/",
        "http://frontend.test:8080/",
        "javascript:alert(1)",
        "/relative/path",
        "http://frontend.test/\\evil",
        "http://frontend.test/ok\r\nLocation: http://evil.test",
        "http://frontend.test/" + "a" * 3000,
    ],
)
def test_return_to_outside_the_frontend_is_refused(oauth_app, client, tenant, return_to):
    problem = assert_problem(start(client, connect_token(client, tenant), return_to=return_to), 400)
    assert "FRONTEND_URL" in problem["detail"]
    assert stored_states(oauth_app) == 0


@pytest.mark.parametrize(
    "return_to",
    ["http://other.test/appstore", "http://other.test/app/../admin", "http://other.test/app/%2e%2e/admin", "http://other.test/app/./x/../../admin"],
)
def test_return_to_must_stay_under_the_frontend_path(build_oauth_app, tenant, return_to):
    app = build_oauth_app(FRONTEND_URL="http://other.test/app")
    client = app.test_client()
    assert_problem(start(client, connect_token(client, tenant), return_to=return_to), 400)


@pytest.mark.parametrize("return_to", ["http://other.test/app", "http://other.test/app/", "http://other.test/app/connected?x=1"])
def test_return_to_under_the_frontend_path_is_accepted(build_oauth_app, tenant, return_to):
    app = build_oauth_app(FRONTEND_URL="http://other.test/app")
    client = app.test_client()
    assert start(client, connect_token(client, tenant), return_to=return_to).status_code == 302


def test_return_to_is_checked_before_the_client_configuration(make_app, provider, tenant):
    from tests.oauth_fixtures import install_connector, provider_settings

    app = make_app(**provider_settings("demo", provider, with_client=False))
    install_connector(app, "demo", provider)
    client = app.test_client()
    assert_problem(start(client, connect_token(client, tenant), return_to="https://evil.test/"), 400)


def test_the_frontend_itself_is_a_valid_return_to(client, tenant):
    response = start(client, connect_token(client, tenant), return_to=FRONTEND_URL)
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["state"]
