"""A signed delivery the hub cannot store is a 400 problem on both databases, never a 5xx.

The provider stops retrying a 4xx; a 5xx (or a 503 with Retry-After) would make
it retry the same body forever. Every bad body here is refused before any
database call, by the core's checks of what `normalize` returns (for every
connector) and by the Stripe plugin's own reading of its bodies; a value the
database still refuses is bad data, not an outage.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest
import sqlalchemy as sa

from hub.storage.models import Job, WebhookEvent
from hub.testing import make_tenant
from tests.pipeline_fixtures import APP_SECRET
from tests.stripe_fixtures import accepting_any_stripe_key


@pytest.fixture
def make_app(make_app, stripe_api):
    """Stripe integrations created here are checked with a fake Stripe that knows every key."""
    return accepting_any_stripe_key(make_app, stripe_api)


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def signed_body(*, id='"evt_1"', type='"thing.created"', data="{}", subject="null", account="null") -> bytes:
    """A body of the `signed` test connector, written as raw JSON text (so it can hold NaN, escapes and deep nesting)."""
    return f'{{"id": {id}, "type": {type}, "subject": {subject}, "account": {account}, "data": {data}}}'.encode()


UNSTORABLE = {
    "NaN in data": signed_body(data='{"amount": NaN}'),
    "Infinity in data": signed_body(data='{"amount": Infinity}'),
    "-Infinity in data": signed_body(data="[1, -Infinity]"),
    "a number that overflows to infinity": signed_body(data='{"amount": 1e400}'),
    "NUL in the id": signed_body(id='"evt_\\u0000"'),
    "NUL in the type": signed_body(type='"thing.\\u0000created"'),
    "NUL in the subject": signed_body(subject='"cus_\\u0000"'),
    "lone surrogate in the id": signed_body(id='"evt_\\ud800"'),
    "lone surrogate in the type": signed_body(type='"thing.\\udfff"'),
    "lone surrogate in the subject": signed_body(subject='"\\ud83d"'),
    "NUL in the account": signed_body(account='"acct_\\u0000"'),
    "data nested past the depth limit": signed_body(data=nested(65)),
    "data nested 964 deep": signed_body(data=nested(964)),
    "body nested 100k deep": signed_body(data=nested(100_000)),
}


def connected_account(pipeline, account: str) -> str:
    """An integration of the `signed` connector whose provider account is `account` (learned from the provider, as OAuth would)."""
    from hub.tenancy.integrations import create_integration

    with pipeline.app.app_context():
        return create_integration(
            pipeline.tenant.id, connector="signed", name=account, credentials={"api_key": "key_1", "signing_secret": "whsig_x"},
            external_account_id=account,
        ).id


def assert_refused_and_nothing_stored(pipeline, response, secret: str) -> None:
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    assert "Retry-After" not in response.headers
    assert response.json["status"] == 400 and response.json["detail"]
    assert secret not in response.get_data(as_text=True)
    assert pipeline.rows(WebhookEvent) == []
    assert pipeline.rows(Job) == []


@pytest.mark.parametrize("body", list(UNSTORABLE.values()), ids=list(UNSTORABLE))
def test_a_signed_body_the_hub_cannot_store_is_400_and_stores_nothing(pipeline, body):
    integration = pipeline.create_integration()
    response = pipeline.deliver(integration["path"], body, secret=integration["signing_secret"])
    assert_refused_and_nothing_stored(pipeline, response, integration["signing_secret"])
    again = pipeline.deliver(integration["path"], body, secret=integration["signing_secret"])
    assert again.status_code == 400, "the same body gets the same answer, every time"


@pytest.mark.parametrize("case", ["NaN in data", "NUL in the id", "lone surrogate in the subject"])
def test_one_unstorable_event_refuses_the_whole_delivery(pipeline, case):
    """Several events take the session path; a bad one must not leave the good ones half stored."""
    integration = pipeline.create_integration()
    good = json.dumps({"id": "evt_good", "type": "thing.created", "data": {}})
    delivery = b'{"events": [' + good.encode() + b", " + UNSTORABLE[case] + b"]}"
    response = pipeline.deliver(integration["path"], delivery, secret=integration["signing_secret"])
    assert_refused_and_nothing_stored(pipeline, response, integration["signing_secret"])


@pytest.mark.parametrize("case", ["Infinity in data", "NUL in the type", "data nested 964 deep"])
def test_an_unstorable_event_at_the_app_level_url_is_400(pipeline, case):
    connected_account(pipeline, "acct_42")
    routed = UNSTORABLE[case].replace(b'"account": null', b'"account": "acct_42"')
    response = pipeline.deliver(pipeline.app_path(), routed, secret=APP_SECRET)
    assert_refused_and_nothing_stored(pipeline, response, APP_SECRET)


def test_an_unsigned_unstorable_body_is_still_401(pipeline):
    integration = pipeline.create_integration()
    response = pipeline.deliver(integration["path"], UNSTORABLE["NaN in data"], secret="not-the-secret")
    assert response.status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        signed_body(data=nested(64)),
        signed_body(id='"evt_\\u00e9\\ud83d\\ude00"', subject='"caf\\u00e9"', data='{"text": "\\u0000 and \\ud800 stay as sent"}'),
        signed_body(data='{"big": 123456789012345678901234567890, "small": -1e-300}'),
    ],
    ids=["data nested exactly to the limit", "astral and accented text; escapes inside data", "big and tiny numbers"],
)
def test_bodies_at_the_edges_of_what_is_storable_are_accepted(pipeline, body):
    integration = pipeline.create_integration()
    response = pipeline.deliver(integration["path"], body, secret=integration["signing_secret"])
    assert response.json == {"status": "accepted"}, response.json
    [stored] = pipeline.events()
    assert stored["event"]["data"] == json.loads(body)["data"]


# Stripe: the real plugin through the hub's endpoint -------------------------------

STRIPE_SECRET = "whsec_unstorable_0123456789abcdef"
PLATFORM_SECRET = "whsec_platform_0123456789abcdef"


def stripe_body(*, id='"evt_1"', created="1700000000", object_id='"ch_1"', data_extra="") -> bytes:
    return (
        f'{{"id": {id}, "object": "event", "type": "charge.succeeded", "created": {created}, "livemode": false, '
        f'"data": {{"object": {{"id": {object_id}, "object": "charge"{data_extra}}}}}}}'
    ).encode()


STRIPE_UNSTORABLE = {
    "created 1e20": stripe_body(created="1e20"),
    "created -1e20": stripe_body(created="-1e20"),
    "created past the year 9999": stripe_body(created="253402300800"),
    "created Infinity": stripe_body(created="Infinity"),
    "created NaN": stripe_body(created="NaN"),
    "lone surrogate in the id": stripe_body(id='"evt_\\ud800"'),
    "lone surrogate in the subject": stripe_body(object_id='"ch_\\udc00"'),
    "NUL in the id": stripe_body(id='"evt_\\u0000"'),
    "Infinity in data": stripe_body(data_extra=', "amount": Infinity'),
    "nested 964 deep": stripe_body(data_extra=f', "x": {nested(964)}'),
    "nested 100k deep": stripe_body(data_extra=f', "x": {nested(100_000)}'),
}


def stripe_post(client, path: str, body: bytes, secret: str):
    timestamp = int(time.time())
    signature = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return client.post(path, data=body, headers={"Content-Type": "application/json", "Stripe-Signature": f"t={timestamp},v1={signature}"})


@pytest.fixture
def stripe(make_app):
    app = make_app(STRIPE_WEBHOOK_SECRET=PLATFORM_SECRET)
    tenant = make_tenant(app, "Acme")
    client = app.test_client()
    created = client.post(
        "/api/integrations", headers=tenant.headers,
        json={"connector": "stripe", "name": "Main", "credentials": {"api_key": "rk_test_abc123", "webhook_secret": STRIPE_SECRET}},
    )
    assert created.status_code == 201, created.json
    return app, client, "/api/webhooks/stripe/" + created.json["webhook_url"].rsplit("/", 1)[1]


def stored_count(app) -> int:
    from hub.storage.models import db

    with app.app_context():
        return db.session.execute(sa.select(sa.func.count()).select_from(WebhookEvent)).scalar_one()


@pytest.mark.parametrize("body", list(STRIPE_UNSTORABLE.values()), ids=list(STRIPE_UNSTORABLE))
def test_a_signed_stripe_body_the_hub_cannot_store_is_400_and_stores_nothing(stripe, body):
    app, client, path = stripe
    response = stripe_post(client, path, body, STRIPE_SECRET)
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    assert "Retry-After" not in response.headers
    assert STRIPE_SECRET not in response.get_data(as_text=True)
    assert stored_count(app) == 0
    assert stripe_post(client, path, body, STRIPE_SECRET).status_code == 400


def test_a_well_formed_stripe_event_is_still_stored(stripe):
    app, client, path = stripe
    assert stripe_post(client, path, stripe_body(), STRIPE_SECRET).json == {"status": "accepted"}
    assert stored_count(app) == 1


# The second line: a value the database refuses is bad data, not an outage ----------


@pytest.mark.postgres_only
def test_a_value_postgresql_refuses_on_the_hot_path_is_bad_data_not_an_outage(app):
    from hub.errors import BadRequest
    from hub.storage.driver import driver_connection

    statement = sa.select(sa.cast(sa.bindparam("value", type_=sa.String), sa.Integer))
    with app.app_context(), driver_connection() as driver:
        assert driver is not None, "the driver connection is PostgreSQL's hot path"
        for value in ("not a number", "nul \x00 inside", "lone \ud800 surrogate"):
            with pytest.raises(BadRequest):
                driver.first_row(statement, {"value": value})
        assert driver.first_row(statement, {"value": "42"}) == (42,), "the connection is still good"


def test_a_value_the_database_refuses_in_a_management_call_is_400_not_500(app, client):
    """A route whose query the database refuses (PostgreSQL: text that is not a number) answers 400, not an outage or a 500."""
    from hub.storage.models import db

    def refuse():
        value = db.session.execute(sa.select(sa.cast(sa.literal("not a number"), sa.Integer))).scalar()
        return {"value": value}

    app.add_url_rule("/test/refused-value", "refused_value", refuse)
    response = client.get("/test/refused-value")
    if app.config["DATABASE_URL"].startswith("sqlite"):
        assert response.status_code == 200  # SQLite casts it to 0; nothing to refuse
        return
    assert response.status_code == 400
    assert response.mimetype == "application/problem+json"
    assert "Retry-After" not in response.headers
