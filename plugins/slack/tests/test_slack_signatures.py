"""X-Slack-Signature verification through the plugin host, starting from Slack's documented example."""

from __future__ import annotations

import hashlib
import hmac
import json
from urllib.parse import urlencode

import pytest

from hub.types import WebhookRequest

# "Verifying requests from Slack" (api.slack.com/authentication/verifying-requests-from-slack).
DOCS_SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
DOCS_TIMESTAMP = "1531420618"
DOCS_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
    b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
    b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOCS_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"

SECRET = "0123456789abcdef0123456789abcdef"
NOW = 1_700_000_000
EVENT_BODY = json.dumps({"type": "event_callback", "event_id": "Ev1", "team_id": "T1", "event": {"type": "app_mention"}}).encode()
INTERACTION_BODY = urlencode({"payload": json.dumps({"type": "block_actions", "trigger_id": "1.2.abc"})}).encode()


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


def delivery(body: bytes, signature: str | None, timestamp: str | int | None, content_type: str = "application/json") -> WebhookRequest:
    headers = {"content-type": content_type}
    if signature is not None:
        headers["x-slack-signature"] = signature
    if timestamp is not None:
        headers["x-slack-request-timestamp"] = str(timestamp)
    return WebhookRequest(headers=headers, body=body, content_type=content_type)


@pytest.fixture
def host(make_host):
    return make_host(SLACK_SIGNING_SECRET=SECRET)


def verify(host, request, now=NOW) -> bool:
    return host.verify_signature("slack", request=request, credentials=None, now=now)


def test_slacks_documented_example_is_accepted(make_host):
    host = make_host(SLACK_SIGNING_SECRET=DOCS_SIGNING_SECRET)
    request = delivery(DOCS_BODY, DOCS_SIGNATURE, DOCS_TIMESTAMP, "application/x-www-form-urlencoded")
    assert verify(host, request, now=int(DOCS_TIMESTAMP) + 5) is True


def test_slacks_documented_example_is_refused_once_stale(make_host):
    host = make_host(SLACK_SIGNING_SECRET=DOCS_SIGNING_SECRET)
    request = delivery(DOCS_BODY, DOCS_SIGNATURE, DOCS_TIMESTAMP, "application/x-www-form-urlencoded")
    assert verify(host, request, now=int(DOCS_TIMESTAMP) + 301) is False


def test_events_api_json_is_accepted(host):
    assert verify(host, delivery(EVENT_BODY, sign(SECRET, NOW, EVENT_BODY), NOW)) is True


def test_form_encoded_interactivity_is_accepted(host):
    request = delivery(INTERACTION_BODY, sign(SECRET, NOW, INTERACTION_BODY), NOW, "application/x-www-form-urlencoded")
    assert verify(host, request) is True


def test_a_retried_delivery_verifies_like_the_first(host):
    request = delivery(EVENT_BODY, sign(SECRET, NOW, EVENT_BODY), NOW)
    retried = WebhookRequest(headers={**request.headers, "x-slack-retry-num": "1", "x-slack-retry-reason": "http_timeout"}, body=EVENT_BODY)
    assert verify(host, retried) is True


def test_tampered_body_is_rejected(host):
    signature = sign(SECRET, NOW, EVENT_BODY)
    assert verify(host, delivery(EVENT_BODY.replace(b"T1", b"T2"), signature, NOW)) is False


def test_wrong_secret_is_rejected(host):
    assert verify(host, delivery(EVENT_BODY, sign("another-apps-signing-secret", NOW, EVENT_BODY), NOW)) is False


def test_signature_is_bound_to_its_timestamp(host):
    assert verify(host, delivery(EVENT_BODY, sign(SECRET, NOW, EVENT_BODY), NOW + 1)) is False


@pytest.mark.parametrize("age", [301, 86400, -301, -86400], ids=["stale", "a-day-old", "future", "a-day-ahead"])
def test_timestamps_more_than_five_minutes_away_are_rejected(host, age):
    timestamp = NOW - age
    assert verify(host, delivery(EVENT_BODY, sign(SECRET, timestamp, EVENT_BODY), timestamp)) is False


@pytest.mark.parametrize("age", [300, -300])
def test_timestamps_at_the_edge_of_the_window_are_accepted(host, age):
    timestamp = NOW - age
    assert verify(host, delivery(EVENT_BODY, sign(SECRET, timestamp, EVENT_BODY), timestamp)) is True


def test_nothing_is_accepted_without_a_signing_secret(make_host):
    host = make_host()
    assert verify(host, delivery(EVENT_BODY, sign("", NOW, EVENT_BODY), NOW)) is False


VALID = sign(SECRET, NOW, EVENT_BODY)


@pytest.mark.parametrize(
    ("signature", "timestamp"),
    [
        (None, NOW),
        (VALID, None),
        ("", NOW),
        (VALID, ""),
        (VALID, "abc"),
        (VALID, f"{NOW}.0"),
        (VALID, f"-{NOW}"),
        (VALID.removeprefix("v0="), NOW),
        ("v1=" + VALID.removeprefix("v0="), NOW),
        (VALID.upper(), NOW),
        (VALID[:-2], NOW),
        (VALID + "00", NOW),
        (VALID + "é", NOW),
        (f"{VALID},{VALID}", NOW),
    ],
)
def test_malformed_headers_are_rejected(host, signature, timestamp):
    assert verify(host, delivery(EVENT_BODY, signature, timestamp)) is False
