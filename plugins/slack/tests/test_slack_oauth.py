"""What the Slack connector tells the hub: its description, OAuth v2 parameters and account ids."""

from __future__ import annotations

import json

import pytest

from hub.types import WebhookRequest

# oauth.v2.access's documented answer for a bot token.
TOKEN_RESPONSE = {
    "ok": True,
    "access_token": "xoxb-17653672481-19874698323-pdFZKVeTuE8sk7oOcBrzbqgy",
    "token_type": "bot",
    "scope": "commands,incoming-webhook",
    "bot_user_id": "U0KRQLJ9H",
    "app_id": "A0KRD7HC3",
    "team": {"name": "Slack Softball Team", "id": "T9TK3CUKW"},
    "enterprise": {"name": "slack-sports", "id": "E12345678"},
    "authed_user": {"id": "U1234", "scope": "chat:write", "access_token": "xoxp-1234", "token_type": "user"},
}


@pytest.fixture
def host(make_host):
    return make_host()


def test_connector_is_oauth_only_with_one_app_level_url(host):
    described = host.describe("slack")
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


def test_oauth_config_is_slack_oauth_v2(host):
    config = host.oauth_config("slack")
    assert config.authorize_url == "https://slack.com/oauth/v2/authorize"
    assert config.token_url == "https://slack.com/api/oauth.v2.access"
    assert config.token_endpoint_auth_method == "client_secret_basic"
    assert config.scope_separator == ","
    assert config.pkce is False
    assert {"channels:read", "channels:history", "groups:read", "groups:history"} <= set(config.scopes)
    assert "user_scope" not in config.extra_authorize_params


def test_scopes_are_configurable(make_host):
    host = make_host(SLACK_SCOPES="chat:write, commands", SLACK_USER_SCOPES="search:read identity.basic")
    config = host.oauth_config("slack")
    assert config.scopes == ("chat:write", "commands")
    assert config.extra_authorize_params == {"user_scope": "search:read,identity.basic"}


def test_grid_workspace_account_is_enterprise_and_team(host):
    account = host.oauth_account("slack", token=TOKEN_RESPONSE, session=None)
    assert account.external_account_id == "E12345678:T9TK3CUKW"
    assert account.display_name == "Slack Softball Team"


def test_workspace_outside_grid_is_its_team_id(host):
    token = dict(TOKEN_RESPONSE, enterprise=None, is_enterprise_install=False)
    assert host.oauth_account("slack", token=token, session=None).external_account_id == "T9TK3CUKW"


def test_org_wide_install_is_the_enterprise_id(host):
    token = dict(TOKEN_RESPONSE, team=None, is_enterprise_install=True)
    account = host.oauth_account("slack", token=token, session=None)
    assert account.external_account_id == "E12345678"
    assert account.display_name == "slack-sports"


def test_account_ids_from_oauth_and_from_events_agree(host):
    """The hub routes an app-level event to the integration whose account id equals the event's account."""
    event = {
        "type": "event_callback",
        "team_id": "T9TK3CUKW",
        "enterprise_id": "E12345678",
        "event_id": "Ev1",
        "event": {"type": "app_mention", "channel": "C1", "ts": "1.0"},
        "authorizations": [{"enterprise_id": "E12345678", "team_id": "T9TK3CUKW", "is_bot": True, "is_enterprise_install": False}],
    }
    request = WebhookRequest(headers={}, body=json.dumps(event).encode(), content_type="application/json")
    [normalized] = host.normalize("slack", request=request)
    assert normalized.account == host.oauth_account("slack", token=TOKEN_RESPONSE, session=None).external_account_id


def test_ok_false_token_response_is_an_error(host):
    with pytest.raises(Exception) as raised:
        host.oauth_account("slack", token={"ok": False, "error": "invalid_code"}, session=None)
    assert "invalid_code" in str(raised.value)


def test_token_response_without_a_team_is_an_error(host):
    with pytest.raises(Exception, match="no_team"):
        host.oauth_account("slack", token={"ok": True, "access_token": "xoxb-1"}, session=None)
