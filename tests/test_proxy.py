"""The proxy: a tenant's call reaches its provider with the integration's credentials, and comes back unchanged.

Real HTTP throughout: the caller to the hub served on 127.0.0.1, the hub to
a fake provider API and a fake OAuth token endpoint (tests/proxy_fixtures.py).
"""

from __future__ import annotations

import gzip
import logging
import socket

import pytest
import requests

from hub import hookimpl
from hub.tenancy.integrations import create_integration, update_integration_status
from hub.testing import make_tenant
from hub.types import ConnectorInfo
from tests.proxy_fixtures import CONNECTED_ACCOUNT, CONNECTORS, PLATFORM_KEY, STRIPE_KEY

OAUTH_CONNECTORS = ("gmail", "slack")
AUTH_OF = {"gmail": "Bearer fake-at-", "slack": "Bearer fake-at-", "stripe": f"Bearer {STRIPE_KEY}"}
BASE_PATH = {"gmail": "", "slack": "/api", "stripe": ""}


def problem_of(response: requests.Response, status: int) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    return response.json()


# reaching the provider ------------------------------------------------------


def test_a_proxied_call_reaches_the_base_url_with_the_integrations_authentication(connection):
    response = connection.call("GET", "v1/things/42", params={"limit": "3"})

    assert response.status_code == 200, response.text
    assert response.headers["Hub-Proxy-Attempts"] == "1"
    seen = connection.api.seen[-1]
    assert seen.target == f"{BASE_PATH[connection.connector]}/v1/things/42?limit=3"
    assert seen.headers["Authorization"].startswith(AUTH_OF[connection.connector])
    assert connection.tenant.api_key not in str(seen.headers), "the caller's hub key never reaches the provider"
    assert response.json()["target"] == seen.target


def test_every_method_is_forwarded_with_its_body(connection):
    for method in ("POST", "PUT", "PATCH", "DELETE"):
        response = connection.call(method, "items", data=b'{"text":"hello"}', headers={"Content-Type": "application/json"})
        assert response.status_code == (201 if method == "POST" else 200), response.text
        assert response.json()["body_bytes"] == 16
        assert connection.api.seen[-1].headers["Content-Type"] == "application/json"
    head = connection.call("HEAD", "items")
    assert head.status_code == 200 and head.content == b""
    assert [seen.method for seen in connection.api.seen] == ["POST", "PUT", "PATCH", "DELETE", "HEAD"]


def test_the_provider_answer_comes_back_unchanged_but_for_its_cookies_and_origin_headers(connection):
    response = connection.call("GET", "cookies")

    assert response.status_code == 200
    assert response.headers["Request-Id"] == "req_123"
    for name in ("Set-Cookie", "Access-Control-Allow-Origin", "Strict-Transport-Security", "Alt-Svc"):
        assert name not in response.headers
    assert response.headers["Hub-Proxy-Attempts"] == "1", "a provider's own Hub-* header never passes for the hub's"


def test_a_compressed_body_comes_back_as_the_provider_sent_it(connection):
    response = connection.call("GET", "gzipped", headers={"Accept-Encoding": "gzip"}, stream=True)

    raw = response.raw.read(decode_content=False)
    assert response.headers["Content-Encoding"] == "gzip"
    assert int(response.headers["Content-Length"]) == len(raw)
    assert gzip.decompress(raw) == b'{"compressed": true}'
    assert connection.api.seen[-1].headers["Accept-Encoding"] == "gzip"


def test_without_accept_encoding_the_provider_is_asked_for_identity(connection):
    status, _headers, _body = connection.raw("GET", f"{connection.prefix}/plain")
    assert status == 200
    assert connection.api.seen[-1].headers["Accept-Encoding"] == "identity"


def test_a_redirect_is_returned_not_followed(connection):
    response = connection.call("GET", "redirect", allow_redirects=False)

    assert response.status_code == 302
    assert response.headers["Location"] == "http://127.0.0.1:9/elsewhere"
    assert len(connection.api.seen) == 1


def test_the_callers_credentials_routing_and_hub_headers_never_reach_the_provider(connection):
    response = connection.call(
        "GET",
        "headers",
        headers={
            "Cookie": "hub_session=secret",
            "Proxy-Authorization": "Basic c2VjcmV0",
            "X-Forwarded-For": "10.0.0.1",
            "X-Forwarded-Host": "evil.example",
            "Forwarded": "for=10.0.0.1",
            "Via": "1.1 evil",
            "Hub-Retries": "0",
            "Hub-Anything": "x",
            "Connection": "X-Drop-Me",
            "X-Drop-Me": "hop-by-hop",
            "X-Trace": "kept",
        },
    )

    assert response.status_code == 200, response.text
    seen = {name.lower(): value for name, value in connection.api.seen[-1].headers.items()}
    for name in ("cookie", "proxy-authorization", "x-forwarded-for", "x-forwarded-host", "forwarded", "via", "hub-retries", "hub-anything", "x-drop-me"):
        assert name not in seen, name
    assert seen["x-trace"] == "kept"
    assert seen["host"] == connection.api.base_url.removeprefix("http://")


# the hub's own refusals -----------------------------------------------------


def test_another_tenants_integration_is_not_found(connection):
    intruder = make_tenant(connection.app, "Intruder")

    response = requests.get(f"{connection.hub_url}{connection.prefix}/v1/things", headers=intruder.headers, timeout=30)

    assert problem_of(response, 404)["status"] == 404
    unknown = requests.get(f"{connection.hub_url}/api/integrations/no-such-id/proxy/v1/things", headers=connection.tenant.headers, timeout=30)
    assert unknown.status_code == 404
    assert connection.api.seen == []


def test_no_api_key_is_401(connection):
    response = requests.get(f"{connection.hub_url}{connection.prefix}/v1/things", timeout=30)
    assert problem_of(response, 401)
    assert connection.api.seen == []


def test_an_integration_that_is_not_active_is_409(connection):
    with connection.app.app_context():
        update_integration_status(connection.tenant.id, connection.integration_id, "disabled")

    assert "disabled" in problem_of(connection.call("GET", "v1/things"), 409)["detail"]
    assert connection.api.seen == []


PATH_ESCAPES = [
    "../admin",
    "v1/../../admin",
    "v1/./things",
    "%2e%2e/admin",
    "%2E%2E/admin",
    "%2e./admin",
    "v1/%252e%252e/admin",
    "%EF%BC%8E%EF%BC%8E/admin",
    "v1%2F..%2Fadmin",
    "v1%5C..%5Cadmin",
    "v1\\..\\admin",
    "v1/%3Fx",
    "v1/%23x",
    "v1;jsessionid=1",
    "v1/%00",
    "v1/a%0d%0aX-Injected:1",
    "user@evil.example/v1",
    "/evil.example/v1",
    "//evil.example/v1",
    "http://evil.example/v1",
    "https:%2F%2Fevil.example",
]


@pytest.mark.parametrize("escape", PATH_ESCAPES)
def test_a_path_that_leaves_the_base_url_is_refused_before_any_connection(make_connection, escape):
    connection = make_connection("stripe")

    status, headers, body = connection.raw("GET", f"{connection.prefix}/{escape}")

    assert status == 400, body
    assert headers["Content-Type"] == "application/problem+json"
    assert connection.api.seen == []


def test_raw_control_characters_are_refused_before_any_connection(make_connection):
    connection = make_connection("gmail")

    for target in (f"{connection.prefix}/v1/a\tb", f"{connection.prefix}/v1?q=a\x7fb", f"{connection.prefix}/v1/a\x00b"):
        status, _headers, _body = connection.raw("GET", target)
        assert status == 400, target
    assert connection.api.seen == []
    assert connection.oauth.refresh_requests == []


def test_hub_retries_must_be_a_number_from_0_to_10(connection):
    for value in ("11", "-1", "two", "1.5"):
        assert problem_of(connection.call("GET", "v1/things", headers={"Hub-Retries": value}), 400)
    assert connection.api.seen == []


def test_a_body_over_the_limit_is_413_before_any_connection(make_connection):
    connection = make_connection("slack", HUB_PROXY_MAX_BYTES=1024)

    status, headers, _body = connection.raw("POST", f"{connection.prefix}/chat.postMessage", body=b"x" * 1025)
    assert status == 413
    assert headers["Content-Type"] == "application/problem+json"

    chunked = connection.call("POST", "chat.postMessage", data=iter([b"x" * 1000, b"y" * 1000]))
    assert problem_of(chunked, 413)
    assert all(seen.body_size <= 1024 for seen in connection.api.seen)
    assert connection.call("POST", "chat.postMessage", data=b"x" * 1024).status_code == 201


def test_the_hubs_rate_limit_per_integration_is_a_429_problem(make_connection):
    connection = make_connection("stripe", HUB_PROXY_RATE_LIMIT="2/minute")

    assert connection.call("GET", "v1/a").status_code == 200
    assert connection.call("GET", "v1/b").status_code == 200
    limited = connection.call("GET", "v1/c")

    assert problem_of(limited, 429)
    assert int(limited.headers["Retry-After"]) >= 1
    assert len(connection.api.seen) == 2


# credentials ----------------------------------------------------------------


@pytest.mark.parametrize("connector", OAUTH_CONNECTORS)
def test_a_provider_401_refreshes_the_token_once_and_retries_once(make_connection, connector):
    connection = make_connection(connector)
    _, before = connection.stored()
    connection.oauth.tokens[before["access_token"]].expires_at = 0  # the provider stopped taking it early

    response = connection.call("POST", "upload", data=b"the same body twice")

    assert response.status_code == 200, response.text
    assert response.headers["Hub-Proxy-Attempts"] == "2"
    assert connection.oauth.refresh_token_uses == {before["refresh_token"]: 1}
    first, second = connection.api.seen
    assert first.headers["Authorization"] == f"Bearer {before['access_token']}"
    _, after = connection.stored()
    assert second.headers["Authorization"] == f"Bearer {after['access_token']}" != first.headers["Authorization"]
    assert first.body_size == second.body_size == len(b"the same body twice")


@pytest.mark.parametrize("connector", OAUTH_CONNECTORS)
def test_a_401_after_a_refresh_comes_back_to_the_caller(make_connection, connector):
    connection = make_connection(connector)
    connection.api.script["things"] = [(401, {"Content-Type": "application/json"}, b'{"error": "invalid_auth"}')] * 2

    response = connection.call("GET", "v1/things")

    assert response.status_code == 401
    assert response.json() == {"error": "invalid_auth"}
    assert response.headers["Hub-Proxy-Attempts"] == "2"
    assert len(connection.oauth.refresh_requests) == 1


def test_an_api_key_refused_by_stripe_comes_back_as_stripes_401(make_connection):
    connection = make_connection("stripe", api_key="rk_test_another_key")

    response = connection.call("GET", "v1/charges")

    assert response.status_code == 401
    assert response.headers["Hub-Proxy-Attempts"] == "1"


@pytest.mark.parametrize("connector", OAUTH_CONNECTORS)
def test_an_expiring_token_is_refreshed_before_the_call(make_connection, connector):
    connection = make_connection(connector, lifetime=60)
    _, before = connection.stored()

    response = connection.call("GET", "v1/things")

    assert response.status_code == 200, response.text
    assert response.headers["Hub-Proxy-Attempts"] == "1"
    assert connection.oauth.refresh_token_uses == {before["refresh_token"]: 1}
    _, after = connection.stored()
    assert connection.api.seen[0].headers["Authorization"] == f"Bearer {after['access_token']}"


@pytest.mark.parametrize("connector", OAUTH_CONNECTORS)
def test_invalid_grant_is_409_and_the_integration_needs_reauth(make_connection, connector):
    connection = make_connection(connector, lifetime=60)
    connection.oauth.token_error = "invalid_grant"

    first = problem_of(connection.call("GET", "v1/things"), 409)
    integration, _ = connection.stored()

    assert integration.status == "needs_reauth"
    assert first["title"] == "Reauthorization required"
    assert problem_of(connection.call("GET", "v1/things"), 409)
    assert connection.api.seen == []
    assert len(connection.oauth.refresh_requests) == 1


@pytest.mark.parametrize("connector", OAUTH_CONNECTORS)
def test_invalid_grant_after_a_provider_401_is_409(make_connection, connector):
    connection = make_connection(connector)
    _, before = connection.stored()
    connection.oauth.tokens[before["access_token"]].expires_at = 0
    connection.oauth.token_error = "invalid_grant"

    response = connection.call("GET", "v1/things")

    assert problem_of(response, 409)
    assert response.headers["Hub-Proxy-Attempts"] == "1"
    integration, _ = connection.stored()
    assert integration.status == "needs_reauth"
    assert len(connection.api.seen) == 1


def test_a_connect_integration_acts_as_the_platform_for_its_own_account_only(make_connection):
    connection = make_connection("stripe", credentials={"stripe_user_id": CONNECTED_ACCOUNT}, api_key=PLATFORM_KEY)
    connection.api.required_headers = {"Stripe-Account": CONNECTED_ACCOUNT}

    response = connection.call("POST", "v1/refunds", data={"charge": "ch_1"}, headers={"Stripe-Account": "acct_1SomeoneElse"})

    assert response.status_code == 201, response.text
    seen = connection.api.seen[-1]
    assert seen.headers["Stripe-Account"] == CONNECTED_ACCOUNT
    assert seen.headers["Authorization"] == f"Bearer {PLATFORM_KEY}"


def test_an_api_key_integration_cannot_name_another_account(make_connection):
    connection = make_connection("stripe")

    assert connection.call("GET", "v1/balance", headers={"Stripe-Account": "acct_1SomeoneElse"}).status_code == 200
    assert "Stripe-Account" not in connection.api.seen[-1].headers


# retries --------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 503])
def test_hub_retries_waits_out_a_short_retry_after(connection, status):
    connection.api.script["things"] = [(status, {"Retry-After": "0"}, b"busy"), (status, {"Retry-After": "1"}, b"busy")]

    response = connection.call("GET", "v1/things", headers={"Hub-Retries": "3"})

    assert response.status_code == 200, response.text
    assert response.headers["Hub-Proxy-Attempts"] == "3"


def test_without_hub_retries_the_providers_429_comes_back(connection):
    connection.api.script["things"] = [(429, {"Retry-After": "0", "X-RateLimit-Remaining": "0"}, b"slow down")]

    response = connection.call("GET", "v1/things")

    assert response.status_code == 429
    assert response.content == b"slow down"
    assert response.headers["X-RateLimit-Remaining"] == "0"
    assert response.headers["Hub-Proxy-Attempts"] == "1"


def test_a_retry_after_beyond_the_limit_comes_back_at_once(make_connection):
    connection = make_connection("slack", HUB_PROXY_MAX_RETRY_AFTER_SECONDS=2)
    connection.api.script["chat.postMessage"] = [(429, {"Retry-After": "3600"}, b"ratelimited")]

    response = connection.call("POST", "chat.postMessage", headers={"Hub-Retries": "10"})

    assert response.status_code == 429
    assert response.headers["Retry-After"] == "3600"
    assert response.headers["Hub-Proxy-Attempts"] == "1"


def test_retries_stop_at_the_count_the_caller_gave(connection):
    connection.api.script["things"] = [(503, {}, b"down")] * 5

    response = connection.call("GET", "v1/things", headers={"Hub-Retries": "2"})

    assert response.status_code == 503
    assert response.headers["Hub-Proxy-Attempts"] == "3"


def test_a_post_is_retried_after_a_503_only_under_an_idempotency_key_the_provider_honours(make_connection):
    slack = make_connection("slack")
    slack.api.script["chat.postMessage"] = [(503, {"Retry-After": "0"}, b"down")]
    assert slack.call("POST", "chat.postMessage", headers={"Hub-Retries": "2", "Idempotency-Key": "k1"}).status_code == 503

    stripe = make_connection("stripe")
    stripe.api.script["charges"] = [(503, {"Retry-After": "0"}, b"down")]
    assert stripe.call("POST", "v1/charges", headers={"Hub-Retries": "2"}).status_code == 503
    stripe.api.script["charges"] = [(503, {"Retry-After": "0"}, b"down")]
    retried = stripe.call("POST", "v1/charges", headers={"Hub-Retries": "2", "Idempotency-Key": "k1"})
    assert retried.status_code == 201
    assert retried.headers["Hub-Proxy-Attempts"] == "2"
    assert stripe.api.seen[-1].headers["Idempotency-Key"] == "k1"


def test_a_post_is_retried_after_a_429(make_connection):
    connection = make_connection("slack")
    connection.api.script["chat.postMessage"] = [(429, {"Retry-After": "0"}, b"ratelimited")]

    response = connection.call("POST", "chat.postMessage", headers={"Hub-Retries": "1"})

    assert response.status_code == 201
    assert response.headers["Hub-Proxy-Attempts"] == "2"


@pytest.mark.parametrize("connector", CONNECTORS)
def test_a_provider_that_does_not_answer_in_time_is_504(make_connection, connector):
    connection = make_connection(connector, HUB_PROXY_TIMEOUT_SECONDS=0.5)

    response = connection.call("GET", "slow", params={"seconds": "3"}, headers={"Hub-Retries": "2"})

    assert problem_of(response, 504)
    assert response.headers["Hub-Proxy-Attempts"] == "1"


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.parametrize("connector", CONNECTORS)
def test_a_provider_that_refuses_the_connection_is_502(make_connection, connector):
    nowhere = f"http://127.0.0.1:{closed_port()}" + BASE_PATH[connector]
    connection = make_connection(connector, **{f"{connector.upper()}_API_BASE_URL": nowhere})

    response = connection.call("GET", "v1/charges", headers={"Hub-Retries": "2"})

    assert problem_of(response, 502)
    assert response.headers["Hub-Proxy-Attempts"] == "3"


# observability --------------------------------------------------------------


def test_each_call_is_logged_without_credentials_or_query_values(connection, caplog):
    caplog.set_level(logging.INFO, logger="hub.provider.proxy")

    connection.call("GET", "v1/things", params={"api_token": "query-secret-value"})

    lines = [record for record in caplog.records if record.name == "hub.provider.proxy"]
    assert len(lines) == 1
    text = lines[0].getMessage() + str(lines[0].__dict__)
    for fragment in ("v1/things", connection.integration_id, connection.connector, "200"):
        assert fragment in text
    assert "query-secret-value" not in text
    _, credentials = connection.stored()
    assert all(str(secret) not in text for secret in credentials.values())


def test_each_call_is_counted(connection):
    from prometheus_client import REGISTRY

    labels = {"connector": connection.connector, "method": "GET", "outcome": "2xx"}
    before = REGISTRY.get_sample_value("hub_proxy_requests_total", labels) or 0.0
    connection.call("GET", "v1/things")
    assert REGISTRY.get_sample_value("hub_proxy_requests_total", labels) == before + 1
    assert REGISTRY.get_sample_value("hub_proxy_seconds_count", {"connector": connection.connector}) >= 1


class _NoApiConnector:
    """A connector that has no API to proxy to (no proxy_config hook)."""

    @hookimpl
    def connector_info(self) -> ConnectorInfo:
        return ConnectorInfo(display_name="No API", auth_kind="api_key", credential_fields={"api_key": "a key"})


def test_a_connector_without_an_api_base_url_is_400(make_connection):
    connection = make_connection("stripe")
    connection.app.extensions["hub"].plugins.register_connector("noapi", _NoApiConnector())
    with connection.app.app_context():
        integration_id = create_integration(connection.tenant.id, connector="noapi", name="n", credentials={"api_key": "k"}).id

    response = requests.get(f"{connection.hub_url}/api/integrations/{integration_id}/proxy/v1/things", headers=connection.tenant.headers, timeout=30)

    assert "no API base URL" in problem_of(response, 400)["detail"]


@pytest.mark.parametrize("connector", OAUTH_CONNECTORS)
def test_a_token_endpoint_that_fails_is_503_and_the_provider_is_not_called(make_connection, connector):
    connection = make_connection(connector, lifetime=60)
    connection.oauth.token_error_status = 500

    response = connection.call("GET", "v1/things")

    assert problem_of(response, 503)["title"] == "Token refresh failed"
    assert connection.api.seen == []
    integration, _ = connection.stored()
    assert integration.status == "active"


def test_a_connect_integration_without_the_platform_key_is_503_not_500(make_connection):
    connection = make_connection("stripe", credentials={"stripe_user_id": CONNECTED_ACCOUNT}, OAUTH_STRIPE_CLIENT_SECRET="")

    response = connection.call("GET", "v1/balance")

    assert problem_of(response, 503)["title"] == "Connector not configured"
    assert connection.api.seen == []


def test_a_deleted_integration_is_not_found_and_a_revoked_one_is_409(make_connection):
    deleted = make_connection("stripe")
    assert requests.delete(f"{deleted.hub_url}/api/integrations/{deleted.integration_id}", headers=deleted.tenant.headers, timeout=30).status_code == 204
    assert problem_of(deleted.call("GET", "v1/balance"), 404)

    revoked = make_connection("slack")
    with revoked.app.app_context():
        update_integration_status(revoked.tenant.id, revoked.integration_id, "revoked")
    assert "revoked" in problem_of(revoked.call("GET", "auth.test"), 409)["detail"]
    assert deleted.api.seen == [] and revoked.api.seen == []
