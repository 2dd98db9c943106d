"""Management requests: a body size limit enforced before the body is buffered, bounded
credential values, and input both databases can store (413 and 400 problems, nothing stored)."""

from __future__ import annotations

import io
import json

import pytest
import sqlalchemy as sa

from hub.storage.models import Integration, db
from tests.stripe_fixtures import accepting_any_stripe_key


@pytest.fixture
def make_app(make_app, stripe_api):
    """Stripe integrations created here are checked with a fake Stripe that knows every key."""
    return accepting_any_stripe_key(make_app, stripe_api)


DEFAULT_LIMIT = 64 * 1024


def count_integrations(app) -> int:
    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(Integration)).scalar_one()


def assert_problem(response, status):
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    body = response.json
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def integration_body(**credentials: str) -> dict:
    return {"connector": "stripe", "name": "Main account", "credentials": credentials or {"api_key": "rk_test_123"}}


def padded(size: int) -> bytes:
    """A JSON integration body of at least `size` bytes (the padding is a credential value)."""
    body = json.dumps(integration_body(api_key="k" * size)).encode()
    assert len(body) >= size
    return body


def chunked(client, method: str, path: str, body: bytes, headers: dict):
    """A request with no Content-Length: the body streams in chunks, as a WSGI server that terminates the input hands it on."""
    return client.open(
        path, method=method, input_stream=io.BytesIO(body), environ_base={"wsgi.input_terminated": True},
        headers={**headers, "Content-Type": "application/json", "Transfer-Encoding": "chunked"},
    )


def test_a_management_body_over_the_default_limit_is_413_and_stores_nothing(app, client, tenant):
    response = client.post("/api/integrations", data=padded(DEFAULT_LIMIT + 1), content_type="application/json", headers=tenant.headers)
    body = assert_problem(response, 413)
    assert str(DEFAULT_LIMIT) in body["detail"]
    assert count_integrations(app) == 0


def test_a_chunked_management_body_over_the_limit_is_413_and_stores_nothing(app, client, tenant):
    response = chunked(client, "POST", "/api/integrations", padded(DEFAULT_LIMIT + 1), tenant.headers)
    assert_problem(response, 413)
    assert count_integrations(app) == 0


def test_a_body_within_the_limit_is_read_with_or_without_content_length(app, client, tenant):
    small = json.dumps(integration_body()).encode()
    assert client.post("/api/integrations", data=small, content_type="application/json", headers=tenant.headers).status_code == 201
    assert chunked(client, "POST", "/api/integrations", small, tenant.headers).status_code == 201
    assert count_integrations(app) == 2


def test_the_limit_is_a_setting(make_app, tenant):
    app = make_app(HUB_MAX_REQUEST_BYTES=1024)
    client = app.test_client()
    from hub.testing import make_tenant

    own = make_tenant(app, "Limited")
    assert_problem(client.post("/api/integrations", data=padded(1100), content_type="application/json", headers=own.headers), 413)
    assert_problem(chunked(client, "POST", "/api/integrations", padded(1100), own.headers), 413)
    assert client.post("/api/integrations", json=integration_body(), headers=own.headers).status_code == 201


@pytest.mark.parametrize("send", ["content-length", "chunked"])
def test_an_oversized_patch_is_413_and_changes_nothing(app, client, tenant, send):
    created = client.post("/api/integrations", json=integration_body(), headers=tenant.headers).json
    path = f"/api/integrations/{created['id']}"
    body = json.dumps({"name": "n" * 10, "credentials": {"api_key": "k" * (DEFAULT_LIMIT + 1)}}).encode()
    if send == "chunked":
        response = chunked(client, "PATCH", path, body, tenant.headers)
    else:
        response = client.patch(path, data=body, content_type="application/json", headers=tenant.headers)
    assert_problem(response, 413)
    with app.app_context():
        assert db.session.get(Integration, created["id"]).version == 1


@pytest.mark.parametrize("send", ["content-length", "chunked"])
def test_an_oversized_connect_session_request_is_413(client, tenant, send):
    body = json.dumps({"end_user_id": "u" * (DEFAULT_LIMIT + 1)}).encode()
    if send == "chunked":
        response = chunked(client, "POST", "/api/connect/sessions", body, tenant.headers)
    else:
        response = client.post("/api/connect/sessions", data=body, content_type="application/json", headers=tenant.headers)
    assert_problem(response, 413)


def test_webhook_bodies_keep_their_own_larger_limit(make_app, tenant):
    """HUB_MAX_REQUEST_BYTES is for management calls; a webhook may be up to HUB_MAX_WEBHOOK_BYTES."""
    import hashlib
    import hmac
    import time

    from hub.storage.models import WebhookEvent
    from hub.testing import make_tenant

    app = make_app(HUB_MAX_REQUEST_BYTES=1024)
    client = app.test_client()
    own = make_tenant(app, "Big events")
    secret = "whsec_big_events_0123456789"
    created = client.post("/api/integrations", json=integration_body(api_key="rk_test_1", webhook_secret=secret), headers=own.headers)
    assert created.status_code == 201, created.json
    path = "/api/webhooks/stripe/" + created.json["webhook_url"].rsplit("/", 1)[1]
    body = json.dumps({"id": "evt_big", "type": "charge.succeeded", "data": {"object": {"id": "ch_1", "blob": "x" * 8192}}}).encode()
    timestamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    response = client.post(path, data=body, headers={"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={signature}"})
    assert response.status_code == 200, response.json
    with app.app_context():
        assert db.session.execute(sa.select(sa.func.count()).select_from(WebhookEvent)).scalar_one() == 1


OVERLONG = "k" * 8193


@pytest.mark.parametrize(
    "body",
    [
        integration_body(api_key=OVERLONG),
        integration_body(api_key="rk_test_1", webhook_secret=OVERLONG),
        {"connector": "stripe", "name": "Main", "credentials": {"x" * 65: "v", "api_key": "rk"}},
    ],
    ids=["overlong api key", "overlong webhook secret", "overlong field name"],
)
def test_an_overlong_credential_is_400_and_stores_nothing(app, client, tenant, body):
    secret_part = OVERLONG[:100]
    response = client.post("/api/integrations", json=body, headers=tenant.headers)
    problem = assert_problem(response, 400)
    assert secret_part not in response.get_data(as_text=True)
    assert any(error["field"].startswith("credentials") for error in problem["errors"])
    assert count_integrations(app) == 0


def test_an_overlong_credential_in_a_patch_is_400_and_changes_nothing(app, client, tenant):
    created = client.post("/api/integrations", json=integration_body(), headers=tenant.headers).json
    response = client.patch(f"/api/integrations/{created['id']}", json={"credentials": {"api_key": OVERLONG}}, headers=tenant.headers)
    assert_problem(response, 400)
    with app.app_context():
        assert db.session.get(Integration, created["id"]).version == 1


def test_a_credential_of_sane_length_is_accepted(app, client, tenant):
    pem_sized = "k" * 8192  # a 4096-bit RSA private key in PEM is about 3.3 KB
    assert client.post("/api/integrations", json=integration_body(api_key=pem_sized), headers=tenant.headers).status_code == 201


def test_an_overlong_connector_name_in_a_connect_session_is_400(client, tenant):
    response = client.post("/api/connect/sessions", json={"end_user_id": "u1", "allowed_connectors": ["c" * 65]}, headers=tenant.headers)
    assert_problem(response, 400)


def nested(depth: int) -> bytes:
    return b'{"connector": "stripe", "name": ' + b"[" * depth + b"]" * depth + b', "credentials": {"api_key": "rk"}}'


@pytest.mark.parametrize("depth", [100, 20_000], ids=["past the depth limit", "past the recursion limit"])
@pytest.mark.parametrize("method", ["post", "patch"])
def test_deeply_nested_json_is_400_and_stores_nothing(app, client, tenant, depth, method):
    path = "/api/integrations"
    if method == "patch":
        path += "/" + client.post("/api/integrations", json=integration_body(), headers=tenant.headers).json["id"]
    response = getattr(client, method)(path, data=nested(depth), content_type="application/json", headers=tenant.headers)
    assert_problem(response, 400)
    assert count_integrations(app) == (1 if method == "patch" else 0)


def test_deeply_nested_json_to_connect_sessions_is_400(client, tenant):
    body = b'{"end_user_id": "u1", "allowed_connectors": ' + b"[" * 20_000 + b"]" * 20_000 + b"}"
    assert_problem(client.post("/api/connect/sessions", data=body, content_type="application/json", headers=tenant.headers), 400)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"connector": "stripe", "name": "a\\u0000b", "credentials": {"api_key": "rk"}}',
        b'{"connector": "stripe", "name": "a\\ud800b", "credentials": {"api_key": "rk"}}',
        b'{"connector": "stripe", "name": "ok", "credentials": {"api_key": "rk\\udfff"}}',
    ],
    ids=["NUL in name", "lone surrogate in name", "lone surrogate in a credential"],
)
def test_text_the_databases_cannot_store_is_400_on_both_and_stores_nothing(app, client, tenant, raw):
    response = client.post("/api/integrations", data=raw, content_type="application/json", headers=tenant.headers)
    assert_problem(response, 400)
    assert count_integrations(app) == 0


def test_a_nul_in_a_renamed_integration_is_400_and_changes_nothing(app, client, tenant):
    created = client.post("/api/integrations", json=integration_body(), headers=tenant.headers).json
    response = client.patch(f"/api/integrations/{created['id']}", data=b'{"name": "x\\u0000"}', content_type="application/json", headers=tenant.headers)
    assert_problem(response, 400)
    assert client.get(f"/api/integrations/{created['id']}", headers=tenant.headers).json["name"] == "Main account"


@pytest.mark.parametrize(
    "method,url",
    [
        ("get", "/api/integrations/%00"),
        ("patch", "/api/integrations/abc%00def"),
        ("delete", "/api/integrations/%00"),
        ("get", "/api/integrations?connector=%00"),
        ("get", "/api/events/%00"),
        ("post", "/api/events/%00/replay"),
        ("get", "/api/events?integration_id=x%00"),
    ],
)
def test_a_nul_in_the_url_is_400_on_both_databases(client, tenant, method, url):
    response = getattr(client, method)(url, headers=tenant.headers, json={"name": "x"} if method == "patch" else None)
    assert_problem(response, 400)
