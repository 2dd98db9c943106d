"""What the Gmail connector tells the hub: its description, Google OAuth parameters and the mailbox account.

The code flow runs against the local authorization server (hub.testkit),
driven with the connector's own parameters the way the hub drives it:
`OAUTH_GMAIL_AUTHORIZE_URL` / `_TOKEN_URL` replace Google's endpoints, PKCE
S256, Google's extra authorize parameters; then `oauth_account` reads the
profile from the fake Gmail API with the freshly issued token.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from gmail_fakes import ACCESS_TOKEN, MAILBOX

from hub.testing import FakeOAuthProvider, provider_session
from hub.types import WebhookRequest

READONLY = "https://www.googleapis.com/auth/gmail.readonly"
REDIRECT_URI = "http://hub.test/api/oauth/callback/gmail"


@pytest.fixture
def host(make_host):
    return make_host()


@pytest.fixture
def provider():
    fake = FakeOAuthProvider(scopes=(READONLY, "https://www.googleapis.com/auth/gmail.metadata"))
    with fake.serve():
        yield fake


def test_connector_is_oauth_only_with_one_app_level_url(host):
    described = host.describe("gmail")
    assert described["display_name"] == "Gmail"
    assert described["auth_kind"] == "oauth2"
    assert described["webhook_routing"] == "app"
    assert described["credential_fields"] == {}
    assert described["supports"] == {
        "oauth": True,
        "api_key": False,
        "webhooks": True,
        "sync": True,
        "revoke": True,
        "health_check": True,
        "proxy": True,
    }
    assert described["distribution"] == "hub-gmail"


def test_oauth_config_is_googles_web_server_flow(host):
    config = host.oauth_config("gmail")
    assert config.authorize_url == "https://accounts.google.com/o/oauth2/v2/auth"
    assert config.token_url == "https://oauth2.googleapis.com/token"
    assert config.revoke_url == "https://oauth2.googleapis.com/revoke"
    assert config.scopes == (READONLY,)
    assert config.scope_separator == " "
    assert dict(config.extra_authorize_params) == {"access_type": "offline", "prompt": "consent"}
    assert config.pkce is True
    assert config.token_endpoint_auth_method == "client_secret_post"


def test_scopes_and_revoke_url_are_configurable(make_host):
    host = make_host(
        GMAIL_SCOPES="https://www.googleapis.com/auth/gmail.metadata, https://www.googleapis.com/auth/gmail.modify",
        OAUTH_GMAIL_REVOKE_URL="https://revoke.example/revoke",
    )
    config = host.oauth_config("gmail")
    assert config.scopes == ("https://www.googleapis.com/auth/gmail.metadata", "https://www.googleapis.com/auth/gmail.modify")
    assert config.revoke_url == "https://revoke.example/revoke"


def run_code_flow(host, settings: dict[str, str]) -> tuple[dict, dict]:
    """The hub's side of the flow with the connector's config; returns the authorize query and the token."""
    config = host.oauth_config("gmail")
    client = OAuth2Session(
        client_id=settings["OAUTH_GMAIL_CLIENT_ID"],
        client_secret=settings["OAUTH_GMAIL_CLIENT_SECRET"],
        token_endpoint_auth_method=config.token_endpoint_auth_method,
        redirect_uri=REDIRECT_URI,
        scope=config.scope_separator.join(config.scopes),
        code_challenge_method="S256" if config.pkce else None,
    )
    verifier = generate_token(48)
    url, state = client.create_authorization_url(
        settings.get("OAUTH_GMAIL_AUTHORIZE_URL") or config.authorize_url, code_verifier=verifier, **config.extra_authorize_params
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    approved = requests.get(url, allow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text
    back = {k: v[0] for k, v in parse_qs(urlsplit(approved.headers["Location"]).query).items()}
    assert back.get("state") == state and "code" in back, back
    token = client.fetch_token(
        settings.get("OAUTH_GMAIL_TOKEN_URL") or config.token_url, grant_type="authorization_code", code=back["code"], code_verifier=verifier
    )
    return query, dict(token)


def test_the_code_flow_runs_with_the_connectors_parameters_and_finds_the_mailbox(make_host, provider, gmail):
    settings = {
        "OAUTH_GMAIL_AUTHORIZE_URL": provider.authorize_url,
        "OAUTH_GMAIL_TOKEN_URL": provider.token_url,
        "OAUTH_GMAIL_CLIENT_ID": provider.client_id,
        "OAUTH_GMAIL_CLIENT_SECRET": provider.client_secret,
        "GMAIL_API_BASE_URL": gmail.base_url,
    }
    host = make_host(**settings)
    query, token = run_code_flow(host, settings)
    assert query["access_type"] == "offline" and query["prompt"] == "consent"
    assert query["scope"] == READONLY
    assert query["code_challenge_method"] == "S256" and query["code_challenge"]
    [exchange] = provider.token_requests
    assert exchange == {"grant_type": "authorization_code", "client_auth": "client_secret_post", "code_verifier": True}
    assert token["refresh_token"] and token["scope"] == READONLY

    gmail.accept_token = lambda presented: presented in provider.tokens  # Gmail accepts what Google issued
    account = host.oauth_account("gmail", token=token, session=provider_session(token))
    assert account.external_account_id == MAILBOX.lower()
    assert account.display_name == MAILBOX
    [profile] = gmail.calls
    assert profile["path"] == "/gmail/v1/users/me/profile"
    assert profile["authorization"] == f"Bearer {token['access_token']}"


def test_account_ids_from_oauth_and_from_pushes_agree(make_host, gmail):
    """The hub routes a push to the integrations whose account id equals the event's account."""
    host = make_host(GMAIL_API_BASE_URL=gmail.base_url)
    token = {"access_token": ACCESS_TOKEN}
    account = host.oauth_account("gmail", token=token, session=provider_session(token))
    data = base64.b64encode(json.dumps({"emailAddress": MAILBOX.upper(), "historyId": "1"}).encode()).decode()
    body = json.dumps({"message": {"data": data, "messageId": "1", "publishTime": "2021-02-26T19:13:55.749Z"}, "subscription": "s"}).encode()
    [event] = host.normalize("gmail", request=WebhookRequest(headers={}, body=body, content_type="application/json"))
    assert event.account == account.external_account_id


def test_a_refused_profile_call_fails_without_echoing_the_token(make_host, gmail):
    host = make_host(GMAIL_API_BASE_URL=gmail.base_url)
    token = {"access_token": "ya29.not-accepted-by-gmail"}
    with pytest.raises(Exception) as raised:
        host.oauth_account("gmail", token=token, session=provider_session(token))
    assert "401" in str(raised.value) and "ya29" not in str(raised.value)


def test_a_profile_without_an_address_is_an_error(make_host, gmail):
    host = make_host(GMAIL_API_BASE_URL=gmail.base_url)
    gmail.address = ""
    token = {"access_token": ACCESS_TOKEN}
    with pytest.raises(Exception, match="no_email_address"):
        host.oauth_account("gmail", token=token, session=provider_session(token))
