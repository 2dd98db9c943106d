"""Listing integrations a page at a time without decrypting anything, and the per-tenant integration quota."""

from __future__ import annotations

import base64
import json
import threading
import time

import pytest
import sqlalchemy as sa

from hub.errors import IntegrationQuotaExceeded
from hub.storage.models import Integration, db, new_id, utcnow
from hub.tenancy.integrations import create_integration
from hub.testing import make_tenant
from tests.oauth_fixtures import connect
from tests.test_events_queries import BAD_CURSORS as EVENT_LIST_BAD_CURSORS
from tests.test_events_queries import cursor_of


def assert_problem(response, status, slug=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    if slug:
        assert response.json["type"].endswith("/" + slug)
    return response.json


def add_integrations(app, tenant, count: int, **fields) -> list[str]:
    with app.app_context():
        return [create_integration(tenant.id, connector="stripe", name=f"account {n}", credentials={"api_key": f"rk_{n}"}, **fields).id for n in range(count)]


def live_count(app, tenant_id: str) -> int:
    with app.app_context():
        return db.session.execute(
            sa.select(sa.func.count()).select_from(Integration).where(Integration.tenant_id == tenant_id, Integration.deleted_at.is_(None))
        ).scalar_one()


def pages(client, tenant, **params) -> list[list[str]]:
    found, cursor = [], None
    while True:
        query = dict(params, **({"cursor": cursor} if cursor else {}))
        response = client.get("/api/integrations", query_string=query, headers=tenant.headers)
        assert response.status_code == 200, response.json
        found.append([item["id"] for item in response.json["integrations"]])
        cursor = response.json["next_cursor"]
        if cursor is None:
            return found


# pagination -----------------------------------------------------------------


def test_integrations_are_listed_oldest_first_a_page_at_a_time(app, client, tenant, other_tenant):
    created = add_integrations(app, tenant, 5)
    add_integrations(app, other_tenant, 2)
    assert pages(client, tenant, limit="2") == [created[0:2], created[2:4], created[4:5]]
    assert pages(client, tenant) == [created], "50 to a page by default"


def test_integrations_created_with_the_same_timestamp_are_neither_skipped_nor_repeated(app, client, tenant):
    created = add_integrations(app, tenant, 4)
    with app.app_context():
        db.session.execute(sa.update(Integration).values(created_at=utcnow()))
        db.session.commit()
    listed = pages(client, tenant, limit="1")
    assert sorted(sum(listed, [])) == sorted(created) and len(listed) == 4


def test_filters_hold_across_pages(app, client, tenant):
    from hub.tenancy.integrations import update_integration_status

    created = add_integrations(app, tenant, 4)
    with app.app_context():
        for integration_id in created[1::2]:
            update_integration_status(tenant.id, integration_id, "disabled")
    assert pages(client, tenant, status="disabled", limit="1") == [[created[1]], [created[3]]]
    assert pages(client, tenant, connector="slack") == [[]]


def test_a_cursor_reaches_only_the_callers_own_integrations(app, client, tenant, other_tenant):
    add_integrations(app, tenant, 3)
    theirs = add_integrations(app, other_tenant, 3)
    cursor = client.get("/api/integrations", query_string={"limit": "1"}, headers=tenant.headers).json["next_cursor"]
    seen = client.get("/api/integrations", query_string={"cursor": cursor}, headers=other_tenant.headers).json["integrations"]
    assert {item["id"] for item in seen} <= set(theirs)


def _cursor(value) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


BAD_QUERIES = [
    {"limit": "0"}, {"limit": "201"}, {"limit": "-1"}, {"limit": "abc"}, {"limit": "²"}, {"limit": "1.5"}, {"limit": ""},
    {"limit": "9" * 5000}, {"status": "bogus"}, {"cursor": "not a cursor"}, {"cursor": "!!!"}, {"cursor": "x" * 2000},
    {"cursor": _cursor({"a": 1})}, {"cursor": _cursor(["2024-01-01T00:00:00", "id"])}, {"cursor": _cursor(["2024-01-01T00:00:00+00:00", 5])},
    {"cursor": _cursor(["not a time", "id"])}, {"cursor": _cursor([[], "id"])}, {"cursor": _cursor("[" * 5000)},
]


@pytest.mark.parametrize("query", BAD_QUERIES, ids=[json.dumps(q)[:60] for q in BAD_QUERIES])
def test_a_bad_limit_status_or_cursor_is_400(app, client, tenant, query):
    add_integrations(app, tenant, 1)
    assert_problem(client.get("/api/integrations", query_string=query, headers=tenant.headers), 400)


def test_listing_never_decrypts_so_a_row_that_does_not_open_cannot_break_it(app, client, tenant):
    good, tampered = add_integrations(app, tenant, 2)
    with app.app_context():
        row = db.session.get(Integration, tampered)
        flipped = {
            "webhook_secret_ciphertext": row.webhook_secret_ciphertext[:-6] + "AAAAAA",
            "credentials_ciphertext": row.credentials_ciphertext[:-6] + "AAAAAA",
        }
        db.session.execute(sa.update(Integration).where(Integration.id == tampered).values(**flipped))
        db.session.commit()
    listed = client.get("/api/integrations", headers=tenant.headers)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json["integrations"]] == [good, tampered]
    assert all("webhook_url" not in item for item in listed.json["integrations"])
    assert client.get(f"/api/integrations/{good}", headers=tenant.headers).json["webhook_url"].startswith("http://hub.test/api/webhooks/stripe/")


# quota ------------------------------------------------------------------------


@pytest.fixture
def quota_app(make_app, stripe_api):
    stripe_api.key_of("acct_1QuotaAccount", "rk_test_quota_key")
    return make_app(HUB_MAX_INTEGRATIONS_PER_TENANT=2, STRIPE_API_BASE_URL=stripe_api.base_url)


def test_the_api_refuses_integrations_over_the_tenants_quota(quota_app, stripe_api):
    tenant, other = make_tenant(quota_app, "Acme"), make_tenant(quota_app, "Globex")
    client = quota_app.test_client()
    body = {"connector": "stripe", "name": "Stripe", "credentials": {"api_key": "rk_test_quota_key"}}
    first, second = (client.post("/api/integrations", json=body, headers=tenant.headers) for _ in range(2))
    assert first.status_code == second.status_code == 201
    asked = len(stripe_api.calls)
    refused = client.post("/api/integrations", json=body, headers=tenant.headers)
    problem = assert_problem(refused, 409, "integration-quota-exceeded")
    assert problem["limit"] == 2 and "HUB_MAX_INTEGRATIONS_PER_TENANT" in problem["detail"]
    assert len(stripe_api.calls) == asked, "Stripe is not asked about an integration that cannot be stored"
    assert live_count(quota_app, tenant.id) == 2
    assert client.post("/api/integrations", json=body, headers=other.headers).status_code == 201, "the quota is per tenant"
    assert client.delete(f"/api/integrations/{first.json['id']}", headers=tenant.headers).status_code == 204
    assert client.post("/api/integrations", json=body, headers=tenant.headers).status_code == 201, "a deleted one frees its place"


def test_the_oauth_callback_refuses_a_new_integration_over_the_quota_but_renews_an_existing_one(build_oauth_app):
    app = build_oauth_app(HUB_MAX_INTEGRATIONS_PER_TENANT=1)
    tenant = make_tenant(app, "Acme")
    client = app.test_client()
    assert connect(client, tenant)["status"] == "success"
    renewed = connect(client, tenant)
    assert renewed["status"] == "success", "reconnecting the same account adds nothing"
    with app.app_context():
        db.session.execute(sa.update(Integration).values(external_account_id="another-account"))
        db.session.commit()
    landed = connect(client, tenant)
    assert (landed["status"], landed["error"]) == ("error", "integration_quota_exceeded")
    assert live_count(app, tenant.id) == 1


def _insert_integration(connection, tenant_id: str) -> None:
    """A competing integration row written on the test's own connection (nobody decrypts it)."""
    now = utcnow()
    connection.execute(sa.insert(Integration.__table__).values(
        id=new_id(), tenant_id=tenant_id, connector="stripe", name="competitor", status="active",
        webhook_secret_hash=new_id(), webhook_secret_ciphertext="-", credentials_ciphertext="-", key_id="-",
        version=1, created_at=now, updated_at=now,
    ))


def test_two_creates_at_the_quota_edge_cannot_both_pass(make_app):
    """The create counts under the tenant's lock: while another transaction holds it, the create waits, then counts again."""
    app = make_app(HUB_MAX_INTEGRATIONS_PER_TENANT=1)
    tenant = make_tenant(app, "Acme")
    outcome: list[str] = []

    def create_in_another_request() -> None:
        with app.app_context():
            try:
                create_integration(tenant.id, connector="stripe", name="racer", credentials={"api_key": "rk_race"})
                outcome.append("created")
            except IntegrationQuotaExceeded:
                outcome.append("refused")
            finally:
                db.session.remove()

    with app.app_context():
        engine = db.engine
    with engine.connect() as holder:
        postgres = holder.dialect.name == "postgresql"
        if postgres:  # what a concurrent create holds while it counts and inserts
            holder.execute(sa.select(Integration.__table__.c.id).limit(0))
            holder.execute(sa.text("SELECT id FROM tenants WHERE id = :id FOR NO KEY UPDATE"), {"id": tenant.id})
            holder_pid = holder.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        else:
            holder.execute(sa.select(Integration.__table__.c.id).limit(0))  # BEGIN IMMEDIATE: SQLite's one writer
        racer = threading.Thread(target=create_in_another_request)
        racer.start()
        if postgres:
            deadline = time.monotonic() + 30
            with engine.connect() as observer:
                while racer.is_alive() and time.monotonic() < deadline:
                    waiting = observer.execute(
                        sa.text("SELECT count(*) FROM pg_stat_activity WHERE :holder = ANY(pg_blocking_pids(pid))"), {"holder": holder_pid}
                    ).scalar_one()
                    observer.rollback()
                    if waiting:
                        break
                    time.sleep(0.01)
        _insert_integration(holder, tenant.id)
        holder.commit()
    racer.join(timeout=60)
    assert outcome == ["refused"]
    assert live_count(app, tenant.id) == 1


@pytest.mark.parametrize("value", list(EVENT_LIST_BAD_CURSORS.values()), ids=list(EVENT_LIST_BAD_CURSORS))
def test_integrations_and_events_refuse_the_same_cursors(app, client, tenant, value):
    add_integrations(app, tenant, 1)
    cursor = cursor_of(value)
    for path in ("/api/integrations", "/api/events"):
        assert_problem(client.get(path, query_string={"cursor": cursor}, headers=tenant.headers), 400)
