"""gunicorn serving the hub as production runs it: its own logs hold no secret, it stops cleanly,
and it refuses to serve on keys that cannot open the stored data.

Each test starts a real gunicorn on 127.0.0.1 (a port the kernel picks) on the
test database, sends real requests and reads what gunicorn wrote.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from hub.storage.crypto import generate_key_entry
from hub.testing import TEST_ENCRYPTION_KEY, base_config, clean_environ
from tests.stripe_fixtures import accepting_any_stripe_key


@pytest.fixture
def make_app(make_app, stripe_api):
    """Stripe integrations created here are checked with a fake Stripe that knows every key."""
    return accepting_any_stripe_key(make_app, stripe_api)


GUNICORN = str(Path(sys.executable).parent / "gunicorn")
CONFIG = ["-c", "python:hub.gunicorn_config"]
# Every atom that can carry a secret: the request line, path, query, referer, headers, environ.
NOISY_ACCESS_FORMAT = (
    '%(h)s "%(r)s" %(s)s U=%(U)s q=%(q)s f=%(f)s a=%(a)s auth=%({authorization}i)s cookie=%({cookie}i)s '
    'sig=%({stripe-signature}i)s raw=%({raw_uri}e)s qs=%({query_string}e)s'
)


def gunicorn_environ(tmp_path: Path, database_url: str, encryption_key: str = TEST_ENCRYPTION_KEY) -> dict[str, str]:
    settings = base_config(database_url, str(tmp_path / "instance"))
    return clean_environ() | {
        "DATABASE_URL": database_url,
        "SECRET_KEY": settings["SECRET_KEY"],
        "KMS_KEY": settings["KMS_KEY"],
        "ENCRYPTION_KEY": encryption_key,
        "APP_BASE_URL": "http://hub.test",
        "FRONTEND_URL": "http://frontend.test",
        "HUB_INSTANCE_PATH": str(tmp_path / "instance"),
    }


def gunicorn_command(*options: str) -> list[str]:
    return [GUNICORN, *options, "-w", "1", "-b", "127.0.0.1:0", "--no-control-socket", "hub:create_app()"]


@contextmanager
def gunicorn(tmp_path: Path, database_url: str, *options: str) -> Iterator[dict[str, Any]]:
    """A running gunicorn; yields {"url": ...}, and after the block (SIGTERM, exit) its output as "log"."""
    env = gunicorn_environ(tmp_path, database_url)
    log_path = tmp_path / "gunicorn.log"
    command = gunicorn_command(*options)
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log_file, stderr=subprocess.STDOUT)
    server: dict[str, Any] = {}
    try:
        server["url"] = _wait_until_serving(process, log_path)
        yield server
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        server["log"] = log_path.read_text()
        server["returncode"] = process.returncode


def migrated_sqlite(tmp_path: Path) -> str:
    """A database of this test's own, at the newest revision (workers check their keys against it at boot)."""
    from hub.app import create_app
    from hub.storage.database import upgrade_database
    from hub.storage.models import db

    url = f"sqlite:///{tmp_path / 'hub.sqlite3'}"
    app = create_app(base_config(url, str(tmp_path / "instance")), environ=clean_environ())
    with app.app_context():
        upgrade_database()
        db.engine.dispose()
    return url


def _wait_until_serving(process: subprocess.Popen, log_path: Path) -> str:
    for _ in range(600):  # bounded: at most about a minute
        if process.poll() is not None:
            pytest.fail(f"gunicorn exited with {process.returncode}: {log_path.read_text()[-2000:]}")
        found = re.search(r"Listening at: (http://127\.0\.0\.1:\d+)", log_path.read_text())
        if found:
            try:  # the worker may still be booting: the request waits in the listen queue
                if requests.get(found.group(1) + "/healthz", timeout=30).status_code == 200:
                    return found.group(1)
            except requests.RequestException:
                pass
        time.sleep(0.1)
    pytest.fail(f"gunicorn did not start: {log_path.read_text()[-2000:]}")


def test_gunicorn_logs_no_webhook_secret_connect_token_or_key(app, client, tenant, database_url, tmp_path):
    created = client.post(
        "/api/integrations", headers=tenant.headers,
        json={"connector": "stripe", "name": "main", "credentials": {"api_key": "rk_test_KnownRestrictedKey123"}},
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    webhook_path = "/" + created.json["webhook_url"].split("/", 3)[3]
    webhook_secret = webhook_path.rsplit("/", 1)[1]
    session = client.post("/api/connect/sessions", json={"end_user_id": "user-7"}, headers=tenant.headers)
    connect_token = session.json["token"]

    with gunicorn(tmp_path, database_url, *CONFIG, "--access-logfile", "-", "--access-logformat", NOISY_ACCESS_FORMAT) as server:
        webhook = requests.post(
            server["url"] + webhook_path + "?attempt=" + webhook_secret, data=b"{}", timeout=10,
            headers={"Stripe-Signature": "t=1,v1=" + "ab" * 32, "Referer": "http://frontend.test" + webhook_path},
        )
        start = requests.get(
            server["url"] + "/api/oauth/start/slack", params={"connect_token": connect_token}, timeout=10,
            allow_redirects=False,
            headers={
                "Authorization": f"Bearer {tenant.api_key}",
                "Cookie": "hub_oauth_flow=nonce-value-secret",
                "Referer": f"http://frontend.test/connect?connect_token={connect_token}",
            },
        )
        unrouted = requests.get(server["url"] + "/api/webhooks/stripe/" + webhook_secret + "/extra", timeout=10)
    assert webhook.status_code == 401 and start.status_code == 400 and unrouted.status_code == 404

    log = server["log"]
    for secret in (webhook_secret, connect_token, tenant.api_key, "nonce-value-secret", "ab" * 32):
        assert secret not in log
    lines = [json.loads(line) for line in log.splitlines() if line.startswith("{")]
    access = [entry for entry in lines if entry["logger"] == "gunicorn.access" and "/healthz" not in entry["message"]]
    assert len(access) == 3, log
    assert '"POST /api/webhooks/stripe/[redacted]?attempt=[redacted] HTTP/1.1" 401' in access[0]["message"]
    assert "q=connect_token=[redacted]" in access[1]["message"]
    assert "/api/webhooks/stripe/[redacted]/extra" in access[2]["message"]
    assert "Logging error" not in log


@pytest.mark.parametrize("options", [[], CONFIG], ids=["plain", "hub-config"])
def test_gunicorn_stops_without_logging_errors(tmp_path, options):
    with gunicorn(tmp_path, migrated_sqlite(tmp_path), *options) as server:
        assert requests.get(server["url"] + "/healthz", timeout=10).status_code == 200
    assert "Shutting down" in server["log"]
    assert "Logging error" not in server["log"] and "Traceback" not in server["log"]


def test_gunicorn_refuses_to_serve_on_a_key_that_does_not_open_stored_data(app, tenant, database_url, tmp_path):
    from hub.storage.key_check import verify_keys_at_start
    from tests.support.legacy_rows import seal_legacy_integration

    with app.app_context():
        seal_legacy_integration(tenant.id, {"api_key": "rk_test_sealed"})
        verify_keys_at_start(app.extensions["hub"].envelope)
    key_id = TEST_ENCRYPTION_KEY.split(":")[0]
    same_id_other_key = f"{key_id}:{generate_key_entry().split(':')[1]}"

    stopped = subprocess.run(
        gunicorn_command(*CONFIG), env=gunicorn_environ(tmp_path, database_url, same_id_other_key), cwd=tmp_path,
        capture_output=True, text=True, timeout=120,
    )

    assert stopped.returncode != 0, "the master stops: a worker that cannot boot is not respawned forever"
    assert "refusing to serve" in stopped.stderr and key_id in stopped.stderr
    assert same_id_other_key.split(":")[1] not in stopped.stderr
