"""Verifying the OIDC token Cloud Pub/Sub sends with every authenticated push.

A push subscription set up with a service account sends
`Authorization: Bearer <JWT>`, an OpenID Connect ID token signed by Google.
A push is accepted only when all of these hold:

- the token is RS256 and its signature verifies against Google's published
  certificates (`GMAIL_PUBSUB_CERTS_URL`, default
  `https://www.googleapis.com/oauth2/v1/certs`: a JSON map key id -> X.509 PEM);
- `aud` equals `GMAIL_PUBSUB_AUDIENCE`, the audience set on the subscription;
- `iss` is `accounts.google.com` or `https://accounts.google.com`;
- `email` equals `GMAIL_PUBSUB_SERVICE_ACCOUNT` and `email_verified` is true;
- `iat` and `exp` bracket the current time, give or take the clock skew.

The audience and the service account are what make the token ours: anyone
can have Google sign an ID token for a service account of their own, so a
valid signature alone proves nothing. Both settings are required; without
them every push is refused.

google-auth's `id_token.verify_token` checks the signature, the audience and
the lifetime (against the system clock); the issuer, the e-mail claims and
the lifetime against the hub's `now` are checked here, string equality of
the configured values in constant time.

Clock skew: `GMAIL_PUBSUB_CLOCK_SKEW_SECONDS` (0 to 300, default 10) is
allowed on `iat` and `exp`. Pub/Sub's tokens live for an hour, so an honest
push is well inside its lifetime; ten seconds absorbs ordinary drift between
Google's clock and the hub's (a token "issued" slightly in the future, or
delivered just as it expires) without keeping an expired token usable.

Certificates are fetched with google-auth's `requests` transport (10 s
timeout) and kept in this process for the `max-age` of Google's
Cache-Control (hours), so a push does not cost a round trip to Google. A
token naming a key id the cached set lacks refreshes the set, at most once a
minute, which picks up rotated keys without letting forged key ids make the
hub hammer Google.

The token authenticates the sender, not the body: Pub/Sub signs no part of
it, so the body's integrity rests on TLS, and the audience (which should be
the push URL with its secret) binds the token to this endpoint.

Any failure (no or garbled header, bad signature, unknown key, expired
token, wrong claim, settings missing or invalid, certificates unreachable)
returns False and is logged by kind only: tokens never reach a log.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import re
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import requests
from google.auth import jwt, transport
from google.auth.transport.requests import Request as GoogleAuthRequest
from google.oauth2 import id_token

from hub.kit import int_setting

log = logging.getLogger(__name__)

DEFAULT_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
GOOGLE_ISSUERS = ("accounts.google.com", "https://accounts.google.com")
DEFAULT_CLOCK_SKEW_SECONDS = 10
MAX_CLOCK_SKEW_SECONDS = 300
# Pub/Sub's tokens are about 1 KB; anything far larger is not one.
MAX_TOKEN_LENGTH = 8192
CERTS_TIMEOUT_SECONDS = 10.0
MAX_CERTS_CACHE_SECONDS = 24 * 3600
MIN_CERTS_REFRESH_SECONDS = 60.0

_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*([0-9]+)\s*(?:,|$)", re.IGNORECASE)


def cache_lifetime(headers: Mapping[str, str]) -> float:
    """Seconds a certificate response may be reused, from Cache-Control max-age minus Age; 0 for no caching."""
    cache_control = (headers.get("Cache-Control") or "").lower()
    if "no-store" in cache_control or "no-cache" in cache_control:
        return 0.0
    found = _MAX_AGE.search(cache_control)
    if not found:
        return 0.0
    try:
        age = float(headers.get("Age") or 0)
    except ValueError:
        age = 0.0
    lifetime = float(found.group(1)) - (age if math.isfinite(age) else 0.0)
    return min(max(lifetime, 0.0), MAX_CERTS_CACHE_SECONDS)


def _key_ids(data: bytes) -> frozenset[str]:
    try:
        certs = json.loads(data)
    except (UnicodeDecodeError, ValueError):
        return frozenset()
    return frozenset(k for k in certs if isinstance(k, str)) if isinstance(certs, dict) else frozenset()


@dataclass(frozen=True)
class _CachedCerts:
    response: transport.Response
    fetched_at: float
    expires_at: float
    key_ids: frozenset[str]


class CertificateSource(transport.Request):
    """The google-auth transport `verify_token` fetches certificates with, caching per Cache-Control.

    Thread-safe; one instance serves the whole process. Only what a
    certificate URL answers is cached, keyed by URL.
    """

    def __init__(self, timeout: float = CERTS_TIMEOUT_SECONDS) -> None:
        self._timeout = timeout
        self._lock = threading.Lock()
        self._cache: dict[str, _CachedCerts] = {}

    def __call__(  # type: ignore[override]
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Mapping[str, str] | None = None,
        timeout: float | None = None,
        **kwargs: Any,
    ) -> transport.Response:
        cacheable = method.upper() == "GET" and body is None
        now = time.monotonic()
        if cacheable:
            with self._lock:
                cached = self._cache.get(url)
            if cached is not None and cached.expires_at > now:
                return cached.response
        with requests.Session() as session:
            response = GoogleAuthRequest(session)(
                url, method=method, body=body, headers=headers, timeout=timeout or self._timeout, **kwargs
            )
        lifetime = cache_lifetime(response.headers) if cacheable and response.status == 200 else 0.0
        if lifetime > 0:
            with self._lock:
                self._cache[url] = _CachedCerts(response, now, now + lifetime, _key_ids(response.data))
        return response

    def forget_unless_known(self, url: str, key_id: str) -> None:
        """Drop the cached set for `url` if it lacks `key_id` and is old enough to be refreshed."""
        with self._lock:
            cached = self._cache.get(url)
            if cached is None or key_id in cached.key_ids:
                return
            if time.monotonic() - cached.fetched_at >= MIN_CERTS_REFRESH_SECONDS:
                del self._cache[url]

    def clear(self) -> None:
        with self._lock:
            self._cache.clear()


CERTIFICATES = CertificateSource()


def bearer_token(authorization: str | None) -> str | None:
    """The JWT of an `Authorization: Bearer ...` header, or None when the header cannot carry one."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or len(token) > MAX_TOKEN_LENGTH or not _TOKEN_SHAPE.fullmatch(token):
        return None
    return token


def clock_skew(settings: Mapping[str, str]) -> int:
    return int_setting(settings, "GMAIL_PUBSUB_CLOCK_SKEW_SECONDS", default=DEFAULT_CLOCK_SKEW_SECONDS, minimum=0, maximum=MAX_CLOCK_SKEW_SECONDS)


def _same(value: Any, expected: str) -> bool:
    return isinstance(value, str) and hmac.compare_digest(value.encode("utf-8"), expected.encode("utf-8"))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def claims_are_valid(claims: Mapping[str, Any], *, audience: str, service_account: str, now: float, skew: int) -> str | None:
    """None when the claims are what a push of ours carries; otherwise the name of the first failing check."""
    if claims.get("iss") not in GOOGLE_ISSUERS:
        return "issuer"
    if not _same(claims.get("aud"), audience):
        return "audience"
    if not _same(claims.get("email"), service_account):
        return "email"
    if claims.get("email_verified") is not True:
        return "email_verified"
    issued_at, expires_at = _number(claims.get("iat")), _number(claims.get("exp"))
    if issued_at is None or expires_at is None or not issued_at - skew <= now <= expires_at + skew:
        return "lifetime"
    return None


def push_is_authentic(
    authorization: str | None, settings: Mapping[str, str], now: float, certificates: CertificateSource = CERTIFICATES
) -> bool:
    """True only for a push carrying a valid token of our subscription's service account; never raises."""
    stage = "settings"
    try:
        audience = settings.get("GMAIL_PUBSUB_AUDIENCE") or ""
        service_account = settings.get("GMAIL_PUBSUB_SERVICE_ACCOUNT") or ""
        if not audience or not service_account:
            log.warning("Gmail push refused: GMAIL_PUBSUB_AUDIENCE and GMAIL_PUBSUB_SERVICE_ACCOUNT must both be set")
            return False
        skew = clock_skew(settings)
        certs_url = settings.get("GMAIL_PUBSUB_CERTS_URL") or DEFAULT_CERTS_URL
        stage = "header"
        token = bearer_token(authorization)
        if token is None:
            log.info("Gmail push refused: no bearer token in the Authorization header")
            return False
        header = jwt.decode_header(token)
        if not isinstance(header, Mapping) or header.get("alg") != "RS256":
            log.info("Gmail push refused: the token is not RS256")
            return False
        key_id = header.get("kid")
        if isinstance(key_id, str):
            certificates.forget_unless_known(certs_url, key_id)
        stage = "verification"
        claims = id_token.verify_token(
            token, certificates, audience=audience, certs_url=certs_url, clock_skew_in_seconds=skew
        )
        failed = claims_are_valid(claims, audience=audience, service_account=service_account, now=now, skew=skew)
    except Exception as exc:  # a webhook check answers False, whatever went wrong
        log.info("Gmail push refused at %s: %s", stage, type(exc).__name__)
        return False
    if failed is not None:
        log.info("Gmail push refused: the token's %s claim does not match", failed)
        return False
    return True
