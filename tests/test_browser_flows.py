"""End to end in a real Chromium: the Connect page and the console, against a hub served on 127.0.0.1."""

from __future__ import annotations

from typing import Any

from selenium.webdriver.common.by import By


def test_chromium_reaches_the_live_hub(live_hub: Any, browser: Any) -> None:
    hub = live_hub()
    browser.get(hub.url + "/healthz")
    assert "ok" in browser.find_element(By.TAG_NAME, "body").text
