"""Verifying Pub/Sub push tokens: JWTs signed here with local RSA keys, certificates served on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import pytest
from flask import Flask
from google.auth import jwt

from hub.testing import serve_wsgi
from hub.types import WebhookRequest
from hub_gmail import pubsub
from hub_gmail.testing import CertsServer, SigningKey, make_key

AUDIENCE = "https://hub.example.com/api/webhooks/gmail/app-secret"
SERVICE_ACCOUNT = "gmail-push@acme-project.iam.gserviceaccount.com"
BODY = json.dumps(
    {
        "message": {
            "data": base64.b64encode(b'{"emailAddress": "user@example.com", "historyId": "9876543210"}').decode(),
            "messageId": "2070443601311540",
            "publishTime": "2021-02-26T19:13:55.749Z",
        },
        "subscription": "projects/acme-project/subscriptions/gmail-push",
    }
).encode()
MISSING = object()


@pytest.fixture(scope="module")
def google_key() -> SigningKey:
    return make_key("7d680d8c70d44e947133cbd499ebc1a61c3d5abc")


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return make_key("0f1e2d3c4b5a69788796a5b4c3d2e1f00f1e2d3c")


@pytest.fixture(scope="module")
def certs_server():
    server = CertsServer()
    with serve_wsgi(server.app()) as base_url:
        server.base_url = base_url
        yield server


@pytest.fixture
def certs(certs_server, google_key):
    certs_server.certs = {google_key.kid: google_key.certificate_pem}
    certs_server.cache_control = None
    certs_server.status = 200
    certs_server.raw = None
    certs_server.fetches = 0
    pubsub.CERTIFICATES.clear()
    yield certs_server
    pubsub.CERTIFICATES.clear()


@pytest.fixture
def settings(certs) -> dict[str, str]:
    return {
        "GMAIL_PUBSUB_AUDIENCE": AUDIENCE,
        "GMAIL_PUBSUB_SERVICE_ACCOUNT": SERVICE_ACCOUNT,
        "GMAIL_PUBSUB_CERTS_URL": certs.url,
    }


@pytest.fixture
def host(make_host, settings):
    return make_host(**settings)


def claims(**overrides) -> dict:
    """The claim set Pub/Sub's documentation shows, valid now."""
    now = int(time.time())
    values = {
        "aud": AUDIENCE,
        "azp": "113774264463038321964",
        "email": SERVICE_ACCOUNT,
        "email_verified": True,
        "exp": now + 3600,
        "iat": now,
        "iss": "https://accounts.google.com",
        "sub": "113774264463038321964",
    }
    values.update(overrides)
    return {name: value for name, value in values.items() if value is not MISSING}


def sign(key: SigningKey, payload: dict | None = None, *, with_kid: bool = True, kid: str | None = None) -> str:
    header = {"kid": kid} if kid else None
    return jwt.encode(key.signer(with_kid), claims() if payload is None else payload, header=header).decode()


def delivery(authorization: str | None) -> WebhookRequest:
    headers = {"content-type": "application/json"}
    if authorization is not None:
        headers["authorization"] = authorization
    return WebhookRequest(headers=headers, body=BODY, content_type="application/json")


def verify(host, authorization: str | None, now: float | None = None) -> bool:
    request = delivery(authorization)
    return host.verify_signature("gmail", request=request, credentials=None, now=time.time() if now is None else now)


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


# accepted ----------------------------------------------------------------------


@pytest.mark.parametrize("issuer", ["https://accounts.google.com", "accounts.google.com"])
def test_a_token_of_our_subscription_is_accepted(host, google_key, issuer):
    assert verify(host, f"Bearer {sign(google_key, claims(iss=issuer))}") is True


def test_the_scheme_is_case_insensitive(host, google_key):
    assert verify(host, f"bearer {sign(google_key)}") is True


def test_a_token_without_kid_is_checked_against_every_certificate(host, certs, google_key, other_key):
    certs.certs = {other_key.kid: other_key.certificate_pem, google_key.kid: google_key.certificate_pem}
    assert verify(host, f"Bearer {sign(google_key, with_kid=False)}") is True


def test_the_key_is_picked_by_kid_among_several(host, certs, google_key, other_key):
    certs.certs = {google_key.kid: google_key.certificate_pem, other_key.kid: other_key.certificate_pem}
    assert verify(host, f"Bearer {sign(other_key)}") is True


# signature -----------------------------------------------------------------------


def test_a_tampered_payload_is_rejected(host, google_key):
    header, _, signature = sign(google_key).split(".")
    forged = b64url(json.dumps(claims(email="attacker@evil-project.iam.gserviceaccount.com")).encode())
    assert verify(host, f"Bearer {header}.{forged}.{signature}") is False


def test_a_tampered_signature_is_rejected(host, google_key):
    header, payload, signature = sign(google_key).split(".")
    flipped = ("A" if signature[10] != "A" else "B").join([signature[:10], signature[11:]])
    assert verify(host, f"Bearer {header}.{payload}.{flipped}") is False


def test_a_token_signed_by_another_key_under_a_served_kid_is_rejected(host, google_key, other_key):
    assert verify(host, f"Bearer {sign(other_key, kid=google_key.kid)}") is False


def test_a_token_naming_a_kid_that_is_not_served_is_rejected(host, other_key):
    assert verify(host, f"Bearer {sign(other_key)}") is False


def test_a_token_without_kid_signed_by_an_unknown_key_is_rejected(host, other_key):
    assert verify(host, f"Bearer {sign(other_key, with_kid=False)}") is False


def test_an_unsigned_token_is_rejected(host):
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    payload = b64url(json.dumps(claims()).encode())
    assert verify(host, f"Bearer {header}.{payload}.") is False
    assert verify(host, f"Bearer {header}.{payload}.{b64url(b'x')}") is False


def test_an_hmac_token_keyed_with_the_public_certificate_is_rejected(host, google_key):
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT", "kid": google_key.kid}).encode())
    payload = b64url(json.dumps(claims()).encode())
    mac = hmac.new(google_key.certificate_pem.encode(), f"{header}.{payload}".encode(), hashlib.sha256).digest()
    assert verify(host, f"Bearer {header}.{payload}.{b64url(mac)}") is False


# lifetime ------------------------------------------------------------------------


def test_an_expired_token_is_rejected(host, google_key):
    now = int(time.time())
    assert verify(host, f"Bearer {sign(google_key, claims(iat=now - 3660, exp=now - 60))}") is False


def test_a_token_that_just_expired_is_accepted_within_the_clock_skew(host, google_key):
    now = int(time.time())
    assert verify(host, f"Bearer {sign(google_key, claims(iat=now - 3605, exp=now - 5))}") is True


def test_a_token_issued_in_the_future_is_rejected(host, google_key):
    now = int(time.time())
    assert verify(host, f"Bearer {sign(google_key, claims(iat=now + 120, exp=now + 3720))}") is False


def test_the_clock_skew_is_configurable(make_host, settings, google_key):
    now = int(time.time())
    token = sign(google_key, claims(iat=now - 3660, exp=now - 60))
    assert verify(make_host(**settings, GMAIL_PUBSUB_CLOCK_SKEW_SECONDS="120"), f"Bearer {token}") is True
    assert verify(make_host(**settings, GMAIL_PUBSUB_CLOCK_SKEW_SECONDS="0"), f"Bearer {sign(google_key, claims(exp=now - 1))}") is False


@pytest.mark.parametrize("skew", ["-1", "301", "ten"])
def test_an_invalid_clock_skew_setting_rejects_everything(make_host, settings, google_key, skew):
    assert verify(make_host(**settings, GMAIL_PUBSUB_CLOCK_SKEW_SECONDS=skew), f"Bearer {sign(google_key)}") is False


@pytest.mark.parametrize("offset", [7200, -7200], ids=["hub-clock-ahead", "hub-clock-behind"])
def test_the_lifetime_is_also_checked_against_the_hubs_clock(host, google_key, offset):
    assert verify(host, f"Bearer {sign(google_key)}", now=time.time() + offset) is False


@pytest.mark.parametrize("missing", ["iat", "exp"])
def test_a_token_without_iat_or_exp_is_rejected(host, google_key, missing):
    assert verify(host, f"Bearer {sign(google_key, claims(**{missing: MISSING}))}") is False


# claims --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides",
    [
        {"aud": "https://hub.example.com/api/webhooks/gmail/other-secret"},
        {"aud": AUDIENCE + "/"},
        {"aud": [AUDIENCE]},
        {"aud": MISSING},
        {"iss": "https://evil.example"},
        {"iss": "https://securetoken.google.com/acme-project"},
        {"iss": MISSING},
        {"email": "someone-else@other-project.iam.gserviceaccount.com"},
        {"email": SERVICE_ACCOUNT.upper()},
        {"email": MISSING},
        {"email_verified": False},
        {"email_verified": "true"},
        {"email_verified": MISSING},
    ],
    ids=[
        "other-audience",
        "audience-with-slash",
        "audience-list",
        "no-audience",
        "other-issuer",
        "firebase-issuer",
        "no-issuer",
        "other-service-account",
        "service-account-other-case",
        "no-email",
        "email-unverified",
        "email-verified-string",
        "no-email-verified",
    ],
)
def test_wrong_claims_are_rejected(host, google_key, overrides):
    assert verify(host, f"Bearer {sign(google_key, claims(**overrides))}") is False


# header --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        "Bearer a.b.c",
        "Bearer eyJhbGciOiJSUzI1NiJ9.e30",
        "Bearer ....",
        "Bearer " + "a" * 5000 + "." + "b" * 5000 + ".c",
    ],
    ids=["missing", "empty", "scheme-only", "scheme-and-space", "basic", "not-a-jwt", "garbage-segments", "two-segments", "dots", "oversized"],
)
def test_missing_or_garbled_headers_are_rejected(host, authorization):
    assert verify(host, authorization) is False


def test_a_valid_token_with_trailing_garbage_is_rejected(host, google_key):
    token = sign(google_key)
    assert verify(host, f"Bearer {token}é") is False
    assert verify(host, f"Bearer {token}.extra") is False
    assert verify(host, f"Token {token}") is False


# configuration and certificates ----------------------------------------------------


@pytest.mark.parametrize("unset", ["GMAIL_PUBSUB_AUDIENCE", "GMAIL_PUBSUB_SERVICE_ACCOUNT"])
def test_nothing_is_accepted_until_both_settings_are_configured(make_host, settings, google_key, unset):
    host = make_host(**{k: v for k, v in settings.items() if k != unset})
    assert verify(host, f"Bearer {sign(google_key)}") is False


def test_unreachable_certificates_reject_the_push(make_host, settings, google_key):
    with serve_wsgi(Flask("gone")) as base_url:
        gone = base_url + "/certs"
    host = make_host(**dict(settings, GMAIL_PUBSUB_CERTS_URL=gone))
    assert verify(host, f"Bearer {sign(google_key)}") is False


@pytest.mark.parametrize("answer", ["error", "garbage", "jwks"])
def test_unusable_certificate_answers_reject_the_push(host, certs, google_key, answer):
    if answer == "error":
        certs.status = 500
    elif answer == "garbage":
        certs.raw = b"<html>not json</html>"
    else:
        certs.certs = {"keys": [{"kty": "RSA", "kid": google_key.kid, "n": "AQAB", "e": "AQAB"}]}
    assert verify(host, f"Bearer {sign(google_key)}") is False


def test_certificates_are_cached_for_their_max_age(host, certs, google_key):
    certs.cache_control = "public, max-age=19302, must-revalidate, no-transform"
    assert verify(host, f"Bearer {sign(google_key)}") is True
    assert verify(host, f"Bearer {sign(google_key)}") is True
    assert certs.fetches == 1


def test_certificates_without_cache_headers_are_fetched_each_time(host, certs, google_key):
    assert verify(host, f"Bearer {sign(google_key)}") is True
    assert verify(host, f"Bearer {sign(google_key)}") is True
    assert certs.fetches == 2


def test_a_new_key_id_refreshes_cached_certificates(host, certs, google_key, other_key, monkeypatch):
    certs.cache_control = "max-age=3600"
    assert verify(host, f"Bearer {sign(google_key)}") is True
    certs.certs = {google_key.kid: google_key.certificate_pem, other_key.kid: other_key.certificate_pem}  # Google rotates
    assert verify(host, f"Bearer {sign(other_key)}") is False, "a cached set younger than the refresh interval is kept"
    assert certs.fetches == 1
    monkeypatch.setattr(pubsub, "MIN_CERTS_REFRESH_SECONDS", 0.0)
    assert verify(host, f"Bearer {sign(other_key)}") is True
    assert certs.fetches == 2


def test_rejections_never_log_the_token(host, google_key, caplog):
    token = sign(google_key, claims(aud="https://elsewhere.example"))
    with caplog.at_level("DEBUG"):
        assert verify(host, f"Bearer {token}") is False
        assert verify(host, f"Bearer {token[:-4]}") is False
        assert verify(host, "Bearer eyJ!!.garbage.x") is False
    logged = caplog.text
    assert "refused" in logged
    assert all(part not in logged for part in token.split("."))
