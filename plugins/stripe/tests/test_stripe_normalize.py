"""Stripe's documented event objects through `normalize`, dispatched by the plugin host."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from hub.types import WebhookRequest

CHARGE_SUCCEEDED = {
    "id": "evt_3NG8Du2eZvKYlo2C0xY5Zp1q",
    "object": "event",
    "api_version": "2023-10-16",
    "created": 1686089970,
    "data": {
        "object": {
            "id": "ch_3NG8Du2eZvKYlo2C0nK7tW8u",
            "object": "charge",
            "amount": 2000,
            "currency": "usd",
            "paid": True,
            "status": "succeeded",
        }
    },
    "livemode": False,
    "pending_webhooks": 1,
    "request": {"id": "req_8Yb1Qn1dW2rA0k", "idempotency_key": "5e4c1b8a-3f0e-4a5e-9a43-0d0c1a5e8f11"},
    "type": "charge.succeeded",
}

CONNECT_DEAUTHORIZED = {
    "id": "evt_1NH2aB2eZvKYlo2CjQ9dL0xe",
    "object": "event",
    "account": "acct_1032D82eZvKYlo2C",
    "api_version": "2023-10-16",
    "created": 1686100000,
    "data": {"object": {"id": "ca_FkyHCg7X8mlvCUdMDao4mMxagUfhtq2V", "object": "application", "name": "Acme Platform"}},
    "livemode": True,
    "pending_webhooks": 1,
    "request": {"id": None, "idempotency_key": None},
    "type": "account.application.deauthorized",
}


def delivery(payload) -> WebhookRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return WebhookRequest(headers={"content-type": "application/json"}, body=body, content_type="application/json")


@pytest.fixture
def host(make_host):
    return make_host()


def test_charge_event_becomes_one_event_keyed_by_its_id(host):
    [event] = host.normalize("stripe", request=delivery(CHARGE_SUCCEEDED))
    assert event.id == "evt_3NG8Du2eZvKYlo2C0xY5Zp1q"
    assert event.type == "charge.succeeded"
    assert event.subject == "ch_3NG8Du2eZvKYlo2C0nK7tW8u"
    assert event.time == datetime(2023, 6, 6, 22, 19, 30, tzinfo=UTC)
    assert event.account is None, "an account's own endpoint names no connected account"
    assert event.integration_status is None
    assert event.data == CHARGE_SUCCEEDED


def test_redelivery_has_the_same_dedupe_id(host):
    first = host.normalize("stripe", request=delivery(CHARGE_SUCCEEDED))
    again = host.normalize("stripe", request=delivery(dict(CHARGE_SUCCEEDED, pending_webhooks=0)))
    assert [e.id for e in first] == [e.id for e in again]


def test_connect_event_names_its_account_for_routing(host):
    connect_charge = dict(CHARGE_SUCCEEDED, account="acct_1032D82eZvKYlo2C")
    [event] = host.normalize("stripe", request=delivery(connect_charge))
    assert event.account == "acct_1032D82eZvKYlo2C"


def test_deauthorization_marks_the_integration_revoked(host):
    [event] = host.normalize("stripe", request=delivery(CONNECT_DEAUTHORIZED))
    assert event.type == "account.application.deauthorized"
    assert event.account == "acct_1032D82eZvKYlo2C"
    assert event.integration_status == "revoked"


def test_events_of_the_other_mode_are_dropped_when_livemode_is_set(make_host):
    live_hub = make_host(STRIPE_LIVEMODE="true")
    assert live_hub.normalize("stripe", request=delivery(CHARGE_SUCCEEDED)) == []
    assert [e.id for e in live_hub.normalize("stripe", request=delivery(CONNECT_DEAUTHORIZED))] == [CONNECT_DEAUTHORIZED["id"]]
    test_hub = make_host(STRIPE_LIVEMODE="false")
    assert test_hub.normalize("stripe", request=delivery(CONNECT_DEAUTHORIZED)) == []
    assert len(test_hub.normalize("stripe", request=delivery(CHARGE_SUCCEEDED))) == 1


def test_both_modes_are_accepted_when_livemode_is_unset(host):
    assert len(host.normalize("stripe", request=delivery(CHARGE_SUCCEEDED))) == 1
    assert len(host.normalize("stripe", request=delivery(CONNECT_DEAUTHORIZED))) == 1


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"id": "evt_1", "type": ',
        b"\xff\xfe",
        b"[1, 2]",
        b'"evt_1"',
        json.dumps({"type": "charge.succeeded"}).encode(),
        json.dumps({"id": "evt_1"}).encode(),
        json.dumps({"id": 5, "type": "charge.succeeded"}).encode(),
        json.dumps({"id": "evt_1", "type": ""}).encode(),
    ],
)
def test_unreadable_bodies_raise_value_error(host, body):
    with pytest.raises(ValueError):
        host.normalize("stripe", request=delivery(body))


@pytest.mark.parametrize("created", ["1e20", "-1e20", "1e30", "253402300800", "-62135596801", "100000000000000000000"])
def test_a_created_that_is_not_a_time_makes_the_event_unreadable(host, created):
    body = json.dumps(dict(CHARGE_SUCCEEDED, created=0)).replace('"created": 0', f'"created": {created}').encode()
    with pytest.raises(ValueError, match="created"):
        host.normalize("stripe", request=delivery(body))


@pytest.mark.parametrize("created", [float("inf"), float("-inf"), float("nan")])
def test_a_created_that_is_not_finite_is_unreadable_from_any_source(created):
    """Sync pages are parsed by requests, which lets NaN and Infinity through."""
    from hub_stripe.events import normalize_event

    with pytest.raises(ValueError, match="created"):
        normalize_event(dict(CHARGE_SUCCEEDED, created=created), {})


@pytest.mark.parametrize("created", [0, 1686089970.5, 253402300799])
def test_created_anywhere_in_the_calendar_is_read(host, created):
    [event] = host.normalize("stripe", request=delivery(dict(CHARGE_SUCCEEDED, created=created)))
    assert event.time == datetime.fromtimestamp(created, tz=UTC)


def test_an_event_without_created_has_no_time(host):
    event = {key: value for key, value in CHARGE_SUCCEEDED.items() if key != "created"}
    assert host.normalize("stripe", request=delivery(event))[0].time is None


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_nan_and_infinity_are_not_json(host, constant):
    body = json.dumps(CHARGE_SUCCEEDED).replace('"amount": 2000', f'"amount": {constant}').encode()
    with pytest.raises(ValueError, match="NaN or an infinite number"):
        host.normalize("stripe", request=delivery(body))


def test_a_body_nested_past_the_recursion_limit_is_unreadable(host):
    body = json.dumps(CHARGE_SUCCEEDED).replace('"amount": 2000', '"amount": ' + "[" * 100_000 + "]" * 100_000).encode()
    with pytest.raises(ValueError, match="nested"):
        host.normalize("stripe", request=delivery(body))
