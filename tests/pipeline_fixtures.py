"""Fixtures for the webhook pipeline: the `signed` test connector, a recording processor, queues.

The `signed` connector is installed the way a real one is (a distribution
with an entry point in `hub.connectors`, on sys.path for this test and on
PYTHONPATH for the worker processes a test starts). The processor is named
in `HUB_PLUGINS`. `pipeline` runs once on the embedded queues (SqliteHuey)
and once on Redis, on each test database.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from hub.testing import AppFactory, TenantCredentials, make_tenant
from tests.support.signed_connector import sign

REPO_ROOT = Path(__file__).resolve().parent.parent
APP_SECRET = "app-signing-secret-for-tests"
PROCESSOR_MODULE = "tests.support.recording_processor"


@pytest.fixture(scope="session")
def signed_distribution(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("signed-dist")
    dist_info = root / "hub_signed_test-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text("Metadata-Version: 2.1\nName: hub-signed-test\nVersion: 1.0\n")
    (dist_info / "entry_points.txt").write_text("[hub.connectors]\nsigned = tests.support.signed_connector\n")
    return root


@dataclass
class Pipeline:
    app: Any
    tenant: TenantCredentials
    record_dir: Path
    environ: dict[str, str]
    config: dict[str, Any]
    client: Any = field(init=False)

    def __post_init__(self) -> None:
        self.client = self.app.test_client()

    def create_integration(
        self, signing_secret: str = "whsig_integration_secret", tenant: TenantCredentials | None = None, api_key: str = "key_123456", **extra: Any
    ) -> dict[str, Any]:
        body = {"connector": "signed", "name": "Test account", "credentials": {"api_key": api_key, "signing_secret": signing_secret}}
        body.update(extra)
        response = self.client.post("/api/integrations", json=body, headers=(tenant or self.tenant).headers)
        assert response.status_code == 201, response.json
        created = response.json
        created["signing_secret"] = signing_secret
        created["path"] = "/api/webhooks/signed/" + created["webhook_url"].rsplit("/", 1)[1]
        return created

    def deliver(self, path: str, payload: Any, *, secret: str, timestamp: int | None = None, headers: dict[str, str] | None = None, client: Any = None) -> Any:
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        sent = {"Content-Type": "application/json", "X-Signed-Signature": sign(secret, body, timestamp)}
        sent.update(headers or {})
        return (client or self.client).post(path, data=body, headers=sent)

    def app_path(self) -> str:
        from hub.tenancy.connector_apps import app_webhook_secret

        with self.app.app_context():
            return "/api/webhooks/signed/" + app_webhook_secret("signed")

    def run_queues(self) -> int:
        from hub.queue.queues import current_queues

        with self.app.app_context():
            return current_queues().run_pending()

    def relay(self) -> int:
        from hub.worker.periodic import relay

        with self.app.app_context():
            return relay()

    def processed(self) -> list[str]:
        path = self.record_dir / "processed.log"
        return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []

    def automated(self) -> list[str]:
        path = self.record_dir / "automated.log"
        return [line.split()[0] for line in path.read_text().splitlines()] if path.exists() else []

    def events(self, **params: str) -> list[dict[str, Any]]:
        response = self.client.get("/api/events", query_string=params, headers=self.tenant.headers)
        assert response.status_code == 200, response.json
        return response.json["events"]

    def rows(self, model: Any) -> list[Any]:
        import sqlalchemy as sa

        from hub.storage.models import db

        with self.app.app_context():
            rows = list(db.session.execute(sa.select(model)).scalars())
            db.session.expunge_all()
            return rows

    def worker_env(self) -> dict[str, str]:
        """The environment a `hub worker` subprocess needs to be this app."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HUB_", "REDIS_URL", "DATABASE_URL"))}
        env.update(self.environ)
        for name in ("DATABASE_URL", "REDIS_URL", "SECRET_KEY", "KMS_KEY", "ENCRYPTION_KEY", "HUB_INSTANCE_PATH", "HUB_REDIS_PREFIX",
                     "HUB_PLUGINS", "SIGNED_APP_SECRET", "HUB_JOB_BACKOFF_SECONDS", "HUB_JOB_LEASE_SECONDS", "APP_BASE_URL"):
            value = self.config.get(name)
            if value is not None:
                env[name] = str(value)
        return env


QUEUE_BACKENDS = ["embedded", "redis"]


def _build_pipeline(request: pytest.FixtureRequest, backend: str, make_app: AppFactory, signed_distribution: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    monkeypatch.syspath_prepend(str(signed_distribution))
    record_dir = tmp_path / "record"
    record_dir.mkdir()
    monkeypatch.setenv("HUBTEST_RECORD_DIR", str(record_dir))
    config: dict[str, Any] = {
        "HUB_PLUGINS": PROCESSOR_MODULE,
        "SIGNED_APP_SECRET": APP_SECRET,
        "HUB_JOB_BACKOFF_SECONDS": 0,
        "HUB_JOB_MAX_ATTEMPTS": 3,
    }
    if backend == "redis":
        config["REDIS_URL"] = request.getfixturevalue("redis_url")
    app = make_app(**config)
    assert "signed" in app.extensions["hub"].plugins.connectors, app.extensions["hub"].plugins.broken
    environ = {"PYTHONPATH": os.pathsep.join([str(signed_distribution), str(REPO_ROOT)]), "HUBTEST_RECORD_DIR": str(record_dir)}
    return Pipeline(app=app, tenant=make_tenant(app, "Acme"), record_dir=record_dir, environ=environ, config=dict(app.config))


@dataclass
class FakeSignedAccounts:
    """The `signed` provider's `/account`: which account an API key belongs to (401 for keys it does not know)."""

    accounts: dict[str, str] = field(default_factory=dict)

    def app(self) -> Any:
        from flask import Flask, jsonify, request

        api = Flask("fake-signed-accounts")

        @api.get("/account")
        def account() -> Any:
            key = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
            if key not in self.accounts:
                return jsonify({"error": "unknown key"}), 401
            return jsonify({"account": self.accounts[key]})

        return api


@pytest.fixture
def signed_accounts(pipeline: Pipeline) -> Any:
    """Point the `signed` connector at a fake provider that names the account of each API key."""
    from hub.testkit.http_server import serve_wsgi

    fake = FakeSignedAccounts()
    with serve_wsgi(fake.app()) as url:
        plugins = pipeline.app.extensions["hub"].plugins
        plugins.config = {**plugins.config, "SIGNED_API_BASE_URL": url}
        yield fake


@pytest.fixture(params=QUEUE_BACKENDS)
def pipeline(request: pytest.FixtureRequest, make_app: AppFactory, signed_distribution: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """The pipeline on the embedded queues and on Redis (times each test database)."""
    return _build_pipeline(request, request.param, make_app, signed_distribution, tmp_path, monkeypatch)


@pytest.fixture
def redis_pipeline(request: pytest.FixtureRequest, make_app: AppFactory, signed_distribution: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Pipeline:
    """The pipeline on Redis queues only, for what only Redis can do (be down)."""
    return _build_pipeline(request, "redis", make_app, signed_distribution, tmp_path, monkeypatch)
