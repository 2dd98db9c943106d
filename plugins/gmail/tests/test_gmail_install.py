"""hub-gmail installs alone next to the hub and brings what it imports (google-auth, requests)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PLUGIN_DIR = Path(__file__).resolve().parents[1]
REPO_ROOT = PLUGIN_DIR.parents[1]
LEFTOVERS = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "tests")

CHECK = """
from hub.connectors import PluginHost
host = PluginHost({}, environ={}).load()
assert set(host.connectors) == {"gmail"}, (sorted(host.connectors), host.broken)
assert not host.broken, host.broken
assert host.describe("gmail")["distribution"] == "hub-gmail"
assert host.has_hook("gmail", "verify_signature") and host.has_hook("gmail", "renew_subscription")
import google.auth.transport.requests, google.oauth2.id_token  # the push verification's imports resolve
from hub.types import WebhookRequest
assert host.verify_signature("gmail", request=WebhookRequest(headers={}, body=b"{}"), credentials=None) is False
"""


def source_copy(tmp_path: Path) -> tuple[Path, Path]:
    """Copies of the hub and the plugin, so pip builds there and never writes into the checkout."""
    hub = tmp_path / "hub-src"
    hub.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO_ROOT / name, hub / name)
    shutil.copytree(REPO_ROOT / "hub", hub / "hub", ignore=LEFTOVERS)
    plugin = shutil.copytree(PLUGIN_DIR, tmp_path / "plugin-src", ignore=LEFTOVERS)
    return hub, plugin


@pytest.mark.installs_packages
def test_plugin_installs_alone_and_loads(tmp_path):
    hub, plugin = source_copy(tmp_path)
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    for command in ([*pip, str(hub)], [*pip, str(plugin)], [str(python), "-c", CHECK]):
        finished = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
        assert finished.returncode == 0, finished.stderr[-4000:]
