"""How the proxy reaches Stripe: the account's own key, or the platform key and Stripe-Account."""

from __future__ import annotations

from hub.types import ProxyConfig


def test_an_api_key_integration_is_proxied_with_its_own_key_and_may_not_name_another_account(make_host):
    config = make_host().proxy_config("stripe", credentials={"api_key": "rk_test_own"})

    assert config == ProxyConfig(
        base_url="https://api.stripe.com",
        headers={"Authorization": "Bearer rk_test_own"},
        reserved_headers=("Stripe-Account",),
        honours_idempotency_key=True,
    )


def test_a_connect_integration_is_proxied_as_the_platform_for_its_connected_account(make_host):
    host = make_host(OAUTH_STRIPE_CLIENT_SECRET="sk_test_platform", STRIPE_API_BASE_URL="http://127.0.0.1:9/")

    config = host.proxy_config("stripe", credentials={"stripe_user_id": "acct_1Connected", "access_token": "legacy"})

    assert config.base_url == "http://127.0.0.1:9"
    assert config.headers == {"Authorization": "Bearer sk_test_platform", "Stripe-Account": "acct_1Connected"}
