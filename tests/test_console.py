"""The console over plain HTTP: sessions, CSRF, tenant scoping, and every bad input as a page."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from hub.storage.models import ConsoleSession, db, utcnow
from hub.testing import make_tenant

CONSOLE_PAGES = ["/console", "/console/integrations", "/console/events", "/console/dead-letters",
                 "/console/integrations/{integration}", "/console/integrations/{integration}/delete", "/console/events/{event}"]
CONSOLE_FORMS = ["/console/sign-out", "/console/integrations/{integration}/sync", "/console/integrations/{integration}/status",
                 "/console/integrations/{integration}/delete", "/console/events/{event}/replay"]


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client: Any, api_key: str) -> Any:
    form = client.get("/console/sign-in")
    assert form.status_code == 200
    return client.post("/console/sign-in", data={"api_key": api_key, "csrf_token": csrf_of(form.get_data(as_text=True))})


def signed_in(client: Any, api_key: str) -> str:
    """Sign in; returns the session's CSRF token."""
    assert sign_in(client, api_key).status_code == 303
    return csrf_of(client.get("/console").get_data(as_text=True))


def sessions(app: Any) -> list[ConsoleSession]:
    with app.app_context():
        rows = list(db.session.execute(sa.select(ConsoleSession)).scalars())
        db.session.expunge_all()
        return rows


@pytest.fixture
def owned(pipeline: Any) -> dict[str, Any]:
    """An integration and an event of the pipeline's tenant."""
    created = pipeline.create_integration()
    pipeline.deliver(created["path"], {"id": "evt_1", "type": "thing.created", "data": {}}, secret=created["signing_secret"])
    event = pipeline.events()[0]
    return {"integration": created["id"], "event": event["id"]}


def paths(templates: list[str], ids: dict[str, str]) -> list[str]:
    return [template.format(**ids) for template in templates]


def test_no_console_page_is_reachable_without_a_session(pipeline, owned):
    client = pipeline.app.test_client()
    for path in paths(CONSOLE_PAGES, owned):
        response = client.get(path)
        assert response.status_code == 303, path
        assert response.headers["Location"].endswith("/console/sign-in"), path
    for path in paths(CONSOLE_FORMS, owned):
        response = client.post(path, data={"status": "disabled", "csrf_token": "x"})
        assert response.status_code == 303, path
    assert pipeline.client.get(f"/api/integrations/{owned['integration']}", headers=pipeline.tenant.headers).json["status"] == "active"


def test_sign_in_makes_a_strict_http_only_session_that_never_holds_the_key(app, tenant):
    client = app.test_client()
    response = sign_in(client, tenant.api_key)
    assert response.status_code == 303 and response.headers["Location"].endswith("/console")
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("hub_console="))
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie and "Secure" not in cookie
    token = cookie.split(";")[0].split("=", 1)[1]
    [row] = sessions(app)
    assert row.tenant_id == tenant.id
    stored = " ".join(str(value) for value in vars(row).values())
    assert tenant.api_key not in stored and token not in stored
    assert tenant.api_key not in cookie
    assert client.get("/console").status_code == 200


def test_on_https_the_cookie_is_secure_and_host_prefixed(make_app):
    app = make_app(APP_BASE_URL="https://hub.example")
    tenant = make_tenant(app, "Acme")
    client = app.test_client()
    form = client.get("/console/sign-in", base_url="https://hub.example")
    sign_in_cookie = form.headers["Set-Cookie"]
    assert sign_in_cookie.startswith("__Host-hub_console_sign_in=") and "Secure" in sign_in_cookie
    response = client.post("/console/sign-in", base_url="https://hub.example",
                           data={"api_key": tenant.api_key, "csrf_token": csrf_of(form.get_data(as_text=True))})
    assert response.status_code == 303
    cookie = next(value for value in response.headers.getlist("Set-Cookie") if value.startswith("__Host-hub_console="))
    assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie


def test_redis_holds_the_session_when_configured_and_never_the_key(make_app, redis_url, redis_client):
    app = make_app(REDIS_URL=redis_url)
    tenant = make_tenant(app, "Acme")
    client = app.test_client()
    signed_in(client, tenant.api_key)
    prefix = app.config["HUB_REDIS_PREFIX"]
    keys = list(redis_client.scan_iter(match=f"{prefix}:console-session:*"))
    assert len(keys) == 1 and sessions(app) == []
    assert tenant.api_key.encode() not in redis_client.get(keys[0])
    assert client.get_cookie("hub_console").value.encode() not in keys[0]
    api = app.test_client()
    [key] = api.get("/api/keys", headers=tenant.headers).json["keys"]
    api.delete(f"/api/keys/{key['id']}", headers=tenant.headers)
    assert client.get("/console").status_code == 303
    assert list(redis_client.scan_iter(match=f"{prefix}:console-session:*")) == []


@pytest.mark.parametrize("key", ["", "hub_sk_wrong", "x" * 500, "hub_sk_" + "a" * 43])
def test_a_wrong_key_is_a_401_page_and_no_session(app, key):
    response = sign_in(app.test_client(), key)
    assert response.status_code == 401
    assert response.mimetype == "text/html"
    assert "not a valid API key" in response.get_data(as_text=True)
    assert sessions(app) == []


@pytest.mark.parametrize("csrf", [None, "", "0" * 64])
def test_sign_in_without_its_csrf_token_is_refused(app, tenant, csrf):
    client = app.test_client()
    client.get("/console/sign-in")
    data = {"api_key": tenant.api_key}
    if csrf is not None:
        data["csrf_token"] = csrf
    response = client.post("/console/sign-in", data=data)
    assert response.status_code == 403
    assert sessions(app) == []


def test_sign_in_without_the_form_cookie_is_refused(app, tenant):
    csrf = csrf_of(app.test_client().get("/console/sign-in").get_data(as_text=True))
    response = app.test_client().post("/console/sign-in", data={"api_key": tenant.api_key, "csrf_token": csrf})
    assert response.status_code == 403
    assert sessions(app) == []


def test_sign_in_attempts_are_rate_limited(make_app, tenant):
    app = make_app(HUB_CONSOLE_SIGN_IN_RATE_LIMIT="2/minute")
    client = app.test_client()
    statuses = [sign_in(client, "hub_sk_wrong").status_code for _ in range(3)]
    assert statuses == [401, 401, 429]


def test_sign_in_never_keeps_a_session_token_the_browser_brought(app, tenant):
    client = app.test_client()
    client.set_cookie("hub_console", "planted-by-someone-else")
    signed_in(client, tenant.api_key)
    assert client.get_cookie("hub_console").value != "planted-by-someone-else"
    [row] = sessions(app)
    assert row.session_hash != hashlib.sha256(b"planted-by-someone-else").hexdigest()


def test_sign_out_ends_the_session(app, tenant):
    client = app.test_client()
    csrf = signed_in(client, tenant.api_key)
    cookie = client.get_cookie("hub_console").value
    response = client.post("/console/sign-out", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert sessions(app) == []
    client.set_cookie("hub_console", cookie)
    assert client.get("/console").status_code == 303


def test_sign_out_without_the_csrf_token_is_refused(app, tenant):
    client = app.test_client()
    signed_in(client, tenant.api_key)
    assert client.post("/console/sign-out").status_code == 403
    assert len(sessions(app)) == 1


def test_a_revoked_key_ends_its_sessions(app, tenant):
    client = app.test_client()
    signed_in(client, tenant.api_key)
    api = app.test_client()
    [key] = api.get("/api/keys", headers=tenant.headers).json["keys"]
    assert api.delete(f"/api/keys/{key['id']}", headers=tenant.headers).status_code == 204
    response = client.get("/console")
    assert response.status_code == 303 and response.headers["Location"].endswith("/console/sign-in")
    assert sessions(app) == []


def test_an_idle_session_ends(app, tenant):
    client = app.test_client()
    signed_in(client, tenant.api_key)
    with app.app_context():
        db.session.execute(sa.update(ConsoleSession).values(last_seen_at=utcnow() - timedelta(hours=1)))
        db.session.commit()
    assert client.get("/console").status_code == 303
    assert sessions(app) == []


def test_a_session_past_its_lifetime_ends_however_busy(app, tenant):
    client = app.test_client()
    signed_in(client, tenant.api_key)
    with app.app_context():
        db.session.execute(sa.update(ConsoleSession).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    assert client.get("/console").status_code == 303


def test_pages_have_a_strict_policy_and_are_never_framed(app, tenant):
    client = app.test_client()
    for response in (client.get("/console/sign-in"), client.get("/console")):
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy and "form-action 'self'" in policy
        assert response.headers["X-Frame-Options"] == "DENY"
    signed_in(client, tenant.api_key)
    for path in ("/console", "/console/integrations", "/console/events", "/console/dead-letters"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
        html = response.get_data(as_text=True)
        assert "style=" not in html and "<script>" not in html and "onclick" not in html
        assert tenant.api_key not in html


def test_the_integration_page_and_its_actions(pipeline, owned):
    client = pipeline.app.test_client()
    csrf = signed_in(client, pipeline.tenant.api_key)
    integration = owned["integration"]
    page = client.get(f"/console/integrations/{integration}").get_data(as_text=True)
    webhook_url = pipeline.client.get(f"/api/integrations/{integration}", headers=pipeline.tenant.headers).json["webhook_url"]
    assert f'value="{webhook_url}"' in page and 'data-copy="webhook-url"' in page
    assert "whsig_integration_secret" not in page and "key_123456" not in page
    disabled = client.post(f"/console/integrations/{integration}/status", data={"csrf_token": csrf, "status": "disabled"})
    assert disabled.status_code == 303
    assert 'id="status">disabled' in client.get(disabled.headers["Location"]).get_data(as_text=True)
    client.post(f"/console/integrations/{integration}/status", data={"csrf_token": csrf, "status": "active"})
    assert pipeline.client.get(f"/api/integrations/{integration}", headers=pipeline.tenant.headers).json["status"] == "active"
    confirm = client.get(f"/console/integrations/{integration}/delete")
    assert "cannot be undone" in confirm.get_data(as_text=True)
    deleted = client.post(f"/console/integrations/{integration}/delete", data={"csrf_token": csrf})
    assert deleted.status_code == 303
    assert pipeline.client.get(f"/api/integrations/{integration}", headers=pipeline.tenant.headers).status_code == 404


def test_sync_now_queues_a_sync_and_a_disabled_integration_cannot(pipeline, owned):
    client = pipeline.app.test_client()
    csrf = signed_in(client, pipeline.tenant.api_key)
    integration = owned["integration"]
    response = client.post(f"/console/integrations/{integration}/sync", data={"csrf_token": csrf})
    assert response.status_code == 303
    assert "A sync is queued" in client.get(response.headers["Location"]).get_data(as_text=True)
    client.post(f"/console/integrations/{integration}/status", data={"csrf_token": csrf, "status": "disabled"})
    refused = client.post(f"/console/integrations/{integration}/sync", data={"csrf_token": csrf})
    assert refused.status_code == 409 and refused.mimetype == "text/html"


@pytest.mark.parametrize("status", ["", "revoked", "deleted", "x" * 100])
def test_a_status_other_than_active_or_disabled_is_a_400_page(pipeline, owned, status):
    client = pipeline.app.test_client()
    csrf = signed_in(client, pipeline.tenant.api_key)
    response = client.post(f"/console/integrations/{owned['integration']}/status", data={"csrf_token": csrf, "status": status})
    assert response.status_code == 400 and response.mimetype == "text/html"


def test_a_form_without_its_csrf_token_changes_nothing(pipeline, owned):
    client = pipeline.app.test_client()
    signed_in(client, pipeline.tenant.api_key)
    other = pipeline.app.test_client()
    foreign_csrf = signed_in(other, pipeline.tenant.api_key)
    for csrf in (None, "", "0" * 64, foreign_csrf):
        data = {"status": "disabled"} if csrf is None else {"status": "disabled", "csrf_token": csrf}
        response = client.post(f"/console/integrations/{owned['integration']}/status", data=data)
        assert response.status_code == 403 and response.mimetype == "text/html"
        assert client.post(f"/console/integrations/{owned['integration']}/delete", data=data).status_code == 403
    assert pipeline.client.get(f"/api/integrations/{owned['integration']}", headers=pipeline.tenant.headers).json["status"] == "active"


def test_another_tenants_ids_are_404_pages(pipeline, owned):
    intruder = make_tenant(pipeline.app, "Globex")
    client = pipeline.app.test_client()
    csrf = signed_in(client, intruder.api_key)
    for path in paths(CONSOLE_PAGES[4:], owned):
        response = client.get(path)
        assert response.status_code == 404, path
        assert response.mimetype == "text/html"
    for path in paths(CONSOLE_FORMS[1:], owned):
        assert client.post(path, data={"csrf_token": csrf, "status": "disabled"}).status_code == 404, path
    assert pipeline.client.get(f"/api/integrations/{owned['integration']}", headers=pipeline.tenant.headers).json["status"] == "active"
    listing = client.get("/console/events").get_data(as_text=True)
    assert owned["event"] not in listing
    assert owned["integration"] not in client.get("/console/integrations").get_data(as_text=True)


def test_events_are_filtered_and_paged_by_cursor(pipeline):
    created = pipeline.create_integration()
    for number in range(3):
        pipeline.deliver(created["path"], {"id": f"evt_{number}", "type": "thing.created" if number else "thing.deleted", "data": {}},
                         secret=created["signing_secret"])
    client = pipeline.app.test_client()
    signed_in(client, pipeline.tenant.api_key)
    page = client.get("/console/events", query_string={"type": "thing.created", "limit": 1}).get_data(as_text=True)
    assert page.count("/console/events/") == 1 and "thing.deleted" not in page.split("<tbody>")[1]
    next_url = re.search(r'href="([^"]+)" rel="next"', page).group(1).replace("&amp;", "&")
    assert "type=thing.created" in next_url
    second = client.get(next_url).get_data(as_text=True)
    assert second.count("/console/events/") == 1 and 'rel="next"' not in second
    filtered = client.get("/console/events", query_string={"connector": "signed", "integration_id": created["id"], "status": "pending"})
    assert filtered.status_code == 200


@pytest.mark.parametrize("query", [{"status": "bogus"}, {"cursor": "garbage"}, {"limit": "0"}, {"limit": "abc"}, {"type": "t" * 300}])
def test_bad_filters_are_400_pages(app, tenant, query):
    client = app.test_client()
    signed_in(client, tenant.api_key)
    response = client.get("/console/events", query_string=query)
    assert response.status_code == 400, query
    assert response.mimetype == "text/html"


def test_a_dead_event_is_listed_shown_as_a_cloud_event_and_replayed(pipeline):
    created = pipeline.create_integration()
    pipeline.deliver(created["path"], {"id": "evt_dead", "type": "thing.failed", "data": {"fail": True}}, secret=created["signing_secret"])
    while pipeline.run_queues():
        pass
    [dead] = pipeline.events(status="dead")
    client = pipeline.app.test_client()
    csrf = signed_in(client, pipeline.tenant.api_key)
    listing = client.get("/console/dead-letters").get_data(as_text=True)
    assert f"/console/events/{dead['id']}" in listing
    detail = client.get(f"/console/events/{dead['id']}").get_data(as_text=True)
    assert '&#34;specversion&#34;: &#34;1.0&#34;' in detail and "the processor refused this event" in detail
    replayed = client.post(f"/console/events/{dead['id']}/replay", data={"csrf_token": csrf})
    assert replayed.status_code == 303
    assert "queued for processing again" in client.get(replayed.headers["Location"]).get_data(as_text=True)
    assert pipeline.events(status="dead") == []


def test_the_overview_draws_events_per_hour_as_svg_attributes(pipeline, owned):
    client = pipeline.app.test_client()
    signed_in(client, pipeline.tenant.api_key)
    html = client.get("/console").get_data(as_text=True)
    bar = re.search(r'<rect class="bar received" x="[0-9.]+" y="[0-9.]+" width="[0-9.]+" height="[0-9.]+"><title>[0-9]{2}:00 UTC, received: 1</title>', html)
    assert bar, html
    assert "style=" not in html
    assert "<th scope=\"col\">received</th>" in html


def test_the_overview_counts_only_the_tenants_events(pipeline, owned):
    intruder = make_tenant(pipeline.app, "Globex")
    client = pipeline.app.test_client()
    signed_in(client, intruder.api_key)
    assert "No events in the last 24 hours" in client.get("/console").get_data(as_text=True)
