"""How the proxy reaches Gmail's REST API: the access token, paths under gmail.googleapis.com."""

from __future__ import annotations


def test_the_rest_api_is_proxied_with_the_access_token(make_host):
    config = make_host().proxy_config("gmail", credentials={"access_token": "ya29.token", "refresh_token": "1//r"})

    assert config.base_url == "https://gmail.googleapis.com"
    assert config.headers == {"Authorization": "Bearer ya29.token"}


def test_the_base_url_follows_gmail_api_base_url(make_host):
    config = make_host(GMAIL_API_BASE_URL="http://127.0.0.1:9").proxy_config("gmail", credentials={"access_token": "x"})

    assert config.base_url == "http://127.0.0.1:9"
