"""The integrations REST API: auth, tenant isolation, validation, no credentials out."""

from __future__ import annotations

import json
import logging

import pytest
import sqlalchemy as sa

from hub.storage.models import Integration, db

STRIPE_KEY = "rk_test_51SecretRestrictedKey0000"
WEBHOOK_SIGNING_SECRET = "whsec_TopSecretSigningValue"
STRIPE_ACCOUNT = "acct_1MainAccount"


@pytest.fixture
def app(make_app, stripe_api):
    """Stripe keys are checked with Stripe (`GET /v1/account`): here, a fake that knows these keys."""
    for key in (STRIPE_KEY, "rk_new", "rk_rolled"):
        stripe_api.key_of(STRIPE_ACCOUNT, key)
    return make_app(STRIPE_API_BASE_URL=stripe_api.base_url)


def create(client, tenant, **overrides):
    body = {"connector": "stripe", "name": "Main account", "credentials": {"api_key": STRIPE_KEY}}
    body.update(overrides)
    return client.post("/api/integrations", json=body, headers=tenant.headers)


def count_integrations(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Integration)).scalar_one()


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status and body["title"] and body["type"] and body["detail"]
    return body


def test_create_and_read_an_api_key_integration(client, tenant):
    created = create(client, tenant)
    assert created.status_code == 201
    body = created.json
    assert body["connector"] == "stripe" and body["status"] == "active"
    assert body["webhook_url"].startswith("http://hub.test/api/webhooks/stripe/whk_")
    assert body["external_account_id"] == STRIPE_ACCOUNT, "learned from Stripe"
    fetched = client.get(f"/api/integrations/{body['id']}", headers=tenant.headers)
    assert fetched.status_code == 200
    assert fetched.json == body
    listed = client.get("/api/integrations", headers=tenant.headers)
    assert [i["id"] for i in listed.json["integrations"]] == [body["id"]]
    assert listed.json["next_cursor"] is None
    assert listed.json["integrations"][0] == {k: v for k, v in body.items() if k != "webhook_url"}, "lists never decrypt"


def test_credentials_never_appear_in_responses(client, tenant):
    created = create(client, tenant, credentials={"api_key": STRIPE_KEY, "webhook_secret": WEBHOOK_SIGNING_SECRET})
    responses = [
        created,
        client.get(f"/api/integrations/{created.json['id']}", headers=tenant.headers),
        client.get("/api/integrations", headers=tenant.headers),
        client.patch(f"/api/integrations/{created.json['id']}", json={"name": "x"}, headers=tenant.headers),
    ]
    for response in responses:
        text = response.get_data(as_text=True)
        assert STRIPE_KEY not in text and WEBHOOK_SIGNING_SECRET not in text


def test_credentials_are_stored_encrypted(app, client, tenant):
    create(client, tenant)
    with app.app_context():
        row = db.session.execute(sa.select(Integration)).scalar_one()
        assert STRIPE_KEY not in row.credentials_ciphertext
        assert row.credentials_ciphertext.startswith("v2.")


@pytest.mark.parametrize("method,path_suffix", [("get", ""), ("patch", ""), ("delete", "")])
def test_another_tenants_integration_is_not_found(client, tenant, other_tenant, method, path_suffix):
    integration_id = create(client, tenant).json["id"]
    kwargs = {"headers": other_tenant.headers}
    if method == "patch":
        kwargs["json"] = {"name": "stolen"}
    response = getattr(client, method)(f"/api/integrations/{integration_id}{path_suffix}", **kwargs)
    body = assert_problem(response, 404)
    unknown = getattr(client, method)("/api/integrations/00000000-0000-0000-0000-000000000000", **kwargs)
    assert unknown.json == body, "another tenant's id looks exactly like an unknown one"
    assert client.get(f"/api/integrations/{integration_id}", headers=tenant.headers).json["name"] == "Main account"


def test_listing_shows_the_callers_tenant_only(client, tenant, other_tenant):
    create(client, tenant)
    assert client.get("/api/integrations", headers=other_tenant.headers).json["integrations"] == []


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer hub_sk_wrong"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}])
@pytest.mark.parametrize("method,path", [("get", "/api/integrations"), ("post", "/api/integrations"), ("get", "/api/integrations/x"), ("patch", "/api/integrations/x"), ("delete", "/api/integrations/x")])
def test_management_calls_need_a_valid_api_key(client, headers, method, path):
    response = getattr(client, method)(path, headers=headers, json={})
    assert_problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_tenant_id_in_the_body_is_rejected_and_nothing_stored(app, client, tenant, other_tenant):
    response = create(client, tenant, tenant_id=other_tenant.id)
    body = assert_problem(response, 400)
    assert any(error["field"] == "tenant_id" for error in body["errors"])
    assert count_integrations(app) == 0


def test_tenant_id_in_the_query_is_rejected(client, tenant, other_tenant):
    response = client.get(f"/api/integrations?tenant_id={other_tenant.id}", headers=tenant.headers)
    assert_problem(response, 400)


BAD_BODIES = [
    ("not json", "text/plain", b"connector=stripe"),
    ("malformed json", "application/json", b'{"connector": "stripe",'),
    ("json array", "application/json", b"[]"),
    ("unknown field", "application/json", json.dumps({"connector": "stripe", "name": "a", "credentials": {"api_key": "k"}, "colour": "red"}).encode()),
    ("name wrong type", "application/json", json.dumps({"connector": "stripe", "name": 5, "credentials": {"api_key": "k"}}).encode()),
    ("credentials wrong type", "application/json", json.dumps({"connector": "stripe", "name": "a", "credentials": "k"}).encode()),
    ("credential value wrong type", "application/json", json.dumps({"connector": "stripe", "name": "a", "credentials": {"api_key": 1}}).encode()),
    ("missing name", "application/json", json.dumps({"connector": "stripe", "credentials": {"api_key": "k"}}).encode()),
    ("empty name", "application/json", json.dumps({"connector": "stripe", "name": "", "credentials": {"api_key": "k"}}).encode()),
    ("missing required credential", "application/json", json.dumps({"connector": "stripe", "name": "a", "credentials": {"webhook_secret": "whsec_1"}}).encode()),
    ("unknown credential", "application/json", json.dumps({"connector": "stripe", "name": "a", "credentials": {"api_key": "k", "password": "p"}}).encode()),
    ("oauth-only connector", "application/json", json.dumps({"connector": "slack", "name": "a", "credentials": {"token": "k"}}).encode()),
    ("claimed account id", "application/json", json.dumps({"connector": "stripe", "name": "a", "credentials": {"api_key": STRIPE_KEY}, "external_account_id": "acct_1MainAccount"}).encode()),
    ("invalid utf-8", "application/json", b'{"name": "\xff"}'),
]


@pytest.mark.parametrize("label,content_type,raw", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_create_bodies_get_400_and_store_nothing(app, client, tenant, label, content_type, raw):
    response = client.post("/api/integrations", data=raw, content_type=content_type, headers=tenant.headers)
    body = assert_problem(response, 400)
    assert "k" != body["detail"]
    assert count_integrations(app) == 0


def test_validation_errors_never_echo_submitted_values(client, tenant):
    secret = "sk_live_ShouldNeverBeEchoed"
    response = client.post("/api/integrations", json={"connector": "stripe", "name": 7, "credentials": {"api_key": secret}, "extra": secret}, headers=tenant.headers)
    assert response.status_code == 400
    assert secret not in response.get_data(as_text=True)


def test_unknown_connector_is_404_and_stores_nothing(app, client, tenant):
    assert_problem(create(client, tenant, connector="nope"), 404)
    assert count_integrations(app) == 0


def test_patch_renames_disables_and_replaces_credentials(app, client, tenant):
    integration_id = create(client, tenant).json["id"]
    response = client.patch(f"/api/integrations/{integration_id}", json={"name": "Renamed", "status": "disabled", "credentials": {"api_key": "rk_new"}}, headers=tenant.headers)
    assert response.status_code == 200
    assert response.json["name"] == "Renamed" and response.json["status"] == "disabled"
    from hub.tenancy.integrations import get_integration_with_credentials

    with app.app_context():
        integration, credentials = get_integration_with_credentials(tenant.id, integration_id)
        assert credentials == {"api_key": "rk_new"}
        assert integration.version == 2


@pytest.mark.parametrize("body", [{}, {"status": "needs_reauth"}, {"status": "bogus"}, {"name": ""}, {"tenant_id": "x"}, {"credentials": {"api_key": 3}}, {"credentials": {"nope": "x"}}, {"external_account_id": "acct_other"}])
def test_bad_patches_get_400_and_change_nothing(client, tenant, body):
    integration_id = create(client, tenant).json["id"]
    before = client.get(f"/api/integrations/{integration_id}", headers=tenant.headers).json
    assert_problem(client.patch(f"/api/integrations/{integration_id}", json=body, headers=tenant.headers), 400)
    assert client.get(f"/api/integrations/{integration_id}", headers=tenant.headers).json == before


def test_delete_is_a_soft_delete(app, client, tenant):
    integration_id = create(client, tenant).json["id"]
    assert client.delete(f"/api/integrations/{integration_id}", headers=tenant.headers).status_code == 204
    assert_problem(client.get(f"/api/integrations/{integration_id}", headers=tenant.headers), 404)
    assert client.get("/api/integrations", headers=tenant.headers).json["integrations"] == []
    assert_problem(client.delete(f"/api/integrations/{integration_id}", headers=tenant.headers), 404)
    with app.app_context():
        row = db.session.get(Integration, integration_id)
        assert row is not None and row.deleted_at is not None


def test_credentials_never_reach_the_logs(client, tenant, caplog):
    with caplog.at_level(logging.DEBUG):
        created = create(client, tenant, credentials={"api_key": STRIPE_KEY, "webhook_secret": WEBHOOK_SIGNING_SECRET})
        client.patch(f"/api/integrations/{created.json['id']}", json={"credentials": {"api_key": STRIPE_KEY}}, headers=tenant.headers)
        create(client, tenant, credentials={"api_key": STRIPE_KEY, "bogus": WEBHOOK_SIGNING_SECRET})
    assert STRIPE_KEY not in caplog.text and WEBHOOK_SIGNING_SECRET not in caplog.text


def test_unknown_routes_and_methods_are_problems(client, tenant):
    assert_problem(client.get("/api/nothing-here"), 404)
    response = client.put("/api/integrations", headers=tenant.headers)
    assert_problem(response, 405)


def test_patch_merges_credentials_and_null_removes_a_field(app, client, tenant):
    integration_id = create(client, tenant, credentials={"api_key": STRIPE_KEY, "webhook_secret": "whsec_keep_me"}).json["id"]
    from hub.tenancy.integrations import get_integration_with_credentials

    rolled = client.patch(f"/api/integrations/{integration_id}", json={"credentials": {"api_key": "rk_rolled"}}, headers=tenant.headers)
    assert rolled.status_code == 200
    with app.app_context():
        assert get_integration_with_credentials(tenant.id, integration_id)[1] == {"api_key": "rk_rolled", "webhook_secret": "whsec_keep_me"}
    dropped = client.patch(f"/api/integrations/{integration_id}", json={"credentials": {"webhook_secret": None}}, headers=tenant.headers)
    assert dropped.status_code == 200
    with app.app_context():
        assert get_integration_with_credentials(tenant.id, integration_id)[1] == {"api_key": "rk_rolled"}
    assert_problem(client.patch(f"/api/integrations/{integration_id}", json={"credentials": {"api_key": None}}, headers=tenant.headers), 400)


def test_a_provider_verdict_is_not_patched_away(app, client, tenant):
    from hub.tenancy.integrations import update_integration_status

    integration_id = create(client, tenant).json["id"]
    with app.app_context():
        update_integration_status(tenant.id, integration_id, "needs_reauth")
    assert_problem(client.patch(f"/api/integrations/{integration_id}", json={"status": "active"}, headers=tenant.headers), 409)
    assert client.get(f"/api/integrations/{integration_id}", headers=tenant.headers).json["status"] == "needs_reauth"
