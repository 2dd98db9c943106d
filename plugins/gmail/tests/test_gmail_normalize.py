"""Cloud Pub/Sub push bodies carrying Gmail notifications, through `normalize`."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime

import pytest

from hub.types import WebhookRequest

NOTIFICATION = {"emailAddress": "user@example.com", "historyId": "9876543210"}


def push_body(notification=NOTIFICATION, **message_fields) -> dict:
    """The documented push shape (cloud.google.com/pubsub/docs/push), both spellings of the ids and times."""
    data = notification if isinstance(notification, str) else base64.b64encode(json.dumps(notification).encode()).decode()
    message = {
        "attributes": {},
        "data": data,
        "messageId": "2070443601311540",
        "message_id": "2070443601311540",
        "publishTime": "2021-02-26T19:13:55.749Z",
        "publish_time": "2021-02-26T19:13:55.749Z",
    }
    message.update(message_fields)
    return {"message": {k: v for k, v in message.items() if v is not None}, "subscription": "projects/myproject/subscriptions/gmail-push"}


def delivery(payload) -> WebhookRequest:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return WebhookRequest(
        headers={"content-type": "application/json", "authorization": "Bearer eyJ.e30.sig"}, body=body, content_type="application/json"
    )


@pytest.fixture
def host(make_host):
    return make_host()


def test_a_notification_becomes_one_history_changed_event(host):
    [event] = host.normalize("gmail", request=delivery(push_body()))
    assert event.id == "2070443601311540", "the Pub/Sub messageId is the dedupe id"
    assert event.type == "gmail.history.changed"
    assert event.account == "user@example.com"
    assert event.subject == "user@example.com"
    assert event.time == datetime(2021, 2, 26, 19, 13, 55, 749000, tzinfo=UTC)
    assert event.data == {
        "emailAddress": "user@example.com",
        "historyId": "9876543210",
        "messageId": "2070443601311540",
        "publishTime": "2021-02-26T19:13:55.749Z",
        "subscription": "projects/myproject/subscriptions/gmail-push",
    }
    assert event.integration_status is None


def test_a_redelivery_has_the_same_dedupe_id(host):
    first = host.normalize("gmail", request=delivery(push_body()))
    again = host.normalize("gmail", request=delivery(push_body(publishTime="2021-02-26T19:20:00Z")))
    assert [e.id for e in first] == [e.id for e in again]


def test_a_numeric_history_id_is_read_as_a_string(host):
    [event] = host.normalize("gmail", request=delivery(push_body({"emailAddress": "user@example.com", "historyId": 9876543210})))
    assert event.data["historyId"] == "9876543210"


def test_the_snake_case_spellings_are_enough(host):
    body = push_body(messageId=None, publishTime=None)
    [event] = host.normalize("gmail", request=delivery(body))
    assert event.id == "2070443601311540"
    assert event.time == datetime(2021, 2, 26, 19, 13, 55, 749000, tzinfo=UTC)


def test_the_account_is_the_lower_cased_address(host):
    [event] = host.normalize("gmail", request=delivery(push_body({"emailAddress": "Grace.Hopper@Example.com", "historyId": "1"})))
    assert event.account == "grace.hopper@example.com"
    assert event.data["emailAddress"] == "Grace.Hopper@Example.com"


def test_an_unreadable_publish_time_leaves_the_time_empty(host):
    [event] = host.normalize("gmail", request=delivery(push_body(publishTime="yesterday", publish_time=None)))
    assert event.time is None


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not json",
        b'{"message": ',
        b"\xff\xfe",
        b"[1, 2]",
        b'"message"',
        json.dumps({"subscription": "projects/p/subscriptions/s"}).encode(),
        json.dumps({"message": "data"}).encode(),
        json.dumps(push_body(messageId=None, message_id=None)).encode(),
        json.dumps(push_body(messageId="", message_id=5)).encode(),
        json.dumps(push_body(data=None)).encode(),
        json.dumps(push_body("!!!not base64!!!")).encode(),
        json.dumps(push_body(b64(b"not json"))).encode(),
        json.dumps(push_body(b64(b"[1]"))).encode(),
        json.dumps(push_body(b64(b"\xff\xfe"))).encode(),
        json.dumps(push_body({"historyId": "1"})).encode(),
        json.dumps(push_body({"emailAddress": "user@example.com"})).encode(),
        json.dumps(push_body({"emailAddress": "not an address", "historyId": "1"})).encode(),
        json.dumps(push_body({"emailAddress": 7, "historyId": "1"})).encode(),
        json.dumps(push_body({"emailAddress": "user@example.com", "historyId": "-1"})).encode(),
        json.dumps(push_body({"emailAddress": "user@example.com", "historyId": "12ab"})).encode(),
        json.dumps(push_body({"emailAddress": "user@example.com", "historyId": True})).encode(),
        json.dumps(push_body({"emailAddress": "user@example.com", "historyId": 1.5})).encode(),
    ],
    ids=lambda body: body[:60].decode("utf-8", "replace"),
)
def test_unreadable_bodies_raise_value_error(host, body):
    with pytest.raises(ValueError):
        host.normalize("gmail", request=delivery(body))
