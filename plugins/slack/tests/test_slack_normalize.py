"""Slack's documented payload shapes through `webhook_handshake` and `normalize`."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from urllib.parse import urlencode

import pytest

from hub.types import WebhookRequest

JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

MESSAGE_EVENT = {
    "token": "XXYYZZ",
    "team_id": "T123ABC456",
    "api_app_id": "A123ABC456",
    "event": {
        "type": "message",
        "channel": "C123ABC456",
        "user": "U123ABC456",
        "text": "Live long and prospect.",
        "ts": "1355517523.000005",
        "event_ts": "1355517523.000005",
        "channel_type": "channel",
    },
    "type": "event_callback",
    "authed_users": ["U123ABC456"],
    "authorizations": [
        {"enterprise_id": None, "team_id": "T123ABC456", "user_id": "U123ABC456", "is_bot": True, "is_enterprise_install": False}
    ],
    "event_id": "Ev123ABC456",
    "event_context": "EC123ABC456",
    "event_time": 1355517523,
}

APP_MENTION = {
    "token": "ZZZZZZWSxiZZZ2yIvs3peJ",
    "team_id": "T123ABC456",
    "enterprise_id": "E123ABC456",
    "api_app_id": "A123ABC456",
    "event": {
        "type": "app_mention",
        "user": "U123ABC456",
        "text": "What is the hour of the pearl, <@U0LAN0Z89>?",
        "ts": "1515449522.000016",
        "channel": "C123ABC456",
        "event_ts": "1515449522000016",
    },
    "type": "event_callback",
    "authorizations": [
        {"enterprise_id": "E123ABC456", "team_id": "T123ABC456", "user_id": "U0LAN0Z89", "is_bot": True, "is_enterprise_install": False}
    ],
    "event_id": "Ev123ABC457",
    "event_time": 1515449522000016,
}

URL_VERIFICATION = {
    "token": "Jhj5dZrVaK7ZwHHjRyZWjbDl",
    "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
    "type": "url_verification",
}

BLOCK_ACTIONS = {
    "type": "block_actions",
    "team": {"id": "T9TK3CUKW", "domain": "example"},
    "user": {"id": "UA8RXUSPL", "username": "jtorrance", "team_id": "T9TK3CUKW"},
    "api_app_id": "AABA1ABCD",
    "token": "9s8d9as89d8as9d8as989",
    "container": {"type": "message_attachment", "message_ts": "1548261231.000200", "attachment_id": 1, "channel_id": "CBR2V3XEX", "is_ephemeral": False, "is_app_unfurl": False},
    "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
    "channel": {"id": "CBR2V3XEX", "name": "review-updates"},
    "message": {"bot_id": "BAH5CA16Z", "type": "message", "text": "This content can't be displayed.", "user": "UAJ2RU415", "ts": "1548261231.000200"},
    "response_url": "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209",
    "actions": [
        {"action_id": "WaXA", "block_id": "=qXel", "text": {"type": "plain_text", "text": "View", "emoji": True}, "value": "click_me_123", "type": "button", "action_ts": "1548426417.840180"}
    ],
    "enterprise": None,
    "is_enterprise_install": False,
}

SLASH_COMMAND_FIELDS = {
    "token": "gIkuvaNzQIHg97ATvDxqgjtO",
    "team_id": "T0001",
    "team_domain": "example",
    "enterprise_id": "E0001",
    "enterprise_name": "Globular%20Construct%20Inc",
    "channel_id": "C2147483705",
    "channel_name": "test",
    "user_id": "U2147483697",
    "user_name": "Steve",
    "command": "/weather",
    "text": "94070",
    "response_url": "https://hooks.slack.com/commands/1234/5678",
    "trigger_id": "13345224609.738474920.8088930838d88f008e0",
    "api_app_id": "A123456",
}


def json_delivery(payload, retry: int | None = None) -> WebhookRequest:
    headers = {"content-type": JSON}
    if retry is not None:
        headers.update({"x-slack-retry-num": str(retry), "x-slack-retry-reason": "http_timeout"})
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return WebhookRequest(headers=headers, body=body, content_type=JSON)


def form_delivery(fields) -> WebhookRequest:
    body = fields if isinstance(fields, bytes) else urlencode(fields).encode()
    return WebhookRequest(headers={"content-type": FORM}, body=body, content_type=FORM)


@pytest.fixture
def host(make_host):
    return make_host(SLACK_SIGNING_SECRET="unused-here")


def test_url_verification_is_answered_with_the_challenge(host):
    response = host.webhook_handshake("slack", request=json_delivery(URL_VERIFICATION))
    assert response.status == 200
    assert response.body == b"3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    assert response.content_type == "text/plain"
    assert host.normalize("slack", request=json_delivery(URL_VERIFICATION)) == []


@pytest.mark.parametrize(
    "request_",
    [json_delivery(MESSAGE_EVENT), json_delivery(b"not json"), form_delivery({"payload": json.dumps(BLOCK_ACTIONS)})],
    ids=["event", "unreadable", "interaction"],
)
def test_ordinary_deliveries_need_no_handshake(host, request_):
    assert host.webhook_handshake("slack", request=request_) is None


def test_slash_command_ssl_check_is_answered(host):
    response = host.webhook_handshake("slack", request=form_delivery({"ssl_check": "1", "token": "x"}))
    assert response is not None and response.status == 200
    assert host.normalize("slack", request=form_delivery({"ssl_check": "1", "token": "x"})) == []


def test_event_callback_becomes_an_event_routed_to_its_workspace(host):
    [event] = host.normalize("slack", request=json_delivery(APP_MENTION))
    assert event.id == "Ev123ABC457"
    assert event.type == "slack.app_mention"
    assert event.subject == "C123ABC456"
    assert event.account == "E123ABC456:T123ABC456"
    assert event.data["event"]["text"] == "What is the hour of the pearl, <@U0LAN0Z89>?"
    assert event.time == datetime.fromtimestamp(1515449522.000016, tz=UTC), "the documented event_time is out of range; ts is used"


def test_message_events_are_keyed_by_channel_and_ts(host):
    [event] = host.normalize("slack", request=json_delivery(MESSAGE_EVENT))
    assert event.id == "message:C123ABC456:1355517523.000005"
    assert event.type == "slack.message"
    assert event.account == "T123ABC456"
    assert event.time == datetime(2012, 12, 14, 20, 38, 43, tzinfo=UTC)


def test_retried_deliveries_have_the_same_dedupe_id(host):
    for payload in (MESSAGE_EVENT, APP_MENTION):
        first = host.normalize("slack", request=json_delivery(payload))
        retried = host.normalize("slack", request=json_delivery(payload, retry=1))
        again = host.normalize("slack", request=json_delivery(payload, retry=2))
        assert [e.id for e in first] == [e.id for e in retried] == [e.id for e in again]


def test_the_verification_token_is_not_kept(host):
    for request in (json_delivery(MESSAGE_EVENT), form_delivery({"payload": json.dumps(BLOCK_ACTIONS)}), form_delivery(SLASH_COMMAND_FIELDS)):
        [event] = host.normalize("slack", request=request)
        assert "token" not in event.data


def test_org_wide_installs_are_routed_to_the_enterprise(host):
    org_wide = dict(
        APP_MENTION,
        authorizations=[{"enterprise_id": "E123ABC456", "team_id": None, "user_id": "U0LAN0Z89", "is_bot": True, "is_enterprise_install": True}],
    )
    [event] = host.normalize("slack", request=json_delivery(org_wide))
    assert event.account == "E123ABC456"


def test_events_in_shared_channels_route_to_our_installation(host):
    shared = dict(MESSAGE_EVENT, team_id="T_OTHER_ORG", is_ext_shared_channel=True)
    [event] = host.normalize("slack", request=json_delivery(shared))
    assert event.account == "T123ABC456"


def test_block_actions_interaction_becomes_an_event(host):
    [event] = host.normalize("slack", request=form_delivery({"payload": json.dumps(BLOCK_ACTIONS)}))
    assert event.id == "block_actions:12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3"
    assert event.type == "slack.block_actions"
    assert event.account == "T9TK3CUKW"
    assert event.subject == "CBR2V3XEX"
    assert event.data["actions"][0]["value"] == "click_me_123"
    assert event.time == datetime.fromtimestamp(1548426417.840180, tz=UTC)


def test_interactions_without_trigger_id_dedupe_on_the_body(host):
    view_closed = {"type": "view_closed", "team": {"id": "T1"}, "user": {"id": "U1"}, "view": {"id": "V1"}, "is_cleared": False}
    request = form_delivery({"payload": json.dumps(view_closed)})
    [first] = host.normalize("slack", request=request)
    [again] = host.normalize("slack", request=request)
    assert first.id == again.id and first.id.startswith("view_closed:sha256:")


def test_slash_command_becomes_an_event(host):
    [event] = host.normalize("slack", request=form_delivery(SLASH_COMMAND_FIELDS))
    assert event.id == "slash_command:13345224609.738474920.8088930838d88f008e0"
    assert event.type == "slack.slash_command"
    assert event.subject == "/weather"
    assert event.account == "E0001:T0001"
    assert event.data["text"] == "94070"


def test_rate_limit_notices_produce_no_event(host):
    notice = {"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "type": "app_rate_limited", "team_id": "T123456", "minute_rate_limited": 1518467820, "api_app_id": "A123456"}
    assert host.normalize("slack", request=json_delivery(notice)) == []


@pytest.mark.parametrize(
    "request_",
    [
        json_delivery(b"not json"),
        json_delivery(b"[]"),
        json_delivery({"type": "something_new"}),
        json_delivery({"type": "event_callback", "event": {"type": "message"}}),
        json_delivery({"type": "event_callback", "event_id": "Ev1"}),
        form_delivery(b""),
        form_delivery({"text": "no command"}),
        form_delivery({"payload": "{not json"}),
        form_delivery({"payload": json.dumps({"trigger_id": "1"})}),
        form_delivery(b"\xff=\xfe"),
    ],
    ids=["not-json", "not-object", "unknown-type", "no-event-id", "no-event", "empty-form", "no-command", "bad-payload", "untyped-payload", "not-utf8"],
)
def test_unreadable_bodies_raise_value_error(host, request_):
    with pytest.raises(ValueError):
        host.normalize("slack", request=request_)
