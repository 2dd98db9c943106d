"""The hub installs from its sources like any package (not only as an editable checkout)."""

from __future__ import annotations

import subprocess

import pytest

from hub.testing import clean_environ
from hub.testkit.plugin_install import REPO_ROOT, hub_source_copy, new_venv


@pytest.mark.installs_packages
def test_an_installed_hub_migrates_a_fresh_database(tmp_path):
    python, pip = new_venv(tmp_path)
    installed = subprocess.run([*pip, str(hub_source_copy(tmp_path))], capture_output=True, text=True, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-4000:]
    env = clean_environ() | {"HUB_INSTANCE_PATH": str(tmp_path / "instance")}
    upgraded = subprocess.run(
        [str(python.parent / "hub"), "db", "upgrade"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120
    )
    assert upgraded.returncode == 0, upgraded.stderr[-4000:]
    newest = sorted(path.stem for path in (REPO_ROOT / "migrations" / "versions").glob("0*.py"))[-1]
    assert f"database at revision {newest}" in upgraded.stdout
