"""`hub.connections.session`: in-process code uses a connection the way the proxy route does."""

from __future__ import annotations

import pytest

from hub import connections
from hub.errors import BadRequest, Conflict, NotFound
from hub.tenancy.integrations import update_integration_status
from hub.testing import make_tenant
from tests.proxy_fixtures import STRIPE_KEY


def test_a_session_calls_the_provider_as_the_integration(make_connection):
    connection = make_connection("slack")

    with connection.app.app_context():
        slack = connections.session(connection.tenant.id, connection.integration_id)
        response = slack.post("chat.postMessage", json={"channel": "C1", "text": "hi"}, params={"pretty": "1"})

    assert response.status_code == 201
    assert response.json()["target"] == "/api/chat.postMessage?pretty=1"
    assert response.proxy_attempts == 1
    seen = connection.api.seen[-1]
    assert seen.headers["Authorization"].startswith("Bearer fake-at-")
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.body_size == len(b'{"channel": "C1", "text": "hi"}')
    assert slack.base_url == connection.api.base_url + "/api"


def test_a_session_accepts_absolute_urls_under_the_base_url_only(make_connection):
    connection = make_connection("stripe")

    with connection.app.app_context():
        stripe = connections.session(connection.tenant.id, connection.integration_id)
        assert stripe.get(f"{stripe.base_url}/v1/balance?expand=x").json()["target"] == "/v1/balance?expand=x"
        with pytest.raises(BadRequest):
            stripe.get("https://evil.example/v1/balance")
    assert len(connection.api.seen) == 1


@pytest.mark.parametrize("path", ["../admin", "/../admin", "v1/%2e%2e/admin", "//evil.example/v1", "v1\\..\\admin", "user@evil.example", "v1/a\r\nX: 1"])
def test_a_session_refuses_paths_that_leave_the_base_url_before_any_connection(make_connection, path):
    connection = make_connection("gmail")

    with connection.app.app_context():
        gmail = connections.session(connection.tenant.id, connection.integration_id)
        with pytest.raises(BadRequest):
            gmail.get(path)
    assert connection.api.seen == []


def test_a_session_refreshes_once_on_a_401_and_sends_the_body_again(make_connection):
    connection = make_connection("gmail")
    _, before = connection.stored()
    connection.oauth.tokens[before["access_token"]].expires_at = 0

    with connection.app.app_context():
        gmail = connections.session(connection.tenant.id, connection.integration_id)
        response = gmail.post("upload", data=iter([b"one ", b"two"]))

    assert response.json()["bytes"] == 7
    assert response.proxy_attempts == 2
    assert connection.oauth.refresh_token_uses == {before["refresh_token"]: 1}


def test_a_session_retries_under_hub_retries(make_connection):
    connection = make_connection("stripe")
    connection.api.script["balance"] = [(503, {"Retry-After": "0"}, b"down")]

    with connection.app.app_context():
        stripe = connections.session(connection.tenant.id, connection.integration_id)
        response = stripe.get("v1/balance", headers={"Hub-Retries": "1"})

    assert response.status_code == 200
    assert response.proxy_attempts == 2
    assert "Hub-Retries" not in connection.api.seen[-1].headers


def test_a_providers_cookie_is_never_sent_again_by_a_later_call(make_connection):
    """Calls share a connection pool, never a cookie jar: a cookie one tenant's call received must not ride on the next."""
    connection = make_connection("stripe")

    with connection.app.app_context():
        stripe = connections.session(connection.tenant.id, connection.integration_id)
        assert stripe.get("cookies").status_code == 200
        assert stripe.get("v1/balance").status_code == 200
        assert connections.session(connection.tenant.id, connection.integration_id).get("v1/balance").status_code == 200

    assert [seen.target for seen in connection.api.seen] == ["/cookies", "/v1/balance", "/v1/balance"]
    for seen in connection.api.seen:
        assert "Cookie" not in seen.headers


def test_another_tenants_integration_is_not_found_and_an_inactive_one_is_a_conflict(make_connection):
    connection = make_connection("stripe")
    intruder = make_tenant(connection.app, "Intruder")

    with connection.app.app_context():
        with pytest.raises(NotFound):
            connections.session(intruder.id, connection.integration_id)
        stripe = connections.session(connection.tenant.id, connection.integration_id)
        update_integration_status(connection.tenant.id, connection.integration_id, "disabled")
        with pytest.raises(Conflict):
            stripe.get("v1/balance")
    assert connection.api.seen == []


def test_hub_proxy_prints_the_status_and_the_body_never_the_credential(make_connection):
    from hub.cli import main

    connection = make_connection("stripe")
    runner = connection.app.test_cli_runner()

    result = runner.invoke(main, args=["proxy", connection.integration_id, "post", "v1/refunds", "--data", "charge=ch_1", "-H", "Content-Type: application/x-www-form-urlencoded"])

    assert result.exit_code == 0, result.output
    assert "HTTP 201" in result.output and "attempts: 1" in result.output
    assert '"target": "/v1/refunds"' in result.output
    assert STRIPE_KEY not in result.output
    assert connection.api.seen[-1].headers["Content-Type"] == "application/x-www-form-urlencoded"

    missing = runner.invoke(main, args=["proxy", "no-such-integration", "GET", "v1/balance"])
    assert missing.exit_code != 0 and "404" in missing.output
    escaped = runner.invoke(main, args=["proxy", connection.integration_id, "GET", "../admin"])
    assert escaped.exit_code != 0 and "400" in escaped.output
    assert len(connection.api.seen) == 1
