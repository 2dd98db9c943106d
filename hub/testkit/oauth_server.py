"""A real OAuth 2 authorization server for tests, built on authlib's server side.

It speaks the authorization-code grant (with PKCE) and the refresh-token
grant over real HTTP on 127.0.0.1, so the hub's client code runs exactly as
against a provider. The authorize endpoint approves at once (no login page),
as the given account; tests follow its redirect with `requests`.

Knobs for the cases a provider can present: the client authentication
method it accepts, whether PKCE is required, extra token-response fields
(Slack's `team`), access-token lifetime, single-use (rotated) refresh
tokens, a forced token-endpoint error (`invalid_grant`) or HTTP status, a
slow token endpoint, a failing user-info/revocation API, and a refused
authorization (`access_denied`). It records how often each
refresh token was presented, so a test can prove one was spent once.

Token endpoints answer in dialects: JSON (RFC 6749), form-encoded
(`token_response_format="form"`), or form-encoded unless the client asks
for JSON with `Accept` (`"accept"`, GitHub's way); and errors under HTTP 400
or, as GitHub and Slack do, under HTTP 200 (`token_error_http_status=200`).

    provider = FakeOAuthProvider(extra_token_fields={"team": {"id": "T1"}})
    with provider.serve() as base_url:
        ...  # point OAUTH_<ID>_AUTHORIZE_URL / _TOKEN_URL at provider.authorize_url / token_url
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from flask import Flask, Response, jsonify, request

from hub.testkit.http_server import serve_wsgi


@dataclass
class _Client:
    client_id: str
    client_secret: str
    auth_method: str
    scopes: tuple[str, ...]

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return None

    def get_allowed_scope(self, scope: str | None) -> str:
        if not scope:
            return ""
        return " ".join(s for s in scope.replace(",", " ").split() if s in self.scopes)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri.startswith(("http://", "https://"))

    def check_client_secret(self, client_secret: str) -> bool:
        return secrets.compare_digest(client_secret, self.client_secret)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == self.auth_method

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in ("authorization_code", "refresh_token")


@dataclass
class _AuthorizationCode:
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    account: str
    code_challenge: str | None
    code_challenge_method: str | None
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def is_expired(self) -> bool:
        return time.time() > self.expires_at


@dataclass
class _Token:
    access_token: str
    refresh_token: str | None
    client_id: str
    scope: str
    account: str
    expires_at: float
    revoked: bool = False

    def check_client(self, client: _Client) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int(self.expires_at - time.time()))

    def is_expired(self) -> bool:
        return time.time() > self.expires_at

    def is_revoked(self) -> bool:
        return self.revoked


@dataclass
class FakeOAuthProvider:
    """An in-memory authorization server; every setting may be changed between requests."""

    client_id: str = "hub-test-client"
    client_secret: str = field(default_factory=lambda: "fake-client-secret-" + secrets.token_hex(8))
    token_endpoint_auth_method: str = "client_secret_post"
    require_pkce: bool = True
    scopes: tuple[str, ...] = ("read", "write")
    account_id: str = "account-1"
    account_name: str = "Test Account"
    access_token_lifetime: int = 3600
    issue_refresh_tokens: bool = True
    rotate_refresh_tokens: bool = True
    extra_token_fields: dict[str, Any] = field(default_factory=dict)
    deny_authorization: bool = False
    token_error: str | None = None
    token_error_http_status: int = 400
    token_error_status: int | None = None
    token_response_format: Literal["json", "form", "accept"] = "json"
    token_response_delay: float = 0.0
    api_error_status: int | None = None

    def __post_init__(self) -> None:
        self.base_url = ""
        self.codes: dict[str, _AuthorizationCode] = {}
        self.issued_codes: list[str] = []
        self.tokens: dict[str, _Token] = {}
        self.refresh_tokens: dict[str, _Token] = {}
        self.refresh_token_uses: Counter[str] = Counter()
        self.token_requests: list[dict[str, Any]] = []
        self.revoked: list[str] = []
        self._mutex = threading.Lock()
        self.app = self._build_app()

    # URLs ----------------------------------------------------------------

    @property
    def authorize_url(self) -> str:
        return self.base_url + "/authorize"

    @property
    def token_url(self) -> str:
        return self.base_url + "/token"

    @property
    def userinfo_url(self) -> str:
        return self.base_url + "/userinfo"

    @property
    def revoke_url(self) -> str:
        return self.base_url + "/revoke"

    @contextmanager
    def serve(self) -> Iterator[str]:
        with serve_wsgi(self.app) as base_url:
            self.base_url = base_url
            yield base_url

    # what tests inspect --------------------------------------------------

    @property
    def refresh_requests(self) -> list[dict[str, Any]]:
        return [r for r in self.token_requests if r["grant_type"] == "refresh_token"]

    def issued_secrets(self) -> set[str]:
        """Every access and refresh token and code this server handed out (to scan logs for)."""
        values = set(self.issued_codes) | set(self.tokens) | set(self.refresh_tokens)
        return values | {self.client_secret}

    def _in_dialect(self, answer: Response) -> Response:
        """The token endpoint's JSON answer, form-encoded when this provider's dialect says so."""
        wants_json = "application/json" in request.headers.get("Accept", "")
        if self.token_response_format == "json" or (self.token_response_format == "accept" and wants_json):
            return answer
        fields = {name: value if isinstance(value, str) else str(value) for name, value in (answer.get_json() or {}).items()}
        return Response(urlencode(fields), status=answer.status_code, content_type="application/x-www-form-urlencoded")

    def issue_grant(self, *, lifetime: int | None = None, account: str | None = None) -> dict[str, Any]:
        """A token response for a grant the test did not walk through the browser for (an integration stored directly)."""
        token = self._generate_token("authorization_code", self._client(), scope=" ".join(self.scopes))
        if lifetime is not None:
            token["expires_in"] = lifetime
        record = _Token(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            client_id=self.client_id,
            scope=token.get("scope", ""),
            account=account or self.account_id,
            expires_at=time.time() + int(token["expires_in"]),
        )
        self.tokens[record.access_token] = record
        if record.refresh_token:
            self.refresh_tokens[record.refresh_token] = record
        return token

    def accepts(self, authorization: str | None) -> bool:
        """Whether `Authorization: Bearer <token>` names a live access token of this server (what a provider API checks)."""
        scheme, _, presented = (authorization or "").partition(" ")
        record = self.tokens.get(presented) if scheme.lower() == "bearer" else None
        return record is not None and not record.is_expired() and not record.revoked

    # the authlib server --------------------------------------------------

    def _client(self) -> _Client:
        return _Client(self.client_id, self.client_secret, self.token_endpoint_auth_method, self.scopes)

    def _query_client(self, client_id: str) -> _Client | None:
        return self._client() if client_id == self.client_id else None

    def _save_token(self, token: dict[str, Any], oauth_request: Any) -> None:
        token.update(self.extra_token_fields)
        record = _Token(
            access_token=token["access_token"],
            refresh_token=token.get("refresh_token"),
            client_id=oauth_request.client.client_id,
            scope=token.get("scope", ""),
            account=oauth_request.user,
            expires_at=time.time() + int(token.get("expires_in", self.access_token_lifetime)),
        )
        self.tokens[record.access_token] = record
        if record.refresh_token:
            self.refresh_tokens[record.refresh_token] = record

    def _generate_token(
        self, grant_type: str, client: Any, user: Any = None, scope: str | None = None,
        expires_in: int | None = None, include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": "fake-at-" + secrets.token_urlsafe(24),
            "expires_in": self.access_token_lifetime,
        }
        if scope:
            token["scope"] = scope
        if include_refresh_token and self.issue_refresh_tokens:
            token["refresh_token"] = "fake-rt-" + secrets.token_urlsafe(24)
        return token

    def _build_app(self) -> Flask:
        provider = self
        app = Flask("fake-oauth-provider")
        server = AuthorizationServer(app, query_client=self._query_client, save_token=self._save_token)
        server.register_token_generator("default", self._generate_token)

        class PkceChallenge(CodeChallenge):
            def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
                if provider.require_pkce and not grant.request.payload.data.get("code_challenge"):
                    raise InvalidRequestError("Missing 'code_challenge'")
                if grant.request.payload.data.get("code_challenge_method", "S256") != "S256":
                    raise InvalidRequestError("Only S256 is accepted")
                super().validate_code_challenge(grant, redirect_uri)

        class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            def save_authorization_code(self, code: str, oauth_request: Any) -> None:
                data = oauth_request.payload.data
                provider.issued_codes.append(code)
                provider.codes[code] = _AuthorizationCode(
                    code=code,
                    client_id=oauth_request.client.client_id,
                    redirect_uri=oauth_request.payload.redirect_uri,
                    scope=oauth_request.payload.scope or "",
                    account=oauth_request.user,
                    code_challenge=data.get("code_challenge"),
                    code_challenge_method=data.get("code_challenge_method"),
                    expires_at=time.time() + 300,
                )

            def query_authorization_code(self, code: str, client: _Client) -> _AuthorizationCode | None:
                found = provider.codes.get(code)
                if found and found.client_id == client.client_id and not found.is_expired():
                    return found
                return None

            def delete_authorization_code(self, authorization_code: _AuthorizationCode) -> None:
                provider.codes.pop(authorization_code.code, None)

            def authenticate_user(self, authorization_code: _AuthorizationCode) -> str:
                return authorization_code.account

        class RefreshTokenGrant(grants.RefreshTokenGrant):
            TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

            @property
            def INCLUDE_NEW_REFRESH_TOKEN(self) -> bool:  # type: ignore[override]
                return provider.rotate_refresh_tokens

            def authenticate_refresh_token(self, refresh_token: str) -> _Token | None:
                token = provider.refresh_tokens.get(refresh_token)
                if token is None or token.revoked:
                    return None
                return token

            def authenticate_user(self, refresh_token: _Token) -> str:
                return refresh_token.account

            def revoke_old_credential(self, refresh_token: _Token) -> None:
                if provider.rotate_refresh_tokens:
                    refresh_token.revoked = True

        server.register_grant(AuthorizationCodeGrant, [PkceChallenge(required=True)])
        server.register_grant(RefreshTokenGrant)

        @app.get("/authorize")
        def authorize():  # type: ignore[no-untyped-def]
            account = None if provider.deny_authorization else provider.account_id
            try:
                grant = server.get_consent_grant(end_user=account)
            except OAuth2Error as error:  # redirected back to the client when the redirect URI is known
                return server.handle_error_response(None, error)
            return server.create_authorization_response(grant=grant, grant_user=account)

        @app.post("/token")
        def token():  # type: ignore[no-untyped-def]
            with provider._mutex:  # one token request at a time: races show up as spent tokens, not torn state
                form = request.form
                provider.token_requests.append({
                    "grant_type": form.get("grant_type"),
                    "client_auth": "client_secret_basic" if request.authorization else "client_secret_post",
                    "code_verifier": bool(form.get("code_verifier")),
                })
                if form.get("grant_type") == "refresh_token" and form.get("refresh_token"):
                    provider.refresh_token_uses[form["refresh_token"]] += 1
                time.sleep(provider.token_response_delay)
                if provider.token_error_status is not None:
                    return "provider unavailable", provider.token_error_status
                if provider.token_error is not None:
                    answer = jsonify(error=provider.token_error, error_description="forced by the test")
                    answer.status_code = provider.token_error_http_status
                    return provider._in_dialect(answer)
                return provider._in_dialect(server.create_token_response())

        @app.get("/userinfo")
        def userinfo():  # type: ignore[no-untyped-def]
            if provider.api_error_status is not None:
                return "provider unavailable", provider.api_error_status
            scheme, _, presented = request.headers.get("Authorization", "").partition(" ")
            record = provider.tokens.get(presented) if scheme.lower() == "bearer" else None
            if record is None or record.is_expired() or record.revoked:
                return jsonify(error="invalid_token"), 401
            return jsonify(id=record.account, name=provider.account_name)

        @app.post("/revoke")
        def revoke():  # type: ignore[no-untyped-def]
            if provider.api_error_status is not None:
                return "provider unavailable", provider.api_error_status
            presented = request.form.get("token", "")
            for table in (provider.tokens, provider.refresh_tokens):
                if presented in table:
                    table[presented].revoked = True
            provider.revoked.append(presented)
            return "", 200

        return app
