"""The `hub` command line, run as a real process where it matters."""

from __future__ import annotations

import json
import os
import pty
import re
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from hub.cli import main
from hub.testing import clean_environ

HUB = str(Path(sys.executable).parent / "hub")


def test_tenants_create_prints_the_id_and_a_working_key(app, client):
    result = app.test_cli_runner().invoke(main, args=["tenants", "create", "Initech"])
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
    assert "SECRET_KEY" in result.stderr and "KMS_KEY" in result.stderr
    assert "Traceback" not in result.stderr


def test_help_lists_the_commands():
    result = subprocess.run([HUB, "--help"], env=clean_environ(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 0
    for command in ("db", "serve", "tenants", "keys", "connectors", "worker", "events"):
        assert command in result.stdout


def run_with_terminal_stderr(command: list[str], env: dict[str, str]) -> str:
    """Run with stderr on a pseudo-terminal (as in a person's shell); returns what it wrote there."""
    parent, child = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(parent, 4096)
            except OSError:  # the child side closed
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain)
    reader.start()
    try:
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=child, timeout=120, check=True)
    finally:
        os.close(child)
        reader.join(timeout=30)
        os.close(parent)
    return b"".join(chunks).decode().replace("\r\n", "\n")


def test_generated_development_keys_are_announced_once_as_json(tmp_path):
    env = clean_environ() | {"HUB_INSTANCE_PATH": str(tmp_path)}
    result = subprocess.run([HUB, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    notices = [line for line in result.stderr.splitlines() if "development mode" in line]
    assert len(notices) == 1, result.stderr
    notice = json.loads(notices[0])
    assert notice["level"] == "warning"
    assert "SECRET_KEY and KMS_KEY are not set" in notice["message"]


def test_on_a_terminal_the_logs_are_plain_text(tmp_path):
    env = clean_environ() | {"HUB_INSTANCE_PATH": str(tmp_path)}
    written = run_with_terminal_stderr([HUB, "db", "upgrade"], env)
    notices = [line for line in written.splitlines() if "development mode" in line]
    assert len(notices) == 1, written
    assert not notices[0].startswith("{") and " warning hub.config: development mode: SECRET_KEY" in notices[0]
    assert not any(line.startswith("{") for line in written.splitlines())


def test_hub_serve_logs_hold_no_terminal_colour_codes(tmp_path):
    env = clean_environ() | {"HUB_INSTANCE_PATH": str(tmp_path)}
    subprocess.run([HUB, "db", "upgrade"], env=env, capture_output=True, timeout=120, check=True)
    with socket.socket() as probe:  # a free port for the server
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log_file:
        server = subprocess.Popen([HUB, "serve", "--port", str(port)], env=env, stdout=log_file, stderr=subprocess.STDOUT)
    try:
        for _ in range(300):  # bounded: about half a minute
            try:
                missing = requests.get(f"http://127.0.0.1:{port}/no/such/page", timeout=5)
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        assert missing.status_code == 404
    finally:
        server.terminate()
        server.wait(timeout=30)
    lines = [json.loads(line) for line in log_path.read_text().splitlines() if line.startswith("{")]
    werkzeug = [entry for entry in lines if entry["logger"] == "werkzeug" and "/no/such/page" in entry["message"]]
    assert werkzeug, log_path.read_text()
    assert all("\x1b" not in entry["message"] for entry in lines)
