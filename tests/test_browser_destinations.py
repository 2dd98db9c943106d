"""The console's destinations in a real Chromium: add one pointing at a real receiver, see the secret once, watch deliveries.

The receiver is a small threaded HTTP server on 127.0.0.1 that checks each
delivery with the official `standardwebhooks` package, using the secret the
page showed, and answers 401 to anything that does not verify (so a
`succeeded` delivery on the page is one the receiver verified).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.ui import WebDriverWait
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from hub.testing import make_tenant
from hub.testkit.http_server import serve_wsgi
from tests.pipeline_fixtures import APP_SECRET, PROCESSOR_MODULE
from tests.test_browser_flows import Visit, create_signed_integration, deliver, run_worker


class Receiver:
    """The host application's endpoint: verifies every delivery with the secret it was given; can be told to fail."""

    def __init__(self) -> None:
        self.secret: str | None = None
        self.failing = False
        self.verified: list[dict[str, Any]] = []
        self.lock = threading.Lock()

    def app(self) -> Flask:
        receiver = Flask("receiver")

        @receiver.post("/hooks")
        def hooks() -> Any:
            with self.lock:
                if self.failing:
                    return "down", 500
                try:
                    payload = Webhook(self.secret or "whsec_" + "A" * 44).verify(request.get_data(), dict(request.headers))
                except WebhookVerificationError:
                    return "bad signature", 401
                self.verified.append(payload)
            return "", 204

        return receiver


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    running = Receiver()
    with serve_wsgi(running.app()) as url:
        yield running, url + "/hooks"


@pytest.fixture
def hub(live_hub: Any, signed_distribution: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.syspath_prepend(str(signed_distribution))
    record_dir = tmp_path / "record"
    record_dir.mkdir()
    monkeypatch.setenv("HUBTEST_RECORD_DIR", str(record_dir))
    return live_hub(
        HUB_PLUGINS=PROCESSOR_MODULE, SIGNED_APP_SECRET=APP_SECRET, HUB_JOB_MAX_ATTEMPTS=1, HUB_JOB_BACKOFF_SECONDS=0,
        HUB_DESTINATIONS_ALLOW_PRIVATE=True, HUB_DELIVERY_SCHEDULE="0", HUB_DELIVERY_TIMEOUT_SECONDS=5,
    )


@pytest.fixture
def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("HUB_SCREENSHOTS_DIR") or tmp_path / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture
def visit(browser: Any, hub: Any, shots: Path) -> Visit:
    return Visit(browser, hub, shots)


def statuses(visit: Visit) -> list[str]:
    return [cell.text for cell in visit.browser.find_elements(By.CSS_SELECTOR, "tbody span.status")]


def test_an_operator_adds_a_destination_sees_it_delivered_retries_rotates_and_signs_out(visit, hub, receiver):
    receiving, url = receiver
    tenant = make_tenant(hub.app, "Acme")
    integration = create_signed_integration(hub, tenant)
    visit.sign_in(tenant.api_key)
    visit.browser.find_element(By.LINK_TEXT, "Destinations").click()
    visit.wait_for_heading("Destinations")
    visit.click("#new-destination")
    visit.wait_for_heading("Add a destination")
    visit.browser.find_element(By.ID, "url").send_keys(url)
    visit.browser.find_element(By.ID, "description").send_keys("Orders app")
    visit.browser.find_element(By.ID, "event_types").send_keys("order.*")
    assert visit.fits_a_phone()
    visit.click("#create-destination")
    WebDriverWait(visit.browser, 20).until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Destination added"))
    visit.check(refetch=False)
    secret = visit.browser.find_element(By.ID, "secret").get_attribute("value")
    assert secret.startswith("whsec_")
    assert visit.fits_a_phone()
    receiving.secret = secret
    visit.browser.execute_script("document.getElementById('secret').value = arguments[0]", "whsec_" + "EXAMPLEsecretFORtheDOCS0000000000000000000=")
    visit.shoot("console-destination-added")
    visit.click("#done")
    visit.wait_for_heading(url)
    assert secret not in visit.browser.page_source

    deliver(hub, integration, {"id": "evt_1", "type": "order.created", "data": {}})
    run_worker(hub)
    assert [payload["type"] for payload in receiving.verified] == ["order.created"]
    visit.click("#deliveries")
    visit.wait_for_heading("Deliveries")
    assert statuses(visit) == ["succeeded"]
    assert secret not in visit.browser.page_source

    receiving.failing = True
    deliver(hub, integration, {"id": "evt_2", "type": "order.paid", "data": {}})
    run_worker(hub)
    visit.browser.refresh()
    assert statuses(visit) == ["failed", "succeeded"]
    visit.shoot("console-deliveries")
    visit.browser.find_element(By.CSS_SELECTOR, "#filter-status option[value=failed]").click()
    visit.click(".filters button")
    WebDriverWait(visit.browser, 20).until(lambda driver: "status=failed" in driver.current_url)
    visit.check()
    assert statuses(visit) == ["failed"]
    assert "500" in visit.browser.find_element(By.CSS_SELECTOR, "tbody tr").text
    assert visit.fits_a_phone()
    receiving.failing = False
    visit.click("tbody button.retry")
    WebDriverWait(visit.browser, 20).until(expected_conditions.presence_of_element_located((By.ID, "notice")))
    visit.check()
    run_worker(hub)
    visit.browser.refresh()
    assert statuses(visit) == ["succeeded", "succeeded"]
    assert [payload["type"] for payload in receiving.verified] == ["order.created", "order.paid"]

    visit.browser.find_element(By.LINK_TEXT, "Back to the destination").click()
    visit.wait_for_heading(url)
    visit.click("#rotate")
    WebDriverWait(visit.browser, 20).until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "New signing secret"))
    visit.check(refetch=False)
    rotated = visit.browser.find_element(By.ID, "secret").get_attribute("value")
    assert rotated.startswith("whsec_") and rotated != secret
    receiving.secret = rotated
    deliver(hub, integration, {"id": "evt_3", "type": "order.shipped", "data": {}})
    run_worker(hub)
    assert [payload["type"] for payload in receiving.verified][-1] == "order.shipped"

    visit.browser.find_element(By.LINK_TEXT, "Destinations").click()
    visit.wait_for_heading("Destinations")
    assert "Orders app" in visit.browser.page_source and "event types: order.*" in visit.browser.page_source
    assert visit.fits_a_phone()
    visit.shoot("console-destinations")
    visit.browser.find_element(By.LINK_TEXT, url).click()
    visit.wait_for_heading(url)
    visit.click("#disable")
    WebDriverWait(visit.browser, 20).until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "disabled"))
    visit.check()
    visit.click("#enable")
    WebDriverWait(visit.browser, 20).until(expected_conditions.text_to_be_present_in_element((By.ID, "status"), "enabled"))
    visit.click("#delete")
    visit.wait_for_heading("Delete this destination?")
    visit.click("#confirm-delete")
    visit.wait_for_heading("Destinations")
    assert "No destinations" in visit.browser.page_source
    visit.click(".sign-out button")
    visit.wait_for_heading("Sign in to the hub console")
    visit.open("/console/destinations")
    assert visit.heading() == "Sign in to the hub console"


@pytest.fixture
def without_javascript(browser: Any) -> Iterator[Any]:
    browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": True})
    try:
        yield browser
    finally:
        browser.execute_cdp_cmd("Emulation.setScriptExecutionDisabled", {"value": False})


def test_with_javascript_off_a_bad_form_is_told_and_a_destination_is_added_and_deleted(without_javascript, visit, hub, receiver):
    _receiving, url = receiver
    tenant = make_tenant(hub.app, "Acme")
    visit.sign_in(tenant.api_key)
    visit.open("/console/destinations/new")
    for control in visit.browser.find_elements(By.CSS_SELECTOR, "main input:not([type=hidden]), main select"):
        assert visit.browser.find_elements(By.CSS_SELECTOR, f"label[for='{control.get_attribute('id')}']"), control.get_attribute("name")
    visit.browser.find_element(By.ID, "url").send_keys(url)
    visit.browser.find_element(By.ID, "connectors").send_keys("Not A Connector")
    visit.click("#create-destination")
    WebDriverWait(visit.browser, 20).until(expected_conditions.presence_of_element_located((By.ID, "form-errors")))
    visit.check(400, refetch=False)
    assert "a connector id is" in visit.browser.find_element(By.ID, "form-errors").text
    assert visit.browser.find_element(By.ID, "url").get_attribute("value") == url
    assert hub.client().get("/api/destinations", headers=tenant.headers).json["destinations"] == []
    visit.browser.find_element(By.ID, "connectors").clear()
    visit.click("#create-destination")
    WebDriverWait(visit.browser, 20).until(expected_conditions.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Destination added"))
    assert not visit.browser.find_element(By.CSS_SELECTOR, "button.copy").is_displayed()
    visit.click("#done")
    visit.wait_for_heading(url)
    visit.click("#delete")
    visit.wait_for_heading("Delete this destination?")
    visit.click("#confirm-delete")
    visit.wait_for_heading("Destinations")
    assert hub.client().get("/api/destinations", headers=tenant.headers).json["destinations"] == []


def test_another_tenants_destination_is_a_404_page(visit, hub):
    tenant = make_tenant(hub.app, "Acme")
    other = make_tenant(hub.app, "Globex")
    theirs = hub.client().post("/api/destinations", json={"url": "http://127.0.0.1:9/hooks"}, headers=other.headers).json
    visit.sign_in(tenant.api_key)
    for path in ("", "/deliveries", "/delete"):
        visit.open(f"/console/destinations/{theirs['id']}{path}", 404)
