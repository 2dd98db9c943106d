"""The OAuth connect flow against a real authorization server on 127.0.0.1.

Every test runs on SQLite and PostgreSQL; the ones that touch OAuth state
also run with the state in the database and in Redis.
"""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from authlib.oauth2.rfc7636 import create_s256_code_challenge

from hub.oauth.browser import MAX_PENDING_FLOWS, cookie_name
from hub.oauth.state import hash_state
from hub.runtime import current_hub
from hub.storage.models import Integration, OAuthState, db, utcnow
from hub.tenancy.integrations import decrypt_credentials
from tests.oauth_fixtures import FRONTEND_URL, authorize, callback, connect, connect_token, query_of, start


@pytest.fixture
def oauth_app(build_oauth_app, state_backend):
    return build_oauth_app(**state_backend)


@pytest.fixture
def client(oauth_app):
    return oauth_app.test_client()


def integrations_of(app, tenant_id):
    with app.app_context():
        rows = db.session.execute(
            sa.select(Integration).where(Integration.tenant_id == tenant_id).order_by(Integration.created_at)
        ).scalars().all()
        return [(row, decrypt_credentials(row)) for row in rows]


def all_integrations(app):
    with app.app_context():
        return db.session.execute(sa.select(Integration)).scalars().all()


def pending_states(app, redis_client=None):
    """How many OAuth states are stored, wherever this app keeps them."""
    with app.app_context():
        if app.config.get("REDIS_URL"):
            hub = current_hub()
            return sum(1 for _ in hub.redis.scan_iter(match=hub.oauth_states.key("*")))
        return db.session.execute(sa.select(sa.func.count()).select_from(OAuthState)).scalar_one()


def replace_query(url, **changes):
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == status
    return response.json


# the happy path -----------------------------------------------------------


def test_full_connect_flow_stores_an_encrypted_integration(oauth_app, client, provider, tenant, other_tenant):
    landed = connect(client, tenant)

    assert landed["status"] == "success"
    [(integration, credentials)] = integrations_of(oauth_app, tenant.id)
    assert landed["integration_id"] == integration.id
    assert integration.connector == "demo"
    assert integration.external_account_id == "account-1"
    assert integration.name == "Test Account"
    assert integration.end_user_id == "user-42"
    assert integration.status == "active"
    assert credentials["access_token"] in provider.tokens
    assert credentials["refresh_token"] in provider.refresh_tokens
    assert credentials["token_type"] == "Bearer"
    assert credentials["scope"] == "read write"
    assert abs(credentials["expires_at"] - (time.time() + 3600)) < 60
    assert integration.token_expires_at - utcnow() > timedelta(minutes=55)
    assert credentials["access_token"] not in integration.credentials_ciphertext
    assert client.get("/api/integrations", headers=other_tenant.headers).json["integrations"] == []
    listed = client.get("/api/integrations", headers=tenant.headers).json["integrations"]
    assert [item["id"] for item in listed] == [integration.id]


def test_start_redirects_to_the_provider_with_state_pkce_and_the_callback(oauth_app, client, provider, tenant):
    response = start(client, connect_token(client, tenant))

    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(provider.authorize_url + "?")
    query = query_of(location)
    assert query["response_type"] == "code"
    assert query["client_id"] == provider.client_id
    assert query["redirect_uri"] == "http://hub.test/api/oauth/callback/demo"
    assert query["scope"] == "read write"
    assert query["access_type"] == "offline"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 43  # 256 bits; the plugin cannot override it
    assert "client_secret" not in location and provider.client_secret not in location
    assert response.headers["Cache-Control"] == "no-store"


def test_the_state_is_stored_server_side_as_a_hash_with_a_sealed_payload(oauth_app, client, tenant):
    state = query_of(start(client, connect_token(client, tenant)).headers["Location"])["state"]

    with oauth_app.app_context():
        if oauth_app.config.get("REDIS_URL"):
            hub = current_hub()
            keys = [key.decode() for key in hub.redis.scan_iter(match=hub.oauth_states.key("*"))]
            assert keys == [hub.oauth_states.key(hash_state(state))]
            sealed = hub.redis.get(keys[0]).decode()
            assert 590 < hub.redis.pttl(keys[0]) / 1000 <= 600
        else:
            row = db.session.execute(sa.select(OAuthState)).scalar_one()
            assert row.state_hash == hashlib.sha256(state.encode()).hexdigest()
            assert timedelta(minutes=9) < row.expires_at - utcnow() <= timedelta(minutes=10)
            sealed = row.payload_ciphertext
    assert state not in sealed and tenant.id not in sealed and "user-42" not in sealed


def test_a_tenant_api_key_can_start_the_flow_for_its_own_tenant(oauth_app, client, tenant, other_tenant):
    started = client.get("/api/oauth/start/demo", headers=other_tenant.headers)
    assert started.status_code == 302
    landed = query_of(callback(client, authorize(started.headers["Location"])).headers["Location"])

    assert landed["status"] == "success"
    assert integrations_of(oauth_app, tenant.id) == []
    [(integration, _)] = integrations_of(oauth_app, other_tenant.id)
    assert integration.id == landed["integration_id"]
    assert integration.end_user_id is None


def test_return_to_under_the_frontend_receives_the_outcome(oauth_app, client, tenant):
    landed_at = None
    started = start(client, connect_token(client, tenant), return_to=FRONTEND_URL + "/settings/apps?tab=new#top")
    finished = callback(client, authorize(started.headers["Location"]))
    landed_at = finished.headers["Location"]

    parts = urlsplit(landed_at)
    assert (parts.scheme, parts.netloc, parts.path, parts.fragment) == ("http", "frontend.test", "/settings/apps", "top")
    query = query_of(landed_at)
    assert query["tab"] == "new" and query["status"] == "success" and query["integration_id"]


def test_reconnecting_the_same_account_updates_the_integration_instead_of_duplicating(oauth_app, client, provider, tenant):
    first = connect(client, tenant)
    with oauth_app.app_context():
        from hub.tenancy.integrations import update_integration_status

        update_integration_status(tenant.id, first["integration_id"], "needs_reauth")
    [(before, old_credentials)] = integrations_of(oauth_app, tenant.id)

    second = connect(client, tenant)

    assert second["status"] == "success"
    assert second["integration_id"] == first["integration_id"]
    [(after, new_credentials)] = integrations_of(oauth_app, tenant.id)
    assert after.status == "active"
    assert after.version == before.version + 1
    assert new_credentials["access_token"] != old_credentials["access_token"]


def test_the_same_account_in_another_tenant_is_a_separate_integration(oauth_app, client, tenant, other_tenant):
    mine = connect(client, tenant)
    theirs = connect(client, other_tenant)
    assert mine["integration_id"] != theirs["integration_id"]
    assert len(all_integrations(oauth_app)) == 2


@pytest.mark.parametrize("auth_method", ["client_secret_post", "client_secret_basic"])
def test_the_connectors_client_authentication_method_is_used(build_oauth_app, provider, tenant, auth_method):
    provider.token_endpoint_auth_method = auth_method  # the provider accepts only this method
    app = build_oauth_app()
    landed = connect(app.test_client(), tenant)

    assert landed["status"] == "success"
    assert [r["client_auth"] for r in provider.token_requests] == [auth_method]


def test_a_provider_without_pkce_gets_no_challenge(build_oauth_app, provider, tenant):
    provider.require_pkce = False
    app = build_oauth_app()
    client = app.test_client()
    location = start(client, connect_token(client, tenant)).headers["Location"]
    assert "code_challenge" not in query_of(location)

    landed = query_of(callback(client, authorize(location)).headers["Location"])
    assert landed["status"] == "success"
    assert provider.token_requests[0]["code_verifier"] is False


# PKCE ---------------------------------------------------------------------


def test_the_provider_checks_the_pkce_verifier(oauth_app, client, provider, tenant):
    location = start(client, connect_token(client, tenant)).headers["Location"]
    other_challenge = create_s256_code_challenge("a-different-verifier-" + "x" * 40)
    forged = replace_query(location, code_challenge=other_challenge)

    landed = query_of(callback(client, authorize(forged)).headers["Location"])

    assert landed == {"status": "error", "error": "invalid_grant", "connector": "demo"}
    assert provider.token_requests[0]["code_verifier"] is True
    assert all_integrations(oauth_app) == []


def test_a_provider_that_requires_pkce_refuses_an_authorization_without_it(oauth_app, client, provider, tenant):
    location = start(client, connect_token(client, tenant)).headers["Location"]
    stripped = replace_query(location, code_challenge=None, code_challenge_method=None)

    landed = query_of(callback(client, authorize(stripped)).headers["Location"])

    assert landed["status"] == "error" and landed["error"] == "invalid_request"
    assert provider.token_requests == []
    assert all_integrations(oauth_app) == []


# state --------------------------------------------------------------------


def test_a_reused_state_is_rejected(oauth_app, client, tenant):
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])
    assert query_of(callback(client, back).headers["Location"])["status"] == "success"

    problem = assert_problem(callback(client, back), 400)

    assert "already used" in problem["detail"]
    assert len(all_integrations(oauth_app)) == 1


def test_an_expired_state_is_rejected(build_oauth_app, state_backend, tenant):
    app = build_oauth_app(HUB_OAUTH_STATE_TTL_SECONDS=1, **state_backend)
    client = app.test_client()
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])
    time.sleep(1.3)

    assert_problem(callback(client, back), 400)
    assert all_integrations(app) == []


def test_a_tampered_state_is_rejected_and_the_real_one_still_works(oauth_app, client, tenant):
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])
    state = query_of(back)["state"]
    tampered = state[:-1] + ("A" if state[-1] != "A" else "B")

    assert_problem(callback(client, replace_query(back, state=tampered)), 400)
    assert all_integrations(oauth_app) == []
    assert query_of(callback(client, back).headers["Location"])["status"] == "success"


@pytest.mark.parametrize(
    "state",
    [None, "", "short", "x" * 200, "not/base64url+at=all" * 3, "A" * 43],
    ids=["missing", "empty", "short", "too-long", "bad-characters", "unknown"],
)
def test_a_missing_or_unknown_state_is_rejected(oauth_app, client, tenant, state):
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])

    problem = assert_problem(callback(client, replace_query(back, state=state)), 400)

    assert problem["title"] == "Invalid OAuth state"
    assert all_integrations(oauth_app) == []
    assert pending_states(oauth_app) == 1  # the real state was not touched


def test_a_state_minted_for_another_connector_is_rejected(build_oauth_app, state_backend, tenant):
    app = build_oauth_app(connectors=("demo", "other"), **state_backend)
    client = app.test_client()
    back = authorize(start(client, connect_token(client, tenant), "demo").headers["Location"])
    hijacked = back.replace("/api/oauth/callback/demo", "/api/oauth/callback/other")

    problem = assert_problem(callback(client, hijacked), 400)

    assert "another connector" in problem["detail"]
    assert all_integrations(app) == []
    assert_problem(callback(client, back), 400)  # a state is consumed by its first use, even a wrong one


def test_a_callback_for_an_unknown_connector_is_not_found(oauth_app, client, tenant):
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])
    assert_problem(callback(client, back.replace("/callback/demo", "/callback/nope")), 404)
    assert query_of(callback(client, back).headers["Location"])["status"] == "success"


# the state is bound to the browser that started the flow ------------------


def flow_cookie(app, state):
    with app.app_context():
        return cookie_name(state)


def set_cookies(response):
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def test_a_provider_link_finished_in_another_browser_is_refused_and_spent(oauth_app, client, tenant):
    """The attacker starts a flow with her connect token and sends the provider's link to a victim."""
    attacker = client
    back = authorize(start(attacker, connect_token(attacker, tenant)).headers["Location"])
    victim = oauth_app.test_client()

    refused = callback(victim, back)

    assert "browser" in assert_problem(refused, 400)["detail"]
    assert all_integrations(oauth_app) == []
    assert pending_states(oauth_app) == 0, "the state is spent where it landed"
    assert_problem(callback(attacker, back), 400)
    assert all_integrations(oauth_app) == []


def test_a_flow_cookie_with_another_nonce_is_refused(oauth_app, client, tenant):
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])
    state = query_of(back)["state"]
    victim = oauth_app.test_client()
    victim.set_cookie(flow_cookie(oauth_app, state), "A" * 43)

    assert_problem(callback(victim, back), 400)
    assert all_integrations(oauth_app) == []
    assert victim.get_cookie(flow_cookie(oauth_app, state)) is None, "a refused callback clears the cookie too"


def test_another_flows_cookie_does_not_finish_this_flow(oauth_app, client, tenant):
    victim = oauth_app.test_client()
    start(victim, connect_token(victim, tenant))  # the victim holds a cookie of a flow of her own
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])

    assert_problem(callback(victim, back), 400)
    assert all_integrations(oauth_app) == []


def test_two_flows_in_one_browser_both_finish(build_oauth_app, state_backend, tenant):
    app = build_oauth_app(connectors=("demo", "other"), **state_backend)
    browser = app.test_client()
    first = authorize(start(browser, connect_token(browser, tenant), "demo").headers["Location"])
    second = authorize(start(browser, connect_token(browser, tenant), "other").headers["Location"])

    finished_second = query_of(callback(browser, second).headers["Location"])
    finished_first = query_of(callback(browser, first).headers["Location"])

    assert finished_first["status"] == finished_second["status"] == "success"
    assert {row.connector for row in all_integrations(app)} == {"demo", "other"}


def test_the_callback_clears_the_flows_cookie_whatever_the_outcome(oauth_app, client, provider, tenant):
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])
    name = flow_cookie(oauth_app, query_of(back)["state"])
    assert client.get_cookie(name) is not None

    finished = callback(client, back)

    assert "Max-Age=0" in set_cookies(finished)[name]
    assert client.get_cookie(name) is None
    provider.deny_authorization = True
    refused_back = authorize(start(client, connect_token(client, tenant)).headers["Location"])
    refused = callback(client, refused_back)
    assert query_of(refused.headers["Location"])["status"] == "error"
    assert client.get_cookie(flow_cookie(oauth_app, query_of(refused_back)["state"])) is None


def test_a_start_made_by_a_backend_with_an_api_key_cannot_be_finished_by_a_browser(oauth_app, tenant):
    backend, browser = oauth_app.test_client(), oauth_app.test_client()
    started = backend.get("/api/oauth/start/demo", headers=tenant.headers)
    assert started.status_code == 302

    assert_problem(callback(browser, authorize(started.headers["Location"])), 400)
    assert all_integrations(oauth_app) == []


def test_the_flow_cookie_on_http_is_httponly_lax_and_lives_as_long_as_the_state(oauth_app, client, tenant):
    started = start(client, connect_token(client, tenant))
    state = query_of(started.headers["Location"])["state"]
    [header] = started.headers.getlist("Set-Cookie")

    name, _, attributes = header.partition("=")
    assert name == flow_cookie(oauth_app, state) and name.startswith("hub_oauth_")
    assert state not in header
    parts = {part.strip().split("=")[0].lower(): part.strip() for part in attributes.split(";")[1:]}
    assert parts["max-age"] == "Max-Age=600"
    assert parts["path"] == "Path=/"
    assert parts["samesite"] == "SameSite=Lax"
    assert "httponly" in parts and "secure" not in parts and "domain" not in parts


def test_on_https_the_flow_cookie_is_secure_with_the_host_prefix_and_the_flow_works(build_oauth_app, state_backend, tenant):
    app = build_oauth_app(APP_BASE_URL="https://hub.test", **state_backend)
    browser = app.test_client()
    token = connect_token(browser, tenant)
    started = browser.get("/api/oauth/start/demo", query_string={"connect_token": token}, base_url="https://hub.test")
    [header] = started.headers.getlist("Set-Cookie")
    assert header.startswith("__Host-hub_oauth_") and "; Secure" in header and "; Path=/" in header

    back = urlsplit(authorize(started.headers["Location"]))
    finished = browser.get(back.path, query_string=back.query, base_url="https://hub.test")

    assert query_of(finished.headers["Location"])["status"] == "success"
    assert "__Host-hub_oauth_" in finished.headers["Set-Cookie"] and "Max-Age=0" in finished.headers["Set-Cookie"]


def test_many_abandoned_flows_do_not_pile_up_cookies(oauth_app, client, tenant):
    token = connect_token(client, tenant)
    abandoned = [flow_cookie(oauth_app, query_of(start(client, token).headers["Location"])["state"]) for _ in range(MAX_PENDING_FLOWS)]
    assert all(client.get_cookie(name) is not None for name in abandoned)

    latest = start(client, token)

    expired = [header for header in latest.headers.getlist("Set-Cookie") if "Max-Age=0" in header]
    assert len(expired) == MAX_PENDING_FLOWS
    assert all(client.get_cookie(name) is None for name in abandoned)
    assert client.get_cookie(flow_cookie(oauth_app, query_of(latest.headers["Location"])["state"])) is not None
    assert query_of(callback(client, authorize(latest.headers["Location"])).headers["Location"])["status"] == "success"


# the provider says no -----------------------------------------------------


def test_a_refused_authorization_redirects_with_the_error_and_stores_nothing(oauth_app, client, provider, tenant):
    provider.deny_authorization = True
    back = authorize(start(client, connect_token(client, tenant), return_to=FRONTEND_URL + "/done").headers["Location"])

    response = callback(client, back)

    assert response.status_code == 302
    assert response.headers["Location"].startswith(FRONTEND_URL + "/done?")
    assert query_of(response.headers["Location"]) == {"status": "error", "error": "access_denied", "connector": "demo"}
    assert all_integrations(oauth_app) == []
    assert pending_states(oauth_app) == 0


def test_a_failed_code_exchange_redirects_with_the_error_and_stores_nothing(oauth_app, client, provider, tenant):
    provider.token_error = "invalid_client"
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])

    landed = query_of(callback(client, back).headers["Location"])

    assert landed == {"status": "error", "error": "invalid_client", "connector": "demo"}
    assert all_integrations(oauth_app) == []


@pytest.mark.parametrize("dialect", ["form", "accept"])
def test_a_form_encoded_token_answer_connects_like_json(oauth_app, client, provider, tenant, dialect):
    """GitHub answers form-encoded unless asked for JSON; some providers always do."""
    provider.token_response_format = dialect

    landed = connect(client, tenant)

    assert landed["status"] == "success"
    [(_, credentials)] = integrations_of(oauth_app, tenant.id)
    assert credentials["access_token"] in provider.tokens


@pytest.mark.parametrize("dialect", ["json", "form"])
def test_an_error_under_http_200_is_an_error(oauth_app, client, provider, tenant, dialect):
    """GitHub answers a bad code with HTTP 200 and an `error` field."""
    provider.token_error, provider.token_error_http_status, provider.token_response_format = "bad_verification_code", 200, dialect
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])

    landed = query_of(callback(client, back).headers["Location"])

    assert landed == {"status": "error", "error": "bad_verification_code", "connector": "demo"}
    assert all_integrations(oauth_app) == []


def test_an_unreachable_token_endpoint_redirects_with_an_error(oauth_app, client, provider, tenant):
    provider.token_error_status = 503
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])

    landed = query_of(callback(client, back).headers["Location"])

    assert landed["status"] == "error" and landed["error"] == "temporarily_unavailable"
    assert all_integrations(oauth_app) == []


def test_a_provider_error_code_is_not_reflected_verbatim(oauth_app, client, tenant):
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])
    state = query_of(back)["state"]

    response = client.get("/api/oauth/callback/demo", query_string={"state": state, "error": "<script>x</script>"})

    assert query_of(response.headers["Location"])["error"] == "provider_error"


def test_a_callback_without_a_code_redirects_with_an_error(oauth_app, client, tenant):
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])
    response = client.get("/api/oauth/callback/demo", query_string={"state": query_of(back)["state"]})
    assert query_of(response.headers["Location"])["error"] == "invalid_request"
    assert all_integrations(oauth_app) == []


def test_a_connector_that_cannot_identify_the_account_ends_the_flow_with_an_error(oauth_app, client, provider, tenant):
    provider.api_error_status = 500  # the connector's user-info call fails
    back = authorize(start(client, connect_token(client, tenant)).headers["Location"])

    landed = query_of(callback(client, back).headers["Location"])

    assert landed == {"status": "error", "error": "account_lookup_failed", "connector": "demo"}
    assert all_integrations(oauth_app) == []


def test_an_unreachable_redis_state_store_is_a_503_not_a_crash(build_oauth_app, tenant):
    app = build_oauth_app(REDIS_URL="redis://127.0.0.1:1/0")
    response = app.test_client().get("/api/oauth/callback/demo", query_string={"state": "A" * 43, "code": "x"})
    problem = assert_problem(response, 503)
    assert "state store" in problem["detail"]
