"""Test helpers for hosts of the Gmail connector: Google-style signing keys and a certificate server.

A host application's own tests (and the hub's) sign Pub/Sub push tokens with
a local RSA key and serve its certificate the way Google does, then point
`GMAIL_PUBSUB_CERTS_URL` at `CertsServer.url`. Needs nothing beyond what the
hub already installs (cryptography, Flask, google-auth).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID
from flask import Flask, Response, jsonify
from google.auth import crypt, jwt


@dataclass(frozen=True)
class SigningKey:
    kid: str
    private_pem: str
    certificate_pem: str

    def signer(self, with_kid: bool = True) -> crypt.RSASigner:
        return crypt.RSASigner.from_string(self.private_pem, key_id=self.kid if with_kid else None)


def make_key(kid: str) -> SigningKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, kid)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    private_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return SigningKey(kid, private_pem.decode(), certificate.public_bytes(serialization.Encoding.PEM).decode())


@dataclass
class CertsServer:
    """Google's certificate endpoint: a JSON map kid -> PEM certificate."""

    base_url: str = ""
    certs: dict = field(default_factory=dict)
    cache_control: str | None = None
    status: int = 200
    raw: bytes | None = None
    fetches: int = 0

    @property
    def url(self) -> str:
        return self.base_url + "/oauth2/v1/certs"

    def app(self) -> Flask:
        app = Flask("fake-google-certs")

        @app.get("/oauth2/v1/certs")
        def certs():
            self.fetches += 1
            response = Response(self.raw, mimetype="application/json") if self.raw is not None else jsonify(self.certs)
            response.status_code = self.status
            if self.cache_control:
                response.headers["Cache-Control"] = self.cache_control
            return response

        return app


def push_token(key: SigningKey, *, audience: str, service_account: str, **overrides: Any) -> str:
    """A Pub/Sub push token (the claims Google's documentation shows), valid for an hour from now."""
    now = int(time.time())
    claims = {
        "aud": audience,
        "azp": "113774264463038321964",
        "email": service_account,
        "email_verified": True,
        "exp": now + 3600,
        "iat": now,
        "iss": "https://accounts.google.com",
        "sub": "113774264463038321964",
    }
    claims.update(overrides)
    return jwt.encode(key.signer(), claims).decode()
