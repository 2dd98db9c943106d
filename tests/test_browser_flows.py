"""End to end in a real Chromium: the Connect page and the console, against a hub served on 127.0.0.1.

The hub runs with the real Gmail and Stripe connectors, Gmail's OAuth
pointed at the local fake authorization server (hub.testkit) and its API at
a fake profile endpoint, Stripe's at the fake account API; the `signed` test
connector and the recording processor make events to fail and replay. Every
page the browser visits is checked for its CSP header and for errors in the
browser's console (a CSP violation is one). With HUB_SCREENSHOTS_DIR set
(scripts/screenshots), each main page is saved there as a PNG.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from flask import Flask, jsonify, request
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait

from hub.testing import make_tenant
from hub.testkit.http_server import serve_wsgi
from hub.testkit.oauth_server import FakeOAuthProvider
from tests.browser_fixtures import console_errors
from tests.oauth_fixtures import connect_token
from tests.pipeline_fixtures import APP_SECRET, PROCESSOR_MODULE

GMAIL_SCOPES = ("https://www.googleapis.com/auth/gmail.readonly", "https://www.googleapis.com/auth/gmail.metadata")
STRIPE_KEY = "rk_test_browser_0001"
MAILBOX = "ada@example.com"


def fake_gmail_profile(provider: FakeOAuthProvider) -> Flask:
    """Gmail's profile call, answered for the tokens the fake provider issued."""
    api = Flask("fake-gmail-profile")

    @api.get("/gmail/v1/users/me/profile")
    def profile() -> Any:
        token = request.headers.get("Authorization", "").removeprefix("Bearer ")
        if token not in provider.tokens:
            return jsonify({"error": {"code": 401, "message": "invalid"}}), 401
        return jsonify({"emailAddress": MAILBOX, "historyId": "1000", "messagesTotal": 0})

    return api


@pytest.fixture
def gmail_provider() -> Iterator[FakeOAuthProvider]:
    fake = FakeOAuthProvider(scopes=GMAIL_SCOPES)
    with fake.serve():
        yield fake


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("HUB_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def hub(live_hub: Any, gmail_provider: FakeOAuthProvider, stripe_api: Any, signed_distribution: Path,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    monkeypatch.syspath_prepend(str(signed_distribution))
    record_dir = tmp_path / "record"
    record_dir.mkdir()
    monkeypatch.setenv("HUBTEST_RECORD_DIR", str(record_dir))
    stripe_api.key_of("acct_1Browser", STRIPE_KEY)
    with serve_wsgi(fake_gmail_profile(gmail_provider)) as gmail_api:
        yield live_hub(
            OAUTH_GMAIL_CLIENT_ID=gmail_provider.client_id,
            OAUTH_GMAIL_CLIENT_SECRET=gmail_provider.client_secret,
            OAUTH_GMAIL_AUTHORIZE_URL=gmail_provider.authorize_url,
            OAUTH_GMAIL_TOKEN_URL=gmail_provider.token_url,
            GMAIL_API_BASE_URL=gmail_api,
            STRIPE_API_BASE_URL=stripe_api.base_url,
            HUB_PLUGINS=PROCESSOR_MODULE,
            SIGNED_APP_SECRET=APP_SECRET,
            HUB_JOB_MAX_ATTEMPTS=1,
            HUB_JOB_BACKOFF_SECONDS=0,
        )


class Visit:
    """The browser on the hub: every page it lands on is checked for its CSP header and a clean console."""

    def __init__(self, browser: Any, hub: Any, shots: Path) -> None:
        self.browser = browser
        self.hub = hub
        self.shots = shots

    def check(self, status: int = 200, *, refetch: bool = True) -> None:
        """No console errors but the page's own status (Chromium logs a 4xx page as a failed load); its CSP header.

        The header is read by fetching the page again with the browser's cookies (WebDriver shows no headers);
        `refetch=False` for a page a POST answered.
        """
        expected = f"the server responded with a status of {status}"
        errors = [error for error in console_errors(self.browser) if status < 400 or expected not in error]
        assert errors == [], errors
        if not refetch:
            return
        cookies = {cookie["name"]: cookie["value"] for cookie in self.browser.get_cookies()}
        response = requests.get(self.browser.current_url, cookies=cookies, timeout=10, allow_redirects=False)
        assert response.status_code == status
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "script-src 'self'" in policy and "frame-ancestors" in policy

    def open(self, path: str, status: int = 200) -> None:
        self.browser.get(self.hub.url + path)
        self.check(status)

    def heading(self) -> str:
        return self.browser.find_element(By.TAG_NAME, "h1").text

    def wait_for_heading(self, text: str) -> None:
        WebDriverWait(self.browser, 20).until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), text))
        self.check()

    def click(self, selector: str) -> None:
        self.browser.find_element(By.CSS_SELECTOR, selector).click()

    def shoot(self, name: str, *, phone: bool = False) -> None:
        """The whole page as a PNG (Chromium's DevTools capture, beyond the window's height)."""
        import base64

        if phone:
            self.as_phone()
        size = self.browser.execute_script("return [document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
        clip = {"x": 0, "y": 0, "width": size[0], "height": min(size[1], 3000), "scale": 1}
        shot = self.browser.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True, "clip": clip})
        (self.shots / f"{name}.png").write_bytes(base64.b64decode(shot["data"]))
        if phone:
            self.as_desktop()

    def sign_in(self, api_key: str) -> None:
        self.open("/console/sign-in")
        self.browser.find_element(By.ID, "api-key").send_keys(api_key)
        self.click("#sign-in")
        self.wait_for_heading("Events in the last 24 hours")

    def as_phone(self) -> None:
        """Chromium's device emulation: a 390 px wide touch screen, as a phone lays pages out."""
        self.browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": 390, "height": 844, "deviceScaleFactor": 1, "mobile": True})

    def as_desktop(self) -> None:
        self.browser.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})

    def fits_a_phone(self) -> bool:
        """Nothing on the page is wider than a phone's screen (no sideways scrolling of the page)."""
        self.as_phone()
        try:
            return bool(self.browser.execute_script(
                "return document.documentElement.scrollWidth <= document.documentElement.clientWidth"
                " && [...document.querySelectorAll('main *')].every(e => e.closest('.table-scroll, pre')"
                " || e.getBoundingClientRect().right <= document.documentElement.clientWidth + 0.5)"
            ))
        finally:
            self.as_desktop()


@pytest.fixture
def visit(browser: Any, hub: Any, shots: Path) -> Visit:
    return Visit(browser, hub, shots)


def token_for(hub: Any, tenant: Any, **body: Any) -> str:
    return connect_token(hub.client(), tenant, **body)


def test_an_end_user_connects_gmail_through_the_connect_page(visit, hub):
    tenant = make_tenant(hub.app, "Acme")
    token = token_for(hub, tenant, allowed_connectors=["gmail", "stripe"])
    visit.open(f"/connect?connect_token={token}")
    assert visit.heading() == "Connect an account"
    assert visit.fits_a_phone()
    visit.shoot("connect-page")
    visit.shoot("connect-page-phone", phone=True)
    visit.click("#connect-gmail")
    visit.wait_for_heading("Gmail is connected")
    visit.shoot("connect-result")
    [integration] = hub.client().get("/api/integrations", headers=tenant.headers).json["integrations"]
    assert (integration["connector"], integration["external_account_id"], integration["end_user_id"]) == ("gmail", MAILBOX, "user-42")


def test_an_end_user_connects_an_api_key_connector_through_its_form(visit, hub):
    tenant = make_tenant(hub.app, "Acme")
    visit.open(f"/connect?connect_token={token_for(hub, tenant, allowed_connectors=['stripe'])}")
    visit.browser.find_element(By.ID, "form-stripe-name").send_keys("Payments")
    visit.browser.find_element(By.ID, "form-stripe-api_key").send_keys(STRIPE_KEY)
    visit.click("#submit-stripe")
    visit.wait_for_heading("Stripe is connected")
    [integration] = hub.client().get("/api/integrations", headers=tenant.headers).json["integrations"]
    assert (integration["name"], integration["external_account_id"]) == ("Payments", "acct_1Browser")


def test_a_key_the_provider_refuses_is_said_on_the_form(visit, hub):
    tenant = make_tenant(hub.app, "Acme")
    visit.open(f"/connect?connect_token={token_for(hub, tenant, allowed_connectors=['stripe'])}")
    visit.browser.find_element(By.ID, "form-stripe-api_key").send_keys("rk_test_unknown")
    visit.click("#submit-stripe")
    WebDriverWait(visit.browser, 20).until(expected_conditions.presence_of_element_located((By.ID, "form-stripe-error")))
    assert "did not accept" in visit.browser.find_element(By.ID, "form-stripe-error").text
    visit.check(400, refetch=False)


def test_a_refused_consent_is_told_in_plain_words_with_a_retry(visit, hub, gmail_provider):
    gmail_provider.deny_authorization = True
    tenant = make_tenant(hub.app, "Acme")
    visit.open(f"/connect?connect_token={token_for(hub, tenant)}")
    visit.click("#connect-gmail")
    visit.wait_for_heading("Gmail was not connected")
    assert "You declined to give access" in visit.browser.find_element(By.ID, "result").text
    visit.shoot("connect-refused")
    visit.click("#retry")
    visit.wait_for_heading("Connect an account")
    assert hub.client().get("/api/integrations", headers=tenant.headers).json["integrations"] == []


def test_an_expired_link_shows_a_clear_page(visit):
    visit.open("/connect?connect_token=expired-or-forged", status=401)
    assert visit.heading() == "This link has expired"
    visit.shoot("connect-expired")


def create_signed_integration(hub: Any, tenant: Any) -> dict[str, Any]:
    body = {"connector": "signed", "name": "Orders", "credentials": {"api_key": "key_123456", "signing_secret": "whsig_browser"}}
    response = hub.client().post("/api/integrations", json=body, headers=tenant.headers)
    assert response.status_code == 201, response.json
    return response.json


def deliver(hub: Any, integration: dict[str, Any], payload: dict[str, Any]) -> None:
    import json

    from tests.support.signed_connector import sign

    body = json.dumps(payload).encode()
    path = "/api/webhooks/signed/" + integration["webhook_url"].rsplit("/", 1)[1]
    response = hub.client().post(path, data=body, headers={"Content-Type": "application/json", "X-Signed-Signature": sign("whsig_browser", body)})
    assert response.status_code == 200, response.json


def run_worker(hub: Any) -> None:
    from hub.queue.queues import current_queues

    with hub.app.app_context():
        while current_queues().run_pending():
            pass


def test_an_operator_replays_a_dead_event_and_signs_out(visit, hub):
    tenant = make_tenant(hub.app, "Acme")
    integration = create_signed_integration(hub, tenant)
    deliver(hub, integration, {"id": "evt_ok", "type": "order.created", "data": {}})
    deliver(hub, integration, {"id": "evt_dead", "type": "order.paid", "data": {"fail_times": 1}})
    run_worker(hub)
    visit.open("/console")
    assert visit.heading() == "Sign in to the hub console"
    visit.shoot("console-sign-in")
    visit.sign_in(tenant.api_key)
    assert visit.browser.find_elements(By.CSS_SELECTOR, "svg.bars rect.bar.dead")
    assert visit.fits_a_phone()
    visit.shoot("console-overview")
    visit.browser.find_element(By.LINK_TEXT, "Dead letters").click()
    visit.wait_for_heading("Dead letters")
    visit.shoot("console-dead-letters")
    visit.browser.find_element(By.CSS_SELECTOR, "tbody a").click()
    visit.wait_for_heading("order.paid")
    assert visit.browser.find_element(By.ID, "status").text == "dead"
    assert '"specversion": "1.0"' in visit.browser.find_element(By.CSS_SELECTOR, "pre.json").text
    visit.shoot("console-event")
    visit.click("#replay")
    WebDriverWait(visit.browser, 20).until(expected_conditions.presence_of_element_located((By.ID, "notice")))
    visit.check()
    run_worker(hub)
    visit.browser.refresh()
    assert visit.browser.find_element(By.ID, "status").text == "processed"
    visit.browser.find_element(By.LINK_TEXT, "Events").click()
    visit.wait_for_heading("Events")
    assert visit.fits_a_phone()
    visit.shoot("console-events")
    visit.browser.find_element(By.LINK_TEXT, "Integrations").click()
    visit.wait_for_heading("Integrations")
    visit.shoot("console-integrations")
    visit.browser.find_element(By.LINK_TEXT, "Orders").click()
    visit.wait_for_heading("Orders")
    assert visit.browser.find_element(By.ID, "webhook-url").get_attribute("value") == integration["webhook_url"]
    copy = visit.browser.find_element(By.CSS_SELECTOR, "button.copy")
    assert copy.is_displayed()
    visit.browser.execute_cdp_cmd("Browser.grantPermissions", {"origin": hub.url, "permissions": ["clipboardReadWrite", "clipboardSanitizedWrite"]})
    copy.click()
    WebDriverWait(visit.browser, 10).until(lambda driver: copy.text == "Copied")
    copied = visit.browser.execute_async_script("navigator.clipboard.readText().then(arguments[0], () => arguments[0](null))")
    assert copied == integration["webhook_url"]
    assert visit.fits_a_phone()
    visit.shoot("console-integration")
    visit.shoot("console-integration-phone", phone=True)
    visit.click("button[type=submit].sign-out, .sign-out button")
    visit.wait_for_heading("Sign in to the hub console")
    visit.open("/console/events")
    assert visit.heading() == "Sign in to the hub console"


def test_an_operator_disables_syncs_and_deletes_an_integration(visit, hub):
    tenant = make_tenant(hub.app, "Acme")
    integration = create_signed_integration(hub, tenant)
    visit.sign_in(tenant.api_key)
    visit.open(f"/console/integrations/{integration['id']}")
    visit.click("#sync")
    WebDriverWait(visit.browser, 20).until(expected_conditions.text_to_be_present_in_element((By.ID, "notice"), "sync is queued"))
    visit.check()
    visit.click("#disable")
    WebDriverWait(visit.browser, 20).until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "disabled"))
    visit.click("#enable")
    WebDriverWait(visit.browser, 20).until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "active"))
    visit.click("#delete")
    visit.wait_for_heading("Delete Orders?")
    visit.shoot("console-delete")
    visit.click("#confirm-delete")
    visit.wait_for_heading("Integrations")
    assert hub.client().get(f"/api/integrations/{integration['id']}", headers=tenant.headers).status_code == 404


def test_no_console_page_opens_without_a_session(visit, hub):
    tenant = make_tenant(hub.app, "Acme")
    integration = create_signed_integration(hub, tenant)
    for path in ("/console", "/console/integrations", f"/console/integrations/{integration['id']}", "/console/events", "/console/dead-letters"):
        visit.open(path)
        assert visit.heading() == "Sign in to the hub console", path


def test_a_form_without_its_csrf_token_is_refused(visit, hub):
    tenant = make_tenant(hub.app, "Acme")
    integration = create_signed_integration(hub, tenant)
    visit.sign_in(tenant.api_key)
    visit.open(f"/console/integrations/{integration['id']}")
    visit.browser.execute_script("document.querySelector('#disable').form.querySelector('[name=csrf_token]').remove()")
    visit.click("#disable")
    WebDriverWait(visit.browser, 20).until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Forbidden"))
    visit.check(403, refetch=False)
    assert hub.client().get(f"/api/integrations/{integration['id']}", headers=tenant.headers).json["status"] == "active"


def test_another_tenants_ids_are_404_pages(visit, hub):
    owner = make_tenant(hub.app, "Acme")
    integration = create_signed_integration(hub, owner)
    deliver(hub, integration, {"id": "evt_1", "type": "order.created", "data": {}})
    [event] = hub.client().get("/api/events", headers=owner.headers).json["events"]
    visit.sign_in(make_tenant(hub.app, "Globex").api_key)
    for path in (f"/console/integrations/{integration['id']}", f"/console/events/{event['id']}"):
        visit.open(path, status=404)
        assert visit.heading() == "Not found", path


def test_the_keyboard_reaches_the_skip_link_first_and_every_control_has_a_label(visit, hub):
    tenant = make_tenant(hub.app, "Acme")
    visit.open("/console/sign-in")
    visit.browser.find_element(By.TAG_NAME, "body").send_keys(Keys.TAB)
    assert visit.browser.switch_to.active_element.get_attribute("class") == "skip-link"
    visit.sign_in(tenant.api_key)
    visit.open("/console/events")
    for control in visit.browser.find_elements(By.CSS_SELECTOR, "main input:not([type=hidden]), main select"):
        assert visit.browser.find_elements(By.CSS_SELECTOR, f"label[for='{control.get_attribute('id')}']"), control.get_attribute("name")


@pytest.fixture
def without_javascript(browser: Any) -> Iterator[Any]:
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        yield browser
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def test_everything_works_with_javascript_off(without_javascript, visit, hub):
    tenant = make_tenant(hub.app, "Acme")
    visit.open(f"/connect?connect_token={token_for(hub, tenant, allowed_connectors=['stripe'])}")
    visit.browser.find_element(By.ID, "form-stripe-api_key").send_keys(STRIPE_KEY)
    visit.click("#submit-stripe")
    visit.wait_for_heading("Stripe is connected")
    [integration] = hub.client().get("/api/integrations", headers=tenant.headers).json["integrations"]
    visit.sign_in(tenant.api_key)
    visit.open(f"/console/integrations/{integration['id']}")
    assert not visit.browser.find_element(By.CSS_SELECTOR, "button.copy").is_displayed()
    assert visit.browser.find_element(By.ID, "webhook-url").get_attribute("readonly") is not None
    visit.click("#disable")
    WebDriverWait(visit.browser, 20).until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "disabled"))
    visit.click("#delete")
    visit.wait_for_heading("Delete Payments?".replace("Payments", integration["name"]))
    visit.click("#confirm-delete")
    visit.wait_for_heading("Integrations")
    assert hub.client().get(f"/api/integrations/{integration['id']}", headers=tenant.headers).status_code == 404


def host_app_page(holder: dict[str, str]) -> Flask:
    """A host application's page that frames the hub's Connect page."""
    host = Flask("host-app")

    @host.get("/settings")
    def settings() -> Any:
        return f'<!doctype html><title>Host app</title><link rel="icon" href="data:,"><h1>Host app</h1><iframe id="connect" src="{holder["src"]}" width="800" height="600"></iframe>'

    return host


@pytest.fixture
def host_app() -> Iterator[tuple[str, dict[str, str]]]:
    holder: dict[str, str] = {}
    with serve_wsgi(host_app_page(holder), host="127.0.0.2") as url:
        yield url, holder


def test_the_host_app_frames_the_connect_page_and_the_oauth_start_leaves_the_frame(browser, shots, host_app, live_hub, gmail_provider):
    host_url, holder = host_app
    with serve_wsgi(fake_gmail_profile(gmail_provider)) as gmail_api:
        hub = live_hub(
            HUB_CONNECT_FRAME_ANCESTORS=host_url,
            OAUTH_GMAIL_CLIENT_ID=gmail_provider.client_id, OAUTH_GMAIL_CLIENT_SECRET=gmail_provider.client_secret,
            OAUTH_GMAIL_AUTHORIZE_URL=gmail_provider.authorize_url, OAUTH_GMAIL_TOKEN_URL=gmail_provider.token_url,
            GMAIL_API_BASE_URL=gmail_api,
        )
        tenant = make_tenant(hub.app, "Acme")
        holder["src"] = f"{hub.url}/connect?connect_token={token_for(hub, tenant, allowed_connectors=['gmail'])}"
        visit = Visit(browser, hub, shots)
        browser.get(host_url + "/settings")
        browser.switch_to.frame("connect")
        assert visit.heading() == "Connect an account"
        visit.click("#connect-gmail")
        browser.switch_to.default_content()
        WebDriverWait(browser, 20).until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Gmail is connected"))
        assert browser.current_url.startswith(hub.url + "/connect/result?")
        assert console_errors(browser) == []


def test_by_default_no_other_origin_may_frame_the_connect_page(browser, host_app, live_hub):
    host_url, holder = host_app
    hub = live_hub()
    tenant = make_tenant(hub.app, "Acme")
    holder["src"] = f"{hub.url}/connect?connect_token={token_for(hub, tenant)}"
    browser.get(host_url + "/settings")
    browser.switch_to.frame("connect")
    assert browser.find_elements(By.CSS_SELECTOR, "main#main") == []
    browser.switch_to.default_content()
    assert any("frame-ancestors" in error or "Refused to frame" in error for error in console_errors(browser))
