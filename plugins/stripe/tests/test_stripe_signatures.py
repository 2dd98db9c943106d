"""Stripe-Signature verification through the plugin host, with vectors computed here."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from hub.types import WebhookRequest

PLATFORM_SECRET = "whsec_PlatformEndpointSecret0000000000"
ACCOUNT_SECRET = "whsec_AccountEndpointSecret11111111111"
NOW = 1_700_000_000
BODY = b'{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"charge.succeeded"}'


def sign(secret: str, timestamp: int | str, body: bytes) -> str:
    return hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def delivery(header: str | None, body: bytes = BODY) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if header is not None:
        headers["stripe-signature"] = header
    return WebhookRequest(headers=headers, body=body, content_type="application/json")


@pytest.fixture
def host(make_host):
    return make_host(STRIPE_WEBHOOK_SECRET=PLATFORM_SECRET)


def verify(host, request, credentials=None, now=NOW) -> bool:
    return host.verify_signature("stripe", request=request, credentials=credentials, now=now)


def test_a_fixed_vector_computed_with_openssl_is_accepted(make_host):
    """`printf '1614556800.{"id":"evt_test"}' | openssl dgst -sha256 -hmac whsec_test_secret`."""
    host = make_host(STRIPE_WEBHOOK_SECRET="whsec_test_secret")
    header = "t=1614556800,v1=8d7e36959f35255aff1c2cc6a906fedf5d8f34dc74004f274f68dbde50ff6d16"
    assert verify(host, delivery(header, b'{"id":"evt_test"}'), now=1614556800 + 10) is True


def test_platform_endpoint_accepts_a_delivery_signed_with_the_platform_secret(host):
    assert verify(host, delivery(f"t={NOW},v1={sign(PLATFORM_SECRET, NOW, BODY)}")) is True


def test_integration_endpoint_uses_the_integrations_own_secret(host):
    signed_by_account = delivery(f"t={NOW},v1={sign(ACCOUNT_SECRET, NOW, BODY)}")
    assert verify(host, signed_by_account, credentials={"api_key": "rk_x", "webhook_secret": ACCOUNT_SECRET}) is True
    assert verify(host, signed_by_account) is False, "the platform endpoint must not accept an account secret"
    signed_by_platform = delivery(f"t={NOW},v1={sign(PLATFORM_SECRET, NOW, BODY)}")
    assert verify(host, signed_by_platform, credentials={"api_key": "rk_x", "webhook_secret": ACCOUNT_SECRET}) is False


def test_integration_without_a_webhook_secret_accepts_nothing(host):
    request = delivery(f"t={NOW},v1={sign(PLATFORM_SECRET, NOW, BODY)}")
    assert verify(host, request, credentials={"api_key": "rk_x"}) is False


def test_platform_endpoint_without_a_configured_secret_accepts_nothing(make_host):
    host = make_host()
    assert verify(host, delivery(f"t={NOW},v1={sign('', NOW, BODY)}")) is False


def test_any_of_several_v1_signatures_may_match_while_a_secret_rolls(host):
    header = f"t={NOW},v1={sign('whsec_OldSecretBeingRolled', NOW, BODY)},v1={sign(PLATFORM_SECRET, NOW, BODY)}"
    assert verify(host, delivery(header)) is True


def test_other_schemes_are_ignored(host):
    valid = sign(PLATFORM_SECRET, NOW, BODY)
    assert verify(host, delivery(f"t={NOW},v0={valid}")) is False, "only v1 counts"
    assert verify(host, delivery(f"t={NOW},v0={valid},v1={'0' * 64}")) is False
    assert verify(host, delivery(f"t={NOW},v0=abc,v1={valid},v2=zzz")) is True


def test_tampered_body_is_rejected(host):
    header = f"t={NOW},v1={sign(PLATFORM_SECRET, NOW, BODY)}"
    assert verify(host, delivery(header, BODY.replace(b"charge.succeeded", b"charge.refunded"))) is False


def test_wrong_secret_is_rejected(host):
    assert verify(host, delivery(f"t={NOW},v1={sign('whsec_SomeoneElsesSecret', NOW, BODY)}")) is False


def test_signature_bound_to_its_timestamp(host):
    header = f"t={NOW + 1},v1={sign(PLATFORM_SECRET, NOW, BODY)}"
    assert verify(host, delivery(header), now=NOW) is False


@pytest.mark.parametrize("age", [301, 3600, -301, -3600], ids=["stale", "an-hour-old", "future", "an-hour-ahead"])
def test_timestamps_outside_the_tolerance_are_rejected(host, age):
    timestamp = NOW - age
    assert verify(host, delivery(f"t={timestamp},v1={sign(PLATFORM_SECRET, timestamp, BODY)}")) is False


@pytest.mark.parametrize("age", [0, 300, -300])
def test_timestamps_within_the_tolerance_are_accepted(host, age):
    timestamp = NOW - age
    assert verify(host, delivery(f"t={timestamp},v1={sign(PLATFORM_SECRET, timestamp, BODY)}")) is True


def test_tolerance_is_configurable(make_host):
    host = make_host(STRIPE_WEBHOOK_SECRET=PLATFORM_SECRET, STRIPE_WEBHOOK_TOLERANCE_SECONDS="30")
    old = NOW - 60
    assert verify(host, delivery(f"t={old},v1={sign(PLATFORM_SECRET, old, BODY)}")) is False
    recent = NOW - 20
    assert verify(host, delivery(f"t={recent},v1={sign(PLATFORM_SECRET, recent, BODY)}")) is True


VALID = sign(PLATFORM_SECRET, NOW, BODY)


@pytest.mark.parametrize(
    "header",
    [
        None,
        "",
        "garbage",
        f"v1={VALID}",
        f"t={NOW}",
        f"t={NOW},v1=",
        f"t=,v1={VALID}",
        f"t=abc,v1={VALID}",
        f"t=-{NOW},v1={VALID}",
        f"t={NOW}.5,v1={VALID}",
        f"t={NOW},t={NOW},v1={VALID}",
        f"t={NOW},v1={VALID.upper()}",
        f"t={NOW},v1={VALID[:-1]}",
        f"t={NOW},v1={VALID}é",
        f"t={NOW},{VALID}",
        f"t=１７００００００００,v1={VALID}",
    ],
)
def test_malformed_headers_are_rejected(host, header):
    assert verify(host, delivery(header)) is False
