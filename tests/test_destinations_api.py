"""The destinations API: registration with a secret shown once, changes, rotation, deliveries, tenant scoping, bad input."""

from __future__ import annotations

import base64
import socket

import pytest
import sqlalchemy as sa

from hub.storage.models import Delivery, Destination, db, new_id, utcnow
from hub.testing import make_tenant

RECEIVER = "http://127.0.0.1:9/hooks"


def assert_problem(response, status, slug=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    if slug:
        assert response.json["type"].endswith("/" + slug)
    return response.json


@pytest.fixture
def hub_app(make_app):
    return make_app(HUB_DESTINATIONS_ALLOW_PRIVATE=True, HUB_MAX_DESTINATIONS_PER_TENANT=3)


@pytest.fixture
def acme(hub_app):
    return make_tenant(hub_app, "Acme")


@pytest.fixture
def globex(hub_app):
    return make_tenant(hub_app, "Globex")


@pytest.fixture
def client(hub_app):
    return hub_app.test_client()


def create(client, tenant, **body):
    body.setdefault("url", RECEIVER)
    response = client.post("/api/destinations", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    return response.json


def stored_destinations(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Destination)).scalar_one()


def test_a_destination_is_created_enabled_with_a_standard_base64_secret_shown_once(client, acme):
    created = create(client, acme, description="orders", filter={"event_types": ["charge.*"], "connectors": ["stripe"]})
    assert created["status"] == "enabled"
    assert created["filter"] == {"event_types": ["charge.*"], "connectors": ["stripe"]}
    secret = created["secret"]
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret[len("whsec_"):], validate=True)) == 32
    fetched = client.get(f"/api/destinations/{created['id']}", headers=acme.headers)
    assert fetched.status_code == 200
    assert "secret" not in fetched.json and secret not in fetched.get_data(as_text=True)
    listed = client.get("/api/destinations", headers=acme.headers).json
    assert [d["id"] for d in listed["destinations"]] == [created["id"]]
    assert secret not in str(listed)


def test_the_secret_is_stored_sealed(client, acme, hub_app):
    created = create(client, acme)
    with hub_app.app_context():
        row = db.session.get(Destination, created["id"])
        assert created["secret"] not in row.secret_ciphertext
        assert created["secret"][6:] not in row.secret_ciphertext


@pytest.mark.parametrize("body", [
    {},
    {"url": ""},
    {"url": 42},
    {"url": "ftp://example.com/hook"},
    {"url": "http://user:pass@example.com/hook"},
    {"url": "http://example.com/hook#part"},
    {"url": "https://exa mple.com/"},
    {"url": "http://" + "a" * 2100 + ".com/"},
    {"url": RECEIVER, "tenant_id": "someone"},
    {"url": RECEIVER, "description": "x" * 501},
    {"url": RECEIVER, "description": "nul\x00"},
    {"url": RECEIVER, "filter": {"event_types": []}},
    {"url": RECEIVER, "filter": {"event_types": ["has space"]}},
    {"url": RECEIVER, "filter": {"event_types": "charge.*"}},
    {"url": RECEIVER, "filter": {"connectors": ["Not A Connector!"]}},
    {"url": RECEIVER, "filter": {"integration_ids": ["not-an-id"]}},
    {"url": RECEIVER, "filter": {"integration_ids": [new_id()]}},
    {"url": RECEIVER, "filter": {"unknown": ["x"]}},
    {"url": RECEIVER, "filter": {"event_types": ["a"] * 101}},
])
def test_bad_input_is_a_400_problem_and_nothing_is_stored(client, acme, hub_app, body):
    response = client.post("/api/destinations", json=body, headers=acme.headers)
    assert_problem(response, 400)
    assert stored_destinations(hub_app) == 0


def test_a_body_that_is_not_json_is_refused(client, acme, hub_app):
    response = client.post("/api/destinations", data="url=x", headers={**acme.headers, "Content-Type": "application/x-www-form-urlencoded"})
    assert_problem(response, 400)
    assert stored_destinations(hub_app) == 0


def test_no_key_is_a_401(client):
    assert_problem(client.post("/api/destinations", json={"url": RECEIVER}), 401)
    assert_problem(client.get("/api/destinations"), 401)


def test_another_tenants_integration_in_a_filter_is_refused_like_an_unknown_one(client, acme, globex, hub_app):
    from hub.tenancy.integrations import create_integration

    with hub_app.app_context():
        theirs = create_integration(globex.id, connector="stripe", name="theirs", credentials={"api_key": "rk_1"}).id
        mine = create_integration(acme.id, connector="stripe", name="mine", credentials={"api_key": "rk_2"}).id
    assert_problem(client.post("/api/destinations", json={"url": RECEIVER, "filter": {"integration_ids": [theirs]}}, headers=acme.headers), 400)
    assert create(client, acme, filter={"integration_ids": [mine]})["filter"] == {"integration_ids": [mine]}


@pytest.mark.parametrize("url", ["http://127.0.0.1/hook", "http://10.1.2.3/", "http://169.254.169.254/latest", "http://[::1]/", "http://2130706433/", "http://0/"])
def test_a_private_address_is_refused_at_registration(make_app, url):
    app = make_app()
    tenant = make_tenant(app, "Acme")
    response = app.test_client().post("/api/destinations", json={"url": url}, headers=tenant.headers)
    assert_problem(response, 400, "destination-refused")
    assert stored_destinations(app) == 0


def test_a_name_resolving_to_a_private_address_is_refused(make_app, monkeypatch):
    app = make_app()
    tenant = make_tenant(app, "Acme")
    real = socket.getaddrinfo

    def resolver(host, *args, **kwargs):
        if host == "internal.example":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 80)), (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 80))]
        return real(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    response = app.test_client().post("/api/destinations", json={"url": "http://internal.example/hook"}, headers=tenant.headers)
    assert_problem(response, 400, "destination-refused")
    assert "10.0.0.5" not in response.get_data(as_text=True)


def test_production_refuses_to_allow_private_destinations(make_app):
    from hub.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="HUB_DESTINATIONS_ALLOW_PRIVATE"):
        make_app(HUB_ENV="production", HUB_DESTINATIONS_ALLOW_PRIVATE=True, SECRET_KEY="x" * 10)


def test_the_quota_of_destinations_is_a_409(client, acme, hub_app):
    for _ in range(3):
        create(client, acme)
    response = client.post("/api/destinations", json={"url": RECEIVER}, headers=acme.headers)
    assert_problem(response, 409, "destination-quota-exceeded")
    assert stored_destinations(hub_app) == 3


def test_patch_changes_url_description_filter_and_status(client, acme):
    created = create(client, acme)
    path = f"/api/destinations/{created['id']}"
    changed = client.patch(path, json={"url": "http://127.0.0.1:10/new", "description": "new", "filter": {"event_types": ["hub.*"]}}, headers=acme.headers)
    assert changed.status_code == 200, changed.json
    assert (changed.json["url"], changed.json["description"], changed.json["filter"]) == ("http://127.0.0.1:10/new", "new", {"event_types": ["hub.*"]})
    disabled = client.patch(path, json={"status": "disabled"}, headers=acme.headers).json
    assert disabled["status"] == "disabled"
    assert client.patch(path, json={"status": "enabled"}, headers=acme.headers).json["status"] == "enabled"
    cleared = client.patch(path, json={"filter": {}}, headers=acme.headers).json
    assert cleared["filter"] == {}


@pytest.mark.parametrize("body", [{}, {"url": None}, {"status": "paused"}, {"status": None}, {"url": "ftp://x/"}, {"filter": None}, {"secret": "whsec_x"}])
def test_a_bad_patch_is_a_400_and_changes_nothing(client, acme, body):
    created = create(client, acme)
    path = f"/api/destinations/{created['id']}"
    assert_problem(client.patch(path, json=body, headers=acme.headers), 400)
    after = client.get(path, headers=acme.headers).json
    assert (after["url"], after["status"], after["filter"]) == (created["url"], created["status"], created["filter"])


def test_a_patch_to_a_private_address_is_refused(make_app):
    app = make_app()
    tenant = make_tenant(app, "Acme")
    with app.app_context():
        from hub.tenancy.destinations import create_destination

        app.config["HUB_DESTINATIONS_ALLOW_PRIVATE"] = True
        app.extensions["hub"].settings["HUB_DESTINATIONS_ALLOW_PRIVATE"] = True
        destination, _ = create_destination(tenant.id, url=RECEIVER, description=None, filter_={})
        app.extensions["hub"].settings["HUB_DESTINATIONS_ALLOW_PRIVATE"] = False
        destination_id = destination.id
    response = app.test_client().patch(f"/api/destinations/{destination_id}", json={"url": "http://192.168.1.1/"}, headers=tenant.headers)
    assert_problem(response, 400, "destination-refused")


def test_rotation_returns_a_new_secret_and_keeps_the_old_one_for_a_day(client, acme, hub_app):
    created = create(client, acme)
    rotated = client.post(f"/api/destinations/{created['id']}/rotate-secret", headers=acme.headers)
    assert rotated.status_code == 200
    assert rotated.json["secret"].startswith("whsec_") and rotated.json["secret"] != created["secret"]
    with hub_app.app_context():
        from hub.tenancy.destinations import secrets_in_force

        assert secrets_in_force(db.session.get(Destination, created["id"])) == [rotated.json["secret"], created["secret"]]
    shown = client.get(f"/api/destinations/{created['id']}", headers=acme.headers).json
    assert shown["secret_rotating_until"] is not None


def test_delete_is_a_204_and_then_a_404(client, acme):
    created = create(client, acme)
    path = f"/api/destinations/{created['id']}"
    assert client.delete(path, headers=acme.headers).status_code == 204
    assert_problem(client.get(path, headers=acme.headers), 404)
    assert_problem(client.delete(path, headers=acme.headers), 404)


def add_deliveries(app, tenant_id, destination_id, statuses):
    with app.app_context():
        ids = []
        for status in statuses:
            now = utcnow()
            delivery = Delivery(
                id=new_id(), tenant_id=tenant_id, destination_id=destination_id, type="charge.succeeded", source_key=new_id(),
                body="{}", status=status, attempts=8 if status == "failed" else 1, max_attempts=8, next_attempt_at=None,
                last_status_code=500 if status == "failed" else 200, created_at=now, updated_at=now,
            )
            db.session.add(delivery)
            ids.append(delivery.id)
        db.session.commit()
        return ids


def test_deliveries_are_listed_newest_first_a_page_at_a_time_and_by_status(client, acme, hub_app):
    created = create(client, acme)
    ids = add_deliveries(hub_app, acme.id, created["id"], ["succeeded", "failed", "succeeded", "failed", "failed"])
    path = f"/api/destinations/{created['id']}/deliveries"
    first = client.get(path, query_string={"limit": 2}, headers=acme.headers).json
    second = client.get(path, query_string={"limit": 2, "cursor": first["next_cursor"]}, headers=acme.headers).json
    third = client.get(path, query_string={"limit": 2, "cursor": second["next_cursor"]}, headers=acme.headers).json
    seen = [d["id"] for page in (first, second, third) for d in page["deliveries"]]
    assert seen == list(reversed(ids)) and third["next_cursor"] is None
    failed = client.get(path, query_string={"status": "failed"}, headers=acme.headers).json["deliveries"]
    assert [d["id"] for d in failed] == [ids[4], ids[3], ids[1]]
    assert set(failed[0]) >= {"id", "event_id", "type", "status", "attempts", "last_status_code", "last_error", "next_attempt_at"}
    assert_problem(client.get(path, query_string={"status": "dead"}, headers=acme.headers), 400)
    assert_problem(client.get(path, query_string={"cursor": "nonsense"}, headers=acme.headers), 400)
    assert_problem(client.get(path, query_string={"limit": "0"}, headers=acme.headers), 400)


def test_a_failed_delivery_is_retried_once_more_with_the_same_id(client, acme, hub_app):
    created = create(client, acme)
    [failed] = add_deliveries(hub_app, acme.id, created["id"], ["failed"])
    response = client.post(f"/api/deliveries/{failed}/retry", headers=acme.headers)
    assert response.status_code == 202
    with hub_app.app_context():
        row = db.session.get(Delivery, failed)
        assert (row.status, row.attempts, row.max_attempts) == ("pending", 8, 9)


def test_another_tenants_destination_and_delivery_are_not_found(client, acme, globex, hub_app):
    theirs = create(client, globex)
    [delivery] = add_deliveries(hub_app, globex.id, theirs["id"], ["failed"])
    base = f"/api/destinations/{theirs['id']}"
    assert_problem(client.get(base, headers=acme.headers), 404)
    assert_problem(client.patch(base, json={"description": "mine"}, headers=acme.headers), 404)
    assert_problem(client.delete(base, headers=acme.headers), 404)
    assert_problem(client.post(base + "/rotate-secret", headers=acme.headers), 404)
    assert_problem(client.post(base + "/test", headers=acme.headers), 404)
    assert_problem(client.get(base + "/deliveries", headers=acme.headers), 404)
    assert_problem(client.post(f"/api/deliveries/{delivery}/retry", headers=acme.headers), 404)
    assert client.get("/api/destinations", headers=acme.headers).json["destinations"] == []
    after = client.get(base, headers=globex.headers).json
    assert after["description"] is None and after["status"] == "enabled"
    with hub_app.app_context():
        assert db.session.get(Delivery, delivery).status == "failed"


def test_a_test_delivery_is_a_ping_and_a_disabled_destination_refuses_it(client, acme, hub_app):
    created = create(client, acme)
    response = client.post(f"/api/destinations/{created['id']}/test", headers=acme.headers)
    assert response.status_code == 202
    with hub_app.app_context():
        assert db.session.get(Delivery, response.json["delivery_id"]).type == "hub.ping"
    client.patch(f"/api/destinations/{created['id']}", json={"status": "disabled"}, headers=acme.headers)
    assert_problem(client.post(f"/api/destinations/{created['id']}/test", headers=acme.headers), 409)
