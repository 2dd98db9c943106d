"""Standard Webhooks signing, verified with the official `standardwebhooks` package as a receiver would."""

from __future__ import annotations

import base64
import json
import time

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from hub.delivery.signing import new_secret, sign, signature_header, webhook_headers

BODY = json.dumps(
    {"type": "charge.succeeded", "timestamp": "2026-03-01T12:00:00Z", "data": {"note": "café ✓", "amount": 1200}},
    ensure_ascii=False,
).encode("utf-8")
DELIVERY_ID = "01960f6e-7a1c-7b3e-9c1d-2f4a5b6c7d8e"


def test_new_secrets_are_whsec_and_padded_standard_base64_of_32_random_bytes() -> None:
    made = [new_secret() for _ in range(300)]
    assert len(set(made)) == len(made)
    encoded_parts = [secret.removeprefix("whsec_") for secret in made]
    assert all(secret.startswith("whsec_") for secret in made)
    assert all(len(base64.b64decode(part, validate=True)) == 32 for part in encoded_parts)
    assert all(len(part) == 44 and part.endswith("=") for part in encoded_parts)
    # Standard alphabet, never the URL-safe one (300 secrets hold '+' and '/' for certain).
    assert not any("-" in part or "_" in part for part in encoded_parts)
    assert any("+" in part for part in encoded_parts) and any("/" in part for part in encoded_parts)


def test_a_delivery_verifies_with_the_standardwebhooks_library() -> None:
    secret = new_secret()
    headers = webhook_headers([secret], DELIVERY_ID, int(time.time()), BODY)
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == DELIVERY_ID
    assert Webhook(secret).verify(BODY, headers) == json.loads(BODY)


def test_during_a_rotation_the_old_and_the_new_secret_each_verify_the_same_delivery() -> None:
    old, new = new_secret(), new_secret()
    headers = webhook_headers([old, new], DELIVERY_ID, int(time.time()), BODY)
    signatures = headers["webhook-signature"].split(" ")
    assert len(signatures) == 2 and all(part.startswith("v1,") for part in signatures)
    assert "  " not in headers["webhook-signature"]
    assert Webhook(old).verify(BODY, headers) == json.loads(BODY)
    assert Webhook(new).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY, headers)


def test_a_tampered_body_is_refused() -> None:
    secret = new_secret()
    headers = webhook_headers([secret], DELIVERY_ID, int(time.time()), BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY.replace(b"1200", b"9200"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY + b" ", headers)


def test_a_tampered_timestamp_or_id_is_refused() -> None:
    secret = new_secret()
    now = int(time.time())
    headers = webhook_headers([secret], DELIVERY_ID, now, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers | {"webhook-timestamp": str(now - 1)})
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers | {"webhook-id": DELIVERY_ID[:-1] + "f"})


def test_a_replayed_delivery_older_than_five_minutes_is_refused_by_the_receiver() -> None:
    secret = new_secret()
    headers = webhook_headers([secret], DELIVERY_ID, int(time.time()) - 6 * 60, BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(BODY, headers)


def test_the_signature_matches_the_published_example() -> None:
    """The example of the Standard Webhooks reference implementations (a 24-byte secret)."""
    signature = sign("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


@pytest.mark.parametrize(
    "secret",
    [
        "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",  # no prefix
        "whsec_",  # empty
        "whsec_" + base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode(),  # URL-safe alphabet
        "whsec_not base64!",
        "whsec_" + base64.b64encode(b"short").decode(),
    ],
)
def test_a_malformed_secret_is_refused_without_being_echoed(secret: str) -> None:
    with pytest.raises(ValueError) as refused:
        sign(secret, DELIVERY_ID, 1, BODY)
    encoded = secret.removeprefix("whsec_")
    assert not encoded or encoded not in str(refused.value)


def test_a_delivery_is_signed_with_at_least_one_secret() -> None:
    with pytest.raises(ValueError):
        signature_header([], DELIVERY_ID, 1, BODY)


@pytest.mark.parametrize("webhook_id", ["", "a b", "id\r\nX-Injected: 1", "caf\u00e9"])
def test_an_id_that_cannot_travel_as_a_header_is_refused(webhook_id: str) -> None:
    with pytest.raises(ValueError):
        webhook_headers([new_secret()], webhook_id, 1, BODY)
