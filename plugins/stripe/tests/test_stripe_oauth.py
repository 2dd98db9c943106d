"""What the Stripe connector tells the hub: its description, Connect OAuth parameters and account."""

from __future__ import annotations

import pytest


@pytest.fixture
def host(make_host):
    return make_host()


def test_connector_supports_connect_oauth_and_api_keys(host):
    described = host.describe("stripe")
    assert described["auth_kind"] == "oauth2"
    assert described["webhook_routing"] == "both"
    assert described["required_credentials"] == ["api_key"]
    assert set(described["credential_fields"]) == {"api_key", "webhook_secret"}
    assert described["supports"] == {
        "oauth": True,
        "api_key": True,
        "webhooks": True,
        "sync": True,
        "revoke": True,
        "health_check": True,
        "proxy": True,
    }
    assert described["distribution"] == "hub-stripe"


def test_oauth_config_is_stripe_connect(host):
    config = host.oauth_config("stripe")
    assert config.authorize_url == "https://connect.stripe.com/oauth/authorize"
    assert config.token_url == "https://connect.stripe.com/oauth/token"
    assert config.scopes == ("read_write",)
    assert config.pkce is False
    assert config.token_endpoint_auth_method == "client_secret_post"


def test_connected_account_id_is_the_stripe_user_id(host):
    token = {
        "access_token": "sk_test_LegacyConnectedAccountToken",
        "livemode": False,
        "refresh_token": "rt_ConnectRefreshToken",
        "token_type": "bearer",
        "stripe_publishable_key": "pk_test_ConnectedAccountKey",
        "stripe_user_id": "acct_1032D82eZvKYlo2C",
        "scope": "read_write",
    }
    account = host.oauth_account("stripe", token=token, session=None)
    assert account.external_account_id == "acct_1032D82eZvKYlo2C"


def test_a_token_without_stripe_user_id_is_refused_without_echoing_it(host):
    with pytest.raises(Exception) as raised:
        host.oauth_account("stripe", token={"access_token": "sk_test_TokenValue"}, session=None)
    assert "stripe_user_id" in str(raised.value) and "sk_test_TokenValue" not in str(raised.value)
