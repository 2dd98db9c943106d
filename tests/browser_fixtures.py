"""A real hub on 127.0.0.1 and a real headless Chromium driving it (Debian's chromium and chromium-driver).

`live_hub` serves an app of the test database over real HTTP, its
APP_BASE_URL the served address, so OAuth redirects and webhook URLs point
at it. `browser` is one Chromium for the session, its cookies cleared and its
console log emptied before each test; `console_errors(browser)` reads what
the page logged (CSP violations included). Without the browser the tests
are skipped, and with CI=true they fail: scripts/bootstrap --test installs it.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from hub.testing import AppFactory, in_ci
from hub.testkit.http_server import serve_wsgi

CHROMIUM = os.environ.get("HUB_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("HUB_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


def _browser_missing(reason: str) -> None:
    message = f"the browser tests need Debian's chromium and chromium-driver: {reason}"
    if in_ci():
        pytest.fail(message + "; CI=true requires them (scripts/bootstrap --test installs them)", pytrace=False)
    pytest.skip(message)


@pytest.fixture(scope="session")
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the whole session."""
    for path in (CHROMIUM, CHROMEDRIVER):
        if not (os.path.isfile(path) and os.access(path, os.X_OK)) and shutil.which(path) is None:
            _browser_missing(f"{path} is missing")
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError as error:
        _browser_missing(f"selenium is not installed ({error})")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     "--window-size=1280,900", "--no-first-run", "--disable-extensions",
                     f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    try:
        driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    except Exception as error:
        _browser_missing(f"chromium did not start ({type(error).__name__}: {error})")
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture
def browser(chromium: Any) -> Any:
    """The session's Chromium with no cookies and an empty console log (cookies ignore ports, so every hub shares them)."""
    chromium.execute_cdp_cmd("Network.clearBrowserCookies", {})
    chromium.get("about:blank")
    chromium.get_log("browser")
    chromium.set_window_size(1280, 900)
    return chromium


def console_errors(driver: Any) -> list[str]:
    """What the pages logged at error level since the last call (a CSP violation is one)."""
    return [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]


@dataclass
class LiveHub:
    """A hub app served on 127.0.0.1; `url` is its APP_BASE_URL."""

    url: str
    app: Any
    cleanups: list[Callable[[], None]] = field(default_factory=list)

    def client(self) -> Any:
        return self.app.test_client()


@pytest.fixture
def live_hub(make_app: AppFactory) -> Iterator[Callable[..., LiveHub]]:
    """Build and serve a hub with extra config: `live_hub(**config)`."""
    servers: list[Any] = []

    def serve(**config: Any) -> LiveHub:
        holder: dict[str, Any] = {}

        def application(environ: dict[str, Any], start_response: Any) -> Any:
            return holder["app"](environ, start_response)

        server = serve_wsgi(application)
        url = server.__enter__()
        servers.append(server)
        config.setdefault("FRONTEND_URL", url)
        holder["app"] = make_app(APP_BASE_URL=url, **config)
        return LiveHub(url=url, app=holder["app"])

    yield serve
    for server in reversed(servers):
        server.__exit__(None, None, None)
