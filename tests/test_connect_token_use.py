"""A connect token connects one account: once a connection made with it succeeds, it is used.

Through the Connect page's form and through the OAuth flow alike; the used
link is a clear page for people and a 401 problem for `/api/oauth/start`,
in every process (the mark lives in the shared lease store), while a
refused attempt leaves the token usable for the retry.
"""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.oauth_fixtures import authorize, callback, connect_token, start
from tests.test_connect_page import GOOD_KEY, page, post_form


@pytest.fixture
def connect_app(build_oauth_app: Any, stripe_api: Any) -> Any:
    stripe_api.key_of("acct_1Good", GOOD_KEY)
    return build_oauth_app(connectors=("demo",), STRIPE_API_BASE_URL=stripe_api.base_url)


@pytest.fixture
def client(connect_app: Any) -> Any:
    return connect_app.test_client()


def connect_with_oauth_link(client: Any, token: str) -> str:
    """Follow the Connect page's OAuth link through the provider and back; returns where the browser lands."""
    href = re.search(r'id="connect-demo" href="([^"]+)"', page(client, token).get_data(as_text=True)).group(1).replace("&amp;", "&")
    return callback(client, authorize(client.get(href).headers["Location"])).headers["Location"]


def assert_used_page(response: Any) -> None:
    html = response.get_data(as_text=True)
    assert response.status_code == 401
    assert response.mimetype == "text/html"
    assert "This link was already used" in html and "expired" not in html.lower()


def test_a_token_that_connected_through_the_form_is_used(client, tenant):
    token = connect_token(client, tenant)
    assert post_form(client, token, **{"credential-api_key": GOOD_KEY}).status_code == 303

    assert_used_page(page(client, token))
    assert_used_page(post_form(client, token, csrf="anything", **{"credential-api_key": GOOD_KEY}))
    refused = start(client, token)
    assert refused.status_code == 401 and refused.json["type"].endswith("connect-token-used")


def test_a_token_that_connected_through_oauth_is_used(client, tenant):
    token = connect_token(client, tenant)
    landing = connect_with_oauth_link(client, token)
    assert "status=success" in landing

    assert_used_page(page(client, token))
    assert start(client, token).status_code == 401
    result = client.get(urlsplit(landing).path, query_string=urlsplit(landing).query)
    assert result.status_code == 200 and 'id="retry"' not in result.get_data(as_text=True)


def test_a_refused_attempt_leaves_the_token_for_the_retry(client, tenant, provider):
    token = connect_token(client, tenant)
    provider.deny_authorization = True
    assert "status=error" in connect_with_oauth_link(client, token)
    refused_key = post_form(client, token, **{"credential-api_key": "rk_test_refused_0000"})
    assert refused_key.status_code == 400

    provider.deny_authorization = False
    assert page(client, token).status_code == 200
    assert "status=success" in connect_with_oauth_link(client, token)
    assert_used_page(page(client, token))


def test_a_used_token_is_used_for_every_app_sharing_the_store(client, tenant, connect_app, build_oauth_app):
    token = connect_token(client, tenant)
    assert post_form(client, token, **{"credential-api_key": GOOD_KEY}).status_code == 303

    other_machine = build_oauth_app(connectors=("demo",)).test_client()
    assert_used_page(page(other_machine, token))


def test_another_token_of_the_same_end_user_still_connects(client, tenant):
    first = connect_token(client, tenant)
    assert post_form(client, first, **{"credential-api_key": GOOD_KEY}).status_code == 303

    second = connect_token(client, tenant)
    assert page(client, second).status_code == 200


def test_marks_past_their_time_are_pruned_from_the_database_lease_store(app):
    from hub.storage.leases import DatabaseLeases

    leases = DatabaseLeases()
    with app.app_context():
        leases.acquire("connect-token-spent:old", 0.001)
        leases.acquire("connect-token-spent:live", 600)
        time.sleep(0.01)
        assert not leases.is_held("connect-token-spent:old")

        assert leases.prune_expired() == 1
        assert leases.is_held("connect-token-spent:live")
