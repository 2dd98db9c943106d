"""Per-tenant rate limits on the management API: 429 problem with Retry-After."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["memory", "redis"])
def limited_apps(request, make_app):
    """Two app instances (two API processes) with a 5/minute tenant limit."""
    config = {"HUB_TENANT_RATE_LIMIT": "5/minute"}
    if request.param == "redis":
        config["REDIS_URL"] = request.getfixturevalue("redis_url")
        return make_app(**config), make_app(**config)
    app = make_app(**config)
    return app, app


def test_a_tenant_over_its_limit_gets_429_with_retry_after(limited_apps, tenant, other_tenant):
    first, second = limited_apps
    clients = [first.test_client(), second.test_client()]
    statuses = [clients[n % 2].get("/api/integrations", headers=tenant.headers).status_code for n in range(7)]
    assert statuses == [200] * 5 + [429] * 2, "the limit is shared by every API process"
    limited = clients[0].get("/api/integrations", headers=tenant.headers)
    assert limited.status_code == 429
    assert limited.mimetype == "application/problem+json"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert clients[0].get("/api/integrations", headers=other_tenant.headers).status_code == 200, "limits are per tenant"


def test_unauthenticated_calls_do_not_consume_a_tenants_budget(make_app, tenant):
    app = make_app(HUB_TENANT_RATE_LIMIT="2/minute")
    client = app.test_client()
    for _ in range(5):
        assert client.get("/api/integrations", headers={"Authorization": "Bearer hub_sk_nope"}).status_code == 401
    assert client.get("/api/integrations", headers=tenant.headers).status_code == 200


def test_an_unreachable_limit_store_fails_closed_with_503(make_app, tenant):
    app = make_app(REDIS_URL="redis://127.0.0.1:1/0", HUB_TENANT_RATE_LIMIT="5/minute")
    response = app.test_client().get("/api/integrations", headers=tenant.headers)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
