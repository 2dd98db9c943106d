"""Who may read `/metrics`: a bearer token, or a separate listener the operator keeps private."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time

import pytest
import requests

from hub.app import create_app
from hub.errors import ConfigurationError
from hub.storage.key_providers import generate_local_master_key
from hub.testing import clean_environ

TOKEN = "metrics-token-for-tests-0123456789abcdef"
GUARD_SECONDS = 60  # only keeps a broken run from hanging; nothing is timed


@pytest.fixture
def guarded_app(make_app):
    return make_app(HUB_METRICS_TOKEN=TOKEN)


@pytest.mark.parametrize(
    "authorization",
    [None, "", "Bearer", "Bearer wrong-token", f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", f"Basic {TOKEN}", TOKEN],
)
def test_a_scrape_without_the_metrics_token_is_401(guarded_app, authorization, caplog):
    headers = {} if authorization is None else {"Authorization": authorization}
    response = guarded_app.test_client().get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "hub_" not in response.get_data(as_text=True)
    assert TOKEN not in response.get_data(as_text=True) and TOKEN not in caplog.text


def test_a_tenant_api_key_does_not_open_the_metrics(guarded_app, tenant):
    assert guarded_app.test_client().get("/metrics", headers=tenant.headers).status_code == 401


def test_a_scrape_with_the_metrics_token_is_answered(guarded_app):
    response = guarded_app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert "hub_ready" in response.get_data(as_text=True)


def _production_environ(**extra: str) -> dict[str, str]:
    return {
        "HUB_ENV": "production",
        "SECRET_KEY": secrets.token_urlsafe(48),
        "KMS_KEY": generate_local_master_key(),
        "DATABASE_URL": "postgresql://127.0.0.1:5432/test",
        "APP_BASE_URL": "https://hub.example.com",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        **extra,
    }


def test_production_refuses_public_metrics(tmp_path):
    with pytest.raises(ConfigurationError, match="HUB_METRICS_TOKEN"):
        create_app({"HUB_INSTANCE_PATH": str(tmp_path)}, environ=_production_environ())


@pytest.mark.parametrize("setting", [{"HUB_METRICS_TOKEN": TOKEN}, {"HUB_METRICS_LISTEN": "127.0.0.1:9464"}])
def test_production_starts_with_a_metrics_token_or_a_separate_listener(tmp_path, setting):
    app = create_app({"HUB_INSTANCE_PATH": str(tmp_path)}, environ=_production_environ(**setting))
    assert app.config["HUB_ENV"] == "production"


def test_the_api_does_not_serve_metrics_that_have_their_own_listener(make_app):
    app = make_app(HUB_METRICS_LISTEN="127.0.0.1:9464")
    client = app.test_client()
    for headers in ({}, {"Hub-Metrics-Listener": "1"}, {"X-Forwarded-Port": "9464"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert response.mimetype == "application/problem+json"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_hub_metrics_serve_answers_metrics_and_nothing_else_on_its_listener(app):
    port = _free_port()
    env = clean_environ() | {
        name: str(app.config[name]) for name in ("DATABASE_URL", "SECRET_KEY", "ENCRYPTION_KEY", "HUB_INSTANCE_PATH", "HUB_REDIS_PREFIX")
    }
    env |= {"HUB_METRICS_LISTEN": f"127.0.0.1:{port}", "HUB_METRICS_TOKEN": TOKEN, "PYTHONPATH": os.pathsep.join(sys.path)}
    server = subprocess.Popen(
        [sys.executable, "-m", "hub", "metrics", "serve"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + GUARD_SECONDS
        while True:
            try:
                requests.get(base + "/metrics", timeout=5)
                break
            except requests.ConnectionError:
                assert server.poll() is None, server.stderr.read() if server.stderr else "the listener exited"
                assert time.monotonic() < deadline, "the listener never came up"
                time.sleep(0.1)
        scraped = requests.get(base + "/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
        refused = requests.get(base + "/metrics", timeout=10)
        elsewhere = requests.get(base + "/api/connectors", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    finally:
        server.terminate()
        server.wait(GUARD_SECONDS)
    assert scraped.status_code == 200 and "hub_ready 1.0" in scraped.text
    assert refused.status_code == 401
    assert elsewhere.status_code == 404 and elsewhere.headers["Content-Type"] == "application/problem+json"


def test_hub_metrics_serve_refuses_a_malformed_listener(app):
    env = clean_environ() | {name: str(app.config[name]) for name in ("DATABASE_URL", "SECRET_KEY", "ENCRYPTION_KEY", "HUB_INSTANCE_PATH")}
    env["HUB_METRICS_LISTEN"] = "no-port-here"
    result = subprocess.run([sys.executable, "-m", "hub", "metrics", "serve"], env=env, capture_output=True, text=True, timeout=GUARD_SECONDS)
    assert result.returncode != 0
    assert "HUB_METRICS_LISTEN must be host:port" in result.stderr and "Traceback" not in result.stderr
