"""The `hub` command line, run as a real process where it matters."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from hub.testing import clean_environ

HUB = str(Path(sys.executable).parent / "hub")


def test_tenants_create_prints_the_id_and_a_working_key(app, client):
    result = app.test_cli_runner().invoke(args=["tenants", "create", "Initech"])
    assert result.exit_code == 0, result.output
    api_key = re.search(r"api_key:\s+(\S+)", result.output).group(1)
    assert re.search(r"tenant_id:\s+[0-9a-f-]{36}", result.output)
    assert client.get("/api/integrations", headers={"Authorization": f"Bearer {api_key}"}).status_code == 200


def test_a_fresh_instance_migrates_and_creates_a_tenant(tmp_path):
    env = clean_environ() | {"HUB_INSTANCE_PATH": str(tmp_path)}
    upgrade = subprocess.run([HUB, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert upgrade.returncode == 0, upgrade.stderr
    assert "0008_jobs" in upgrade.stdout or "database at revision" in upgrade.stdout
    created = subprocess.run([HUB, "tenants", "create", "Acme"], env=env, capture_output=True, text=True, timeout=60)
    assert created.returncode == 0, created.stderr
    assert "api_key:" in created.stdout
    assert (tmp_path / "hub.sqlite3").exists()


def test_production_refusal_is_reported_by_the_cli(tmp_path):
    env = clean_environ() | {"HUB_INSTANCE_PATH": str(tmp_path), "HUB_ENV": "production"}
    result = subprocess.run([HUB, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "SECRET_KEY" in result.stderr and "ENCRYPTION_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands():
    result = subprocess.run([HUB, "--help"], env=clean_environ(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("db", "serve", "tenants", "keys", "connectors", "worker", "events"):
        assert command in result.stdout
