"""Tenant API keys by API and CLI: created (shown once), listed, revoked; last use kept to the minute."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hub.cli import main
from hub.storage.models import ApiKey, db, utcnow


def assert_problem(response, status, slug=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    if slug:
        assert response.json["type"].endswith("/" + slug)
    return response.json


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def key_rows(app) -> list[ApiKey]:
    with app.app_context():
        rows = list(db.session.execute(sa.select(ApiKey).order_by(ApiKey.created_at)).scalars())
        db.session.expunge_all()
        return rows


def test_a_new_key_is_shown_once_and_works_next_to_the_old_one(app, client, tenant):
    created = client.post("/api/keys", json={"name": "deploy 2024-06"}, headers=tenant.headers)
    assert created.status_code == 201
    body = created.json
    assert set(body) == {"id", "name", "key", "prefix", "created_at", "last_used_at"}
    assert body["name"] == "deploy 2024-06" and body["key"].startswith(body["prefix"]) and body["key"].startswith("hub_sk_")
    assert client.get("/api/integrations", headers=bearer(body["key"])).status_code == 200
    assert client.get("/api/integrations", headers=tenant.headers).status_code == 200, "rotation needs both keys at once"

    listed = client.get("/api/keys", headers=tenant.headers)
    assert listed.status_code == 200
    assert [item["id"] for item in listed.json["keys"]][-1] == body["id"]
    assert all(set(item) == {"id", "name", "prefix", "created_at", "last_used_at"} for item in listed.json["keys"])
    text = listed.get_data(as_text=True)
    for key in (body["key"], tenant.api_key):
        assert key not in text and hashlib.sha256(key.encode()).hexdigest() not in text


def test_a_key_can_be_created_without_a_body(client, tenant):
    created = client.post("/api/keys", headers=tenant.headers)
    assert created.status_code == 201 and created.json["name"] is None


def test_listing_shows_the_callers_tenant_only(client, tenant, other_tenant):
    client.post("/api/keys", json={"name": "mine"}, headers=tenant.headers)
    names = [item["name"] for item in client.get("/api/keys", headers=other_tenant.headers).json["keys"]]
    assert names == [None], "only the other tenant's own first key"


def test_a_revoked_key_is_refused_by_every_process(make_app, app, client, tenant):
    other_process = make_app().test_client()
    spare = client.post("/api/keys", json={"name": "spare"}, headers=tenant.headers).json
    assert other_process.get("/api/keys", headers=bearer(spare["key"])).status_code == 200
    assert client.delete(f"/api/keys/{spare['id']}", headers=tenant.headers).status_code == 204
    for process in (client, other_process):
        assert_problem(process.get("/api/keys", headers=bearer(spare["key"])), 401)
    assert [item["id"] for item in client.get("/api/keys", headers=tenant.headers).json["keys"]] != [], "the other key still works"
    assert spare["id"] not in [item["id"] for item in client.get("/api/keys", headers=tenant.headers).json["keys"]]


def test_a_key_can_revoke_itself(client, tenant):
    own = client.get("/api/keys", headers=tenant.headers).json["keys"][0]
    assert client.delete(f"/api/keys/{own['id']}", headers=tenant.headers).status_code == 204
    assert_problem(client.get("/api/keys", headers=tenant.headers), 401)


def test_another_tenants_key_is_not_found_and_keeps_working(client, tenant, other_tenant):
    theirs = client.get("/api/keys", headers=other_tenant.headers).json["keys"][0]
    stolen = assert_problem(client.delete(f"/api/keys/{theirs['id']}", headers=tenant.headers), 404)
    unknown = assert_problem(client.delete("/api/keys/00000000-0000-0000-0000-000000000000", headers=tenant.headers), 404)
    assert stolen == unknown
    assert client.get("/api/keys", headers=other_tenant.headers).status_code == 200


def test_revoking_twice_is_not_found(client, tenant):
    spare = client.post("/api/keys", headers=tenant.headers).json
    assert client.delete(f"/api/keys/{spare['id']}", headers=tenant.headers).status_code == 204
    assert_problem(client.delete(f"/api/keys/{spare['id']}", headers=tenant.headers), 404)


BAD_BODIES = [
    ("not json", "text/plain", b"name=x"),
    ("malformed json", "application/json", b'{"name": '),
    ("json array", "application/json", b'["x"]'),
    ("empty name", "application/json", b'{"name": ""}'),
    ("name too long", "application/json", b'{"name": "' + b"x" * 201 + b'"}'),
    ("name not a string", "application/json", b'{"name": 5}'),
    ("unknown field", "application/json", b'{"name": "x", "scopes": ["admin"]}'),
    ("tenant smuggled", "application/json", b'{"tenant_id": "someone-else"}'),
]


@pytest.mark.parametrize("label,content_type,raw", BAD_BODIES, ids=[b[0] for b in BAD_BODIES])
def test_bad_key_bodies_get_400_and_create_nothing(app, client, tenant, label, content_type, raw):
    before = len(key_rows(app))
    assert_problem(client.post("/api/keys", data=raw, content_type=content_type, headers=tenant.headers), 400)
    assert len(key_rows(app)) == before


@pytest.mark.parametrize("method,path", [("get", "/api/keys"), ("post", "/api/keys"), ("delete", "/api/keys/x")])
@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer hub_sk_wrong"}])
def test_key_calls_need_a_valid_api_key(client, method, path, headers):
    assert_problem(getattr(client, method)(path, headers=headers), 401)


def test_a_tenant_holds_a_bounded_number_of_live_keys(app, client, tenant):
    from hub.tenancy.api_keys import MAX_LIVE_KEYS, issue_api_key

    with app.app_context():
        for _ in range(MAX_LIVE_KEYS - 1):
            issue_api_key(tenant.id)
        db.session.commit()
    refused = client.post("/api/keys", json={"name": "one too many"}, headers=tenant.headers)
    assert assert_problem(refused, 409, "api-key-limit-reached")["limit"] == MAX_LIVE_KEYS
    spare = client.get("/api/keys", headers=tenant.headers).json["keys"][-1]
    client.delete(f"/api/keys/{spare['id']}", headers=tenant.headers)
    assert client.post("/api/keys", headers=tenant.headers).status_code == 201


@pytest.fixture
def api_key_writes(app):
    """Every statement that writes to api_keys, as the database driver received it."""
    writes: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # noqa: ARG001
        if re.match(r"\s*UPDATE api_keys", statement, re.I):
            writes.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    yield writes
    sa.event.remove(engine, "before_cursor_execute", record)


def test_last_use_is_written_at_most_once_a_minute(app, client, tenant, api_key_writes):
    assert key_rows(app)[0].last_used_at is None
    for _ in range(5):
        assert client.get("/api/integrations", headers=tenant.headers).status_code == 200
    assert len(api_key_writes) == 1, "one write for five calls"
    first_use = key_rows(app)[0].last_used_at
    assert first_use is not None
    assert client.get("/api/keys", headers=tenant.headers).json["keys"][0]["last_used_at"] is not None

    with app.app_context():  # a minute and more later
        db.session.execute(sa.update(ApiKey).values(last_used_at=first_use - timedelta(minutes=2)))
        db.session.commit()
    client.get("/api/integrations", headers=tenant.headers)
    assert len(api_key_writes) == 3, "the clock moved on: written again"
    assert key_rows(app)[0].last_used_at > first_use - timedelta(minutes=2)


def test_last_use_write_does_not_hold_the_database(app, client, tenant):
    """The write is committed at once: a writer on another connection is not kept waiting for the request."""
    with app.app_context():
        db.session.execute(sa.update(ApiKey).values(last_used_at=utcnow() - timedelta(minutes=5)))
        db.session.commit()

    @app.get("/__probe_after_auth")
    def probe():  # type: ignore[no-untyped-def]
        from hub.api.auth import authenticate_api_key

        authenticate_api_key()
        with db.engine.connect() as other:  # another connection writes while this request is still running
            if other.dialect.name == "postgresql":  # fail instead of waiting on a lock this very request holds
                other.execute(sa.text("SET LOCAL lock_timeout = '1s'"))
            other.execute(sa.update(ApiKey).values(name="written meanwhile"))
            other.commit()
        return "ok"

    assert client.get("/__probe_after_auth", headers=tenant.headers).status_code == 200
    assert {row.name for row in key_rows(app)} == {"written meanwhile"}


# command line --------------------------------------------------------------


def test_cli_creates_lists_and_revokes_keys(app, client, tenant):
    runner = app.test_cli_runner()
    created = runner.invoke(main, args=["tenants", "keys", "create", tenant.id, "--name", "from the cli"])
    assert created.exit_code == 0, created.output
    key = re.search(r"api_key:\s+(\S+)", created.output).group(1)
    key_id = re.search(r"key_id:\s+(\S+)", created.output).group(1)
    assert client.get("/api/integrations", headers=bearer(key)).status_code == 200

    listed = runner.invoke(main, args=["tenants", "keys", "list", tenant.id])
    assert listed.exit_code == 0 and key_id in listed.output and "from the cli" in listed.output
    assert key not in listed.output

    revoked = runner.invoke(main, args=["tenants", "keys", "revoke", key_id])
    assert revoked.exit_code == 0, revoked.output
    assert_problem(client.get("/api/integrations", headers=bearer(key)), 401)
    assert client.get("/api/integrations", headers=tenant.headers).status_code == 200


@pytest.mark.parametrize(
    "args",
    [
        ["tenants", "keys", "revoke", "00000000-0000-0000-0000-000000000000"],
        ["tenants", "keys", "create", "00000000-0000-0000-0000-000000000000"],
        ["tenants", "keys", "create", "TENANT", "--name", ""],
    ],
    ids=["unknown key", "unknown tenant", "empty name"],
)
def test_cli_refuses_what_does_not_exist(app, tenant, args):
    args = [tenant.id if arg == "TENANT" else arg for arg in args]
    before = len(key_rows(app))
    result = app.test_cli_runner().invoke(main, args=args)
    assert result.exit_code != 0
    assert "Traceback" not in result.output
    assert len(key_rows(app)) == before
