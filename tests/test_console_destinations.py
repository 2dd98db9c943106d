"""The console's destinations over plain HTTP: create with the secret once, bad input as the form again, CSRF, tenant scoping."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from hub.storage.models import Delivery, Destination, db, new_id
from hub.testing import make_tenant
from tests.test_console import csrf_of, signed_in

RECEIVER = "http://127.0.0.1:9/hooks"


@pytest.fixture
def hub_app(make_app):
    return make_app(HUB_DESTINATIONS_ALLOW_PRIVATE=True)


@pytest.fixture
def acme(hub_app):
    return make_tenant(hub_app, "Acme")


@pytest.fixture
def console(hub_app, acme):
    client = hub_app.test_client()
    client.csrf = signed_in(client, acme.api_key)
    return client


def stored(app) -> list[Destination]:
    with app.app_context():
        rows = list(db.session.execute(sa.select(Destination)).scalars())
        db.session.expunge_all()
        return rows


def create(console, **form):
    form.setdefault("url", RECEIVER)
    return console.post("/console/destinations", data={"csrf_token": console.csrf, **form})


def secret_on(html: str) -> str:
    return re.search(r'id="secret" type="text" readonly value="(whsec_[^"]+)"', html).group(1)


def test_a_destination_is_created_and_its_secret_shown_once(console, hub_app, acme):
    response = create(console, description="orders", event_types="charge.*, hub.integration.*", connectors="stripe")
    assert response.status_code == 200 and response.mimetype == "text/html"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    secret = secret_on(response.get_data(as_text=True))
    [row] = stored(hub_app)
    assert row.tenant_id == acme.id and row.description == "orders"
    assert row.filter == {"event_types": ["charge.*", "hub.integration.*"], "connectors": ["stripe"]}
    for path in ("/console/destinations", f"/console/destinations/{row.id}", f"/console/destinations/{row.id}/deliveries",
                 f"/console/destinations/{row.id}/delete"):
        page = console.get(path)
        assert page.status_code == 200, path
        assert secret not in page.get_data(as_text=True) and secret[6:] not in page.get_data(as_text=True)
    listed = console.get("/console/destinations").get_data(as_text=True)
    assert RECEIVER in listed and "orders" in listed and "enabled" in listed and "charge.*" in listed
    with hub_app.app_context():
        from hub.tenancy.destinations import secrets_in_force
        assert secrets_in_force(db.session.get(Destination, row.id)) == [secret]


@pytest.mark.parametrize("form, message", [
    ({"url": ""}, "URL"),
    ({"url": "ftp://example.com/hook"}, "http"),
    ({"event_types": "charge.* bad\x7fpattern"}, "Event types: an event type pattern"),
    ({"connectors": "Not-A-Connector"}, "Connectors: a connector id"),
    ({"integration_ids": "not-an-id"}, "Integration ids"),
    ({"integration_ids": new_id()}, "does not have"),
    ({"description": "x" * 501}, "Description"),
    ({"description": "nul\x00"}, "Description"),
    ({"url": "http://127.0.0.1:9/ho\x00oks"}, "URL"),
    ({"url": "http://" + "a" * 2100 + ".com/"}, "URL"),
])
def test_bad_input_gives_the_form_again_with_a_message_and_stores_nothing(console, hub_app, form, message):
    response = create(console, **form)
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert 'id="form-errors"' in html and message in html
    assert 'name="url"' in html
    assert stored(hub_app) == []


def test_a_private_address_is_refused_when_private_addresses_are_not_allowed(make_app):
    app = make_app()
    tenant = make_tenant(app, "Acme")
    client = app.test_client()
    csrf = signed_in(client, tenant.api_key)
    for url in ("http://10.0.0.1/hooks", "http://127.0.0.1:9/hooks", "http://[::1]/hooks"):
        response = client.post("/console/destinations", data={"csrf_token": csrf, "url": url})
        assert response.status_code == 400, url
        assert 'id="form-errors"' in response.get_data(as_text=True)
    assert stored(app) == []


def test_another_tenants_integration_id_is_refused(console, hub_app):
    globex = make_tenant(hub_app, "Globex")
    theirs = hub_app.test_client().post("/api/integrations", json={"connector": "noop", "name": "x"}, headers=globex.headers)
    integration_id = theirs.json["id"] if theirs.status_code == 201 else new_id()
    response = create(console, integration_ids=integration_id)
    assert response.status_code == 400 and stored(hub_app) == []


def test_a_form_without_its_csrf_token_is_a_403_and_changes_nothing(console, hub_app):
    assert console.post("/console/destinations", data={"url": RECEIVER}).status_code == 403
    assert console.post("/console/destinations", data={"url": RECEIVER, "csrf_token": "0" * 64}).status_code == 403
    assert stored(hub_app) == []
    create(console)
    [row] = stored(hub_app)
    for path, data in ((f"/console/destinations/{row.id}/status", {"status": "disabled"}),
                       (f"/console/destinations/{row.id}/rotate-secret", {}),
                       (f"/console/destinations/{row.id}/delete", {})):
        assert console.post(path, data=data).status_code == 403, path
    [after] = stored(hub_app)
    assert (after.status, after.secret_ciphertext) == (row.status, row.secret_ciphertext)


def test_disable_enable_rotate_and_delete(console, hub_app):
    first = secret_on(create(console).get_data(as_text=True))
    [row] = stored(hub_app)
    base = f"/console/destinations/{row.id}"
    response = console.post(f"{base}/status", data={"csrf_token": console.csrf, "status": "disabled"})
    assert response.status_code == 303
    assert stored(hub_app)[0].status == "disabled"
    assert console.post(f"{base}/status", data={"csrf_token": console.csrf, "status": "enabled"}).status_code == 303
    assert stored(hub_app)[0].status == "enabled"
    assert console.post(f"{base}/status", data={"csrf_token": console.csrf, "status": "gone"}).status_code == 400
    rotated = console.post(f"{base}/rotate-secret", data={"csrf_token": console.csrf})
    assert rotated.status_code == 200
    second = secret_on(rotated.get_data(as_text=True))
    assert second != first
    with hub_app.app_context():
        from hub.tenancy.destinations import secrets_in_force
        assert secrets_in_force(db.session.get(Destination, row.id)) == [second, first]
    assert console.get(f"{base}/delete").status_code == 200
    assert stored(hub_app) != []
    assert console.post(f"{base}/delete", data={"csrf_token": console.csrf}).status_code == 303
    assert stored(hub_app) == []


def test_deliveries_filter_and_bad_filters(console, hub_app):
    create(console)
    [row] = stored(hub_app)
    path = f"/console/destinations/{row.id}/deliveries"
    assert console.get(path, query_string={"status": "failed"}).status_code == 200
    assert console.get(path, query_string={"status": "dead"}).status_code == 400
    assert console.get(path, query_string={"cursor": "nonsense"}).status_code == 400
    assert console.get(path, query_string={"limit": "0"}).status_code == 400


def test_another_tenants_destination_and_delivery_are_404_pages(hub_app, acme):
    globex = make_tenant(hub_app, "Globex")
    api = hub_app.test_client()
    theirs = api.post("/api/destinations", json={"url": RECEIVER}, headers=globex.headers).json
    ping = api.post(f"/api/destinations/{theirs['id']}/test", headers=globex.headers).json
    console = hub_app.test_client()
    csrf = signed_in(console, acme.api_key)
    base = f"/console/destinations/{theirs['id']}"
    for path in (base, f"{base}/deliveries", f"{base}/delete"):
        response = console.get(path)
        assert response.status_code == 404 and response.mimetype == "text/html", path
    for path, data in ((f"{base}/status", {"status": "disabled"}), (f"{base}/rotate-secret", {}), (f"{base}/delete", {}),
                       (f"/console/deliveries/{ping['delivery_id']}/retry", {})):
        assert console.post(path, data={"csrf_token": csrf, **data}).status_code == 404, path
    [row] = stored(hub_app)
    assert row.status == "enabled" and row.previous_secret_ciphertext is None
    with hub_app.app_context():
        delivery = db.session.get(Delivery, ping["delivery_id"])
        assert delivery.attempts == 0


def test_a_delivery_is_retried_from_its_page(console, hub_app, acme):
    create(console)
    [row] = stored(hub_app)
    api = hub_app.test_client()
    ping = api.post(f"/api/destinations/{row.id}/test", headers=acme.headers).json
    with hub_app.app_context():
        db.session.execute(sa.update(Delivery).where(Delivery.id == ping["delivery_id"]).values(
            status="failed", attempts=4, max_attempts=4, last_status_code=500, last_error="HTTP 500", lease_owner=None))
        db.session.commit()
    page = console.get(f"/console/destinations/{row.id}/deliveries", query_string={"status": "failed"}).get_data(as_text=True)
    assert "HTTP 500" in page and ">500<" in page and "Retry" in page
    response = console.post(f"/console/deliveries/{ping['delivery_id']}/retry", data={"csrf_token": console.csrf})
    assert response.status_code == 303 and response.headers["Location"].endswith(f"/console/destinations/{row.id}/deliveries?done=retried")
    with hub_app.app_context():
        delivery = db.session.get(Delivery, ping["delivery_id"])
        assert (delivery.status, delivery.max_attempts) == ("pending", 5)
