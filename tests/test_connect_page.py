"""The Connect page over plain HTTP: what it lists, its links and forms, and every bad input as a page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa
from itsdangerous import URLSafeTimedSerializer

from hub.app import create_app
from hub.errors import ConfigurationError
from hub.oauth.connect_sessions import SALT
from hub.storage.models import Integration, db, utcnow
from hub.testing import clean_environ, make_tenant
from hub.web.connect_page import CSRF_PURPOSE
from hub.web.icons import sanitised_icon
from hub.web.pages import csrf_token
from tests.oauth_fixtures import authorize, callback, connect_token, start

GOOD_KEY = "rk_test_good_key_0001"


@pytest.fixture
def connect_app(build_oauth_app: Any, stripe_api: Any) -> Any:
    stripe_api.key_of("acct_1Good", GOOD_KEY)
    return build_oauth_app(connectors=("demo",), STRIPE_API_BASE_URL=stripe_api.base_url)


@pytest.fixture
def client(connect_app: Any) -> Any:
    return connect_app.test_client()


def integrations(app: Any) -> list[Integration]:
    with app.app_context():
        rows = list(db.session.execute(sa.select(Integration)).scalars())
        db.session.expunge_all()
        return rows


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def page(client: Any, token: str, **params: str) -> Any:
    return client.get("/connect", query_string={"connect_token": token, **params})


def post_form(client: Any, token: str, connector: str = "stripe", *, csrf: str | None = None, **fields: str) -> Any:
    if csrf is None:
        csrf = csrf_of(page(client, token).get_data(as_text=True))
    form = {"connect_token": token, "csrf_token": csrf, **fields}
    return client.post(f"/connect/{connector}", data=form)


def test_the_page_lists_only_the_connectors_the_token_allows(client, tenant):
    token = connect_token(client, tenant, allowed_connectors=["demo", "stripe"])
    response = page(client, token)
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert "Demo Provider" in html and "Stripe" in html
    assert "Gmail" not in html and "Slack" not in html
    assert 'name="credential-api_key"' in html and "(required)" in html


def test_an_oauth_connector_is_a_top_level_link_to_start_that_comes_back_to_the_result_page(client, tenant, connect_app):
    token = connect_token(client, tenant, allowed_connectors=["demo"])
    html = page(client, token).get_data(as_text=True)
    link = re.search(r'<a class="button" id="connect-demo" href="([^"]+)" target="_top"', html)
    assert link, html
    href = link.group(1).replace("&amp;", "&")
    assert href.startswith("/api/oauth/start/demo?")
    assert "<form" not in html.split('id="connector-demo"')[1].split("</li>")[0]
    started = client.get(href)
    assert started.status_code == 302
    finished = callback(client, authorize(started.headers["Location"]))
    landing = finished.headers["Location"]
    assert landing.startswith("http://hub.test/connect/result?")
    query = parse_qs(urlsplit(landing).query)
    assert query["status"] == ["success"] and query["connect_token"] == [token]
    result = client.get(urlsplit(landing).path, query_string=urlsplit(landing).query)
    assert "Demo Provider is connected" in result.get_data(as_text=True)
    assert [row.end_user_id for row in integrations(connect_app)] == ["user-42"]


def test_without_a_frontend_url_an_api_started_flow_lands_on_the_result_page(build_oauth_app):
    app = build_oauth_app(FRONTEND_URL="")
    client = app.test_client()
    owner = make_tenant(app, "Acme")
    started = start(client, connect_token(client, owner))
    landing = callback(client, authorize(started.headers["Location"])).headers["Location"]
    assert landing.startswith("http://hub.test/connect/result?")
    result = client.get(urlsplit(landing).path, query_string=urlsplit(landing).query)
    html = result.get_data(as_text=True)
    assert result.status_code == 200 and "Demo Provider is connected" in html
    assert 'id="retry"' not in html


def test_a_refused_consent_is_told_in_plain_words_with_a_retry_link(client, tenant, provider):
    provider.deny_authorization = True
    token = connect_token(client, tenant)
    href = re.search(r'id="connect-demo" href="([^"]+)"', page(client, token).get_data(as_text=True)).group(1).replace("&amp;", "&")
    landing = callback(client, authorize(client.get(href).headers["Location"])).headers["Location"]
    result = client.get(urlsplit(landing).path, query_string=urlsplit(landing).query)
    html = result.get_data(as_text=True)
    assert "Demo Provider was not connected" in html
    assert "You declined to give access" in html
    assert f'href="/connect?connect_token={token}"' in html


def test_a_host_return_to_is_kept_for_the_oauth_flow(client, tenant):
    token = connect_token(client, tenant)
    html = page(client, token, return_to="http://frontend.test/done").get_data(as_text=True)
    href = re.search(r'id="connect-demo" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert parse_qs(urlsplit(href).query)["return_to"] == ["http://frontend.test/done"]


@pytest.mark.parametrize("return_to", ["https://evil.example/", "http://hub.test/connect/result/../../x", "javascript:alert(1)"])
def test_a_return_to_outside_the_frontend_is_a_400_page(client, tenant, return_to):
    response = page(client, connect_token(client, tenant), return_to=return_to)
    assert response.status_code == 400
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("token", [None, "", "garbage", "x" * 5000])
def test_a_missing_or_forged_token_is_a_clear_page(client, token):
    response = client.get("/connect", query_string={} if token is None else {"connect_token": token})
    assert response.status_code == 401
    assert response.mimetype == "text/html"
    assert "This link has expired" in response.get_data(as_text=True)


def test_an_expired_token_is_a_clear_page(client, connect_app, tenant):
    expired = int((utcnow() - timedelta(seconds=1)).timestamp())
    token = URLSafeTimedSerializer(connect_app.config["SECRET_KEY"], salt=SALT).dumps(
        {"tid": tenant.id, "uid": "user-42", "con": None, "exp": expired}
    )
    response = page(client, token)
    assert response.status_code == 401
    assert "This link has expired" in response.get_data(as_text=True)
    assert post_form(client, token, csrf="x", **{"credential-api_key": GOOD_KEY}).status_code == 401


def test_every_page_has_a_strict_policy_and_cannot_be_framed_by_default(client, tenant):
    for response in (page(client, connect_token(client, tenant)), client.get("/connect"), client.get("/connect/result")):
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy and "style-src 'self'" in policy
        assert "form-action 'self'" in policy and "base-uri 'none'" in policy
        assert "frame-ancestors 'none'" in policy
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert response.headers["Cache-Control"] == "no-store"
        assert "style=" not in response.get_data(as_text=True)


def test_the_host_app_may_frame_the_page_where_the_setting_allows(build_oauth_app):
    app = build_oauth_app(HUB_CONNECT_FRAME_ANCESTORS="https://app.example https://*.example.org")
    client = app.test_client()
    owner = make_tenant(app, "Framed")
    response = page(client, connect_token(client, owner))
    assert "frame-ancestors https://app.example https://*.example.org" in response.headers["Content-Security-Policy"]
    assert "X-Frame-Options" not in response.headers


@pytest.mark.parametrize("value", ["https://a.example; script-src *", "'none' https://a.example", "*", "data:"])
def test_a_frame_ancestors_setting_that_is_not_a_source_list_refuses_to_start(tmp_path, value):
    with pytest.raises(ConfigurationError):
        create_app({"HUB_INSTANCE_PATH": str(tmp_path), "HUB_CONNECT_FRAME_ANCESTORS": value}, environ=clean_environ())


def test_an_api_key_connector_connects_through_its_form(client, tenant, connect_app):
    token = connect_token(client, tenant, allowed_connectors=["stripe"])
    response = post_form(client, token, name="Main account", **{"credential-api_key": GOOD_KEY})
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/connect/result?")
    rows = integrations(connect_app)
    assert [(row.connector, row.name, row.end_user_id, row.external_account_id) for row in rows] == [
        ("stripe", "Main account", "user-42", "acct_1Good")
    ]
    result = client.get(location)
    assert "Stripe is connected" in result.get_data(as_text=True)


def test_a_key_the_provider_refuses_is_said_on_the_form_and_nothing_is_stored(client, tenant, connect_app):
    token = connect_token(client, tenant)
    response = post_form(client, token, **{"credential-api_key": "rk_test_unknown"})
    assert response.status_code == 400
    assert "Stripe did not accept these credentials" in response.get_data(as_text=True)
    assert "rk_test_unknown" not in response.get_data(as_text=True)
    assert integrations(connect_app) == []


def test_a_missing_required_field_is_said_on_the_form(client, tenant, connect_app):
    response = post_form(client, connect_token(client, tenant), **{"credential-api_key": "  "})
    assert response.status_code == 400
    assert "Please fill in api_key" in response.get_data(as_text=True)
    assert integrations(connect_app) == []


@pytest.mark.parametrize("csrf", ["", "0" * 64, "not-hex", "x" * 500])
def test_a_form_without_its_csrf_token_is_refused(client, tenant, connect_app, csrf):
    response = post_form(client, connect_token(client, tenant), csrf=csrf, **{"credential-api_key": GOOD_KEY})
    assert response.status_code == 403
    assert response.mimetype == "text/html"
    assert integrations(connect_app) == []


def test_a_csrf_token_of_another_connect_session_is_refused(client, tenant, connect_app):
    other = csrf_of(page(client, connect_token(client, tenant, end_user_id="someone-else")).get_data(as_text=True))
    response = post_form(client, connect_token(client, tenant), csrf=other, **{"credential-api_key": GOOD_KEY})
    assert response.status_code == 403
    assert integrations(connect_app) == []


def test_a_connector_the_token_does_not_allow_is_a_404(client, tenant, connect_app):
    token = connect_token(client, tenant, allowed_connectors=["demo"])
    with connect_app.app_context():
        csrf = csrf_token(CSRF_PURPOSE, token)  # the page offers no form to take it from
    response = post_form(client, token, csrf=csrf, **{"credential-api_key": GOOD_KEY})
    assert response.status_code == 404
    assert post_form(client, token, "nosuch", csrf=csrf).status_code == 404
    assert integrations(connect_app) == []


def test_an_oauth_only_connector_has_no_form(client, tenant, connect_app):
    token = connect_token(client, tenant)
    csrf = csrf_of(page(client, token).get_data(as_text=True))
    response = post_form(client, token, "demo", csrf=csrf, **{"credential-api_key": GOOD_KEY})
    assert response.status_code == 400
    assert integrations(connect_app) == []


@pytest.mark.parametrize("fields", [{"credential-api_key": "k" * 8193}, {"credential-api_key": "a\x00b"}, {"name": "n" * 201, "credential-api_key": GOOD_KEY}])
def test_values_too_long_or_with_nul_are_400(client, tenant, connect_app, fields):
    response = post_form(client, connect_token(client, tenant), **fields)
    assert response.status_code == 400
    assert integrations(connect_app) == []


def test_a_body_over_the_limit_is_a_413_page(client, tenant, connect_app):
    token = connect_token(client, tenant)
    response = client.post("/connect/stripe", data={"connect_token": token, "csrf_token": "x", "credential-api_key": "k" * 70000})
    assert response.status_code == 413
    assert response.mimetype == "text/html"


@pytest.mark.parametrize("query", [{}, {"status": "success"}, {"status": "maybe", "connector": "stripe"}, {"status": "error", "connector": "nosuch"}])
def test_an_incomplete_result_link_is_a_400_page(client, query):
    response = client.get("/connect/result", query_string=query)
    assert response.status_code == 400
    assert response.mimetype == "text/html"


def test_an_unknown_provider_error_is_told_generically(client):
    response = client.get("/connect/result", query_string={"status": "error", "connector": "stripe", "error": "<script>"})
    html = response.get_data(as_text=True)
    assert "Something went wrong while connecting" in html
    assert "<script>" not in html


def test_a_connector_without_an_icon_shows_its_initial(client, tenant):
    html = page(client, connect_token(client, tenant, allowed_connectors=["stripe"])).get_data(as_text=True)
    assert '<span class="connector-icon initial" aria-hidden="true">S</span>' in html
    assert client.get("/connect/icons/stripe.svg").status_code == 404
    assert client.get("/connect/icons/nosuch.svg").status_code == 404


PLAIN_ICON = '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24"><title>Mail</title><path d="M2 4h20v16H2z" fill="#ea4335"/></svg>'


def test_an_icon_keeps_its_plain_shapes():
    kept = sanitised_icon(PLAIN_ICON)
    assert kept is not None and "<path" in kept and 'fill="#ea4335"' in kept


@pytest.mark.parametrize("icon", [
    '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>',
    '<svg xmlns="http://www.w3.org/2000/svg"><a href="https://evil.example"><path d="M0 0"/></a></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0" style="fill:red"/></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><path d="M0 0" fill="url(https://evil.example/#x)"/></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg"><foreignObject><p>hi</p></foreignObject></svg>',
    '<!DOCTYPE svg [<!ENTITY x "boom">]><svg xmlns="http://www.w3.org/2000/svg"><title>&x;</title></svg>',
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:x="http://www.w3.org/1999/xlink"><use x:href="#a"/></svg>',
    '<html><body/></html>',
    'not xml at all',
    '<svg xmlns="http://www.w3.org/2000/svg">' + "<path d='M0 0'/>" * 2000 + "</svg>",
])
def test_an_icon_with_anything_else_is_refused_whole(icon):
    assert sanitised_icon(icon) is None


def test_a_connector_icon_is_served_rebuilt(connect_app, tenant):
    from hub import hookimpl
    from hub.types import ConnectorInfo

    class Iconic:
        @hookimpl
        def connector_info(self) -> ConnectorInfo:
            return ConnectorInfo(display_name="Iconic", auth_kind="api_key", credential_fields={"api_key": "the key"}, icon_svg=PLAIN_ICON)

    connect_app.extensions["hub"].plugins.register_connector("iconic", Iconic())
    client = connect_app.test_client()
    html = page(client, connect_token(client, tenant, allowed_connectors=["iconic"])).get_data(as_text=True)
    assert '<img class="connector-icon" src="/connect/icons/iconic.svg" alt=""' in html
    response = client.get("/connect/icons/iconic.svg")
    assert response.status_code == 200
    assert response.mimetype == "image/svg+xml"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "<path" in response.get_data(as_text=True)
