"""How the proxy reaches Slack's Web API: the bot token, method names under /api."""

from __future__ import annotations


def test_the_web_api_is_proxied_with_the_bot_token(make_host):
    config = make_host().proxy_config("slack", credentials={"access_token": "xoxb-bot"})

    assert config.base_url == "https://slack.com/api"
    assert config.headers == {"Authorization": "Bearer xoxb-bot"}
    assert config.honours_idempotency_key is False


def test_the_base_url_follows_slack_api_base_url(make_host):
    config = make_host(SLACK_API_BASE_URL="http://127.0.0.1:9/api/").proxy_config("slack", credentials={"access_token": "x"})

    assert config.base_url == "http://127.0.0.1:9/api"
