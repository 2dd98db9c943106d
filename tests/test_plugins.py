"""Plugin loading, per-connector dispatch and `GET /api/connectors`."""

from __future__ import annotations

import logging
import sys

import pytest

from hub.cli import main
from hub.plugins import PluginHost
from hub.types import WebhookRequest
from tests.plugin_fixtures import install_plugin

ECHO_CONNECTOR = """
from hub import hookimpl
from hub.types import ConnectorInfo, NormalizedEvent

CALLS = []

@hookimpl
def connector_info():
    return ConnectorInfo(display_name="{name}", auth_kind="api_key",
                         credential_fields={{"token": "a token"}}, required_credentials=("token",))

@hookimpl
def normalize(request):
    CALLS.append("{name}")
    return [NormalizedEvent(id="{name}-1", type="{name}.event", data={{}})]
"""

MISSPELLED_HOOK = """
from hub import hookimpl
from hub.types import ConnectorInfo

@hookimpl
def connector_info():
    return ConnectorInfo(display_name="Typo", auth_kind="none")

@hookimpl
def normalise(request):
    return []
"""


@pytest.fixture(autouse=True)
def _forget_test_modules():
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if name.startswith(("echo_", "typo_", "broken_", "processor_")):
            del sys.modules[name]


def _host(**config) -> PluginHost:
    return PluginHost(config, environ={}).load()


def test_installed_connectors_are_found_by_entry_point():
    host = _host()
    assert {"gmail", "slack", "stripe"} <= set(host.connectors)
    assert host.connector("stripe").distribution == "hub-stripe"


def test_calls_are_dispatched_to_the_addressed_connector_only(tmp_path, monkeypatch):
    install_plugin(tmp_path / "a", monkeypatch, distribution="echo-alpha", module="echo_alpha",
                   source=ECHO_CONNECTOR.format(name="alpha"), connectors={"alpha": "echo_alpha"})
    install_plugin(tmp_path / "b", monkeypatch, distribution="echo-beta", module="echo_beta",
                   source=ECHO_CONNECTOR.format(name="beta"), connectors={"beta": "echo_beta"})
    host = _host()
    request = WebhookRequest(headers={}, body=b"{}")

    events = host.normalize("beta", request=request)

    assert [e.id for e in events] == ["beta-1"]
    assert sys.modules["echo_beta"].CALLS == ["beta"]
    assert sys.modules["echo_alpha"].CALLS == []


def test_a_misspelled_hook_fails_loudly_and_the_others_still_load(tmp_path, monkeypatch, caplog):
    install_plugin(tmp_path / "t", monkeypatch, distribution="typo-connector", module="typo_connector",
                   source=MISSPELLED_HOOK, connectors={"typo": "typo_connector"})
    with caplog.at_level(logging.ERROR, logger="hub.plugins"):
        host = _host()
    assert "typo" not in host.connectors
    [broken] = [b for b in host.broken if b.name == "typo"]
    assert "normalise" in broken.error
    assert any("typo" in record.getMessage() and "normalise" in record.getMessage() for record in caplog.records)
    assert {"gmail", "slack", "stripe"} <= set(host.connectors)


def test_a_plugin_that_fails_to_import_is_reported_by_name(tmp_path, monkeypatch):
    install_plugin(tmp_path / "x", monkeypatch, distribution="broken-connector", module="broken_connector",
                   source="raise RuntimeError('cannot start')\n", connectors={"broken": "broken_connector"})
    host = _host()
    assert "broken" not in host.connectors
    assert any(b.name == "broken" and "cannot start" in b.error for b in host.broken)
    assert "stripe" in host.connectors


def test_a_connector_without_connector_info_is_refused(tmp_path, monkeypatch):
    source = "from hub import hookimpl\n\n@hookimpl\ndef normalize(request):\n    return []\n"
    install_plugin(tmp_path / "n", monkeypatch, distribution="broken-noinfo", module="broken_noinfo",
                   source=source, connectors={"noinfo": "broken_noinfo"})
    host = _host()
    assert "noinfo" not in host.connectors
    assert any(b.name == "noinfo" and "connector_info" in b.error for b in host.broken)


def test_a_hook_with_an_unknown_argument_is_refused(tmp_path, monkeypatch):
    source = ECHO_CONNECTOR.format(name="gamma").replace("def normalize(request):", "def normalize(request, tenant_db):")
    install_plugin(tmp_path / "g", monkeypatch, distribution="echo-gamma", module="echo_gamma",
                   source=source, connectors={"gamma": "echo_gamma"})
    host = _host()
    assert "gamma" not in host.connectors
    assert any(b.name == "gamma" and "tenant_db" in b.error for b in host.broken)


def test_disabled_connectors_are_not_loaded():
    host = _host(HUB_DISABLED_CONNECTORS="slack, gmail")
    assert "slack" not in host.connectors and "gmail" not in host.connectors
    assert "stripe" in host.connectors


def test_hub_plugins_setting_loads_processor_modules(tmp_path, monkeypatch):
    (tmp_path / "processor_mod.py").write_text(
        "from hub import hookimpl\nSEEN = []\n\n@hookimpl\ndef process_event(event):\n    SEEN.append(event['id'])\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    host = _host(HUB_PLUGINS="processor_mod")
    host.process_event({"id": "evt_1"})
    assert sys.modules["processor_mod"].SEEN == ["evt_1"]


def test_processor_plugins_come_from_their_entry_point_group(tmp_path, monkeypatch):
    install_plugin(tmp_path / "p", monkeypatch, distribution="processor-pkg", module="processor_pkg",
                   source="from hub import hookimpl\nSEEN = []\n\n@hookimpl\ndef process_event(event):\n    SEEN.append(event['id'])\n",
                   plugins={"audit": "processor_pkg"})
    host = _host()
    host.process_event({"id": "evt_2"})
    assert sys.modules["processor_pkg"].SEEN == ["evt_2"]
    assert "audit" not in host.connectors


def test_api_lists_installed_connectors_and_what_they_support(client):
    response = client.get("/api/connectors")
    assert response.status_code == 200
    connectors = {c["id"]: c for c in response.json["connectors"]}
    assert {"gmail", "slack", "stripe"} <= set(connectors)
    assert connectors["stripe"]["display_name"] == "Stripe"
    assert connectors["stripe"]["supports"]["api_key"] is True
    assert "api_key" in connectors["stripe"]["credential_fields"]


def test_cli_lists_connectors_and_broken_plugins(make_app, tmp_path, monkeypatch):
    install_plugin(tmp_path / "t", monkeypatch, distribution="typo-connector", module="typo_connector",
                   source=MISSPELLED_HOOK, connectors={"typo": "typo_connector"})
    app = make_app()
    result = app.test_cli_runner().invoke(main, args=["connectors", "list"])
    assert result.exit_code == 0, result.output
    assert "stripe" in result.output and "Stripe" in result.output
    assert "BROKEN typo" in result.output
    assert "/api/webhooks/slack/whk_" in result.output
