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


def test_a_wheel_of_the_hub_holds_every_package_of_the_checkout(tmp_path):
    """Packages are found, not listed: a new subpackage cannot be left out of what pip installs."""
    import sys
    import zipfile

    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation", "--wheel-dir", str(tmp_path / "dist"), str(hub_source_copy(tmp_path))],
        capture_output=True, text=True, cwd=tmp_path,
    )
    assert built.returncode == 0, built.stderr[-4000:]
    [wheel] = (tmp_path / "dist").glob("hub-*.whl")
    shipped = {name.rpartition("/")[0] for name in zipfile.ZipFile(wheel).namelist() if name.endswith(".py")}
    packages = {str(path.parent.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "hub").rglob("__init__.py")}
    assert packages <= shipped
    assert {"hub/migrations", "hub/migrations/versions"} <= shipped


@pytest.mark.installs_packages
def test_a_plugin_proves_it_installs_alone_next_to_a_hub_installed_from_a_wheel(tmp_path):
    """A plugin author's hub comes from a wheel, not a checkout: there is no pyproject.toml to build it from."""
    python, pip = new_venv(tmp_path)
    installed = subprocess.run([*pip, str(hub_source_copy(tmp_path))], capture_output=True, text=True, cwd=tmp_path)
    assert installed.returncode == 0, installed.stderr[-4000:]
    check = (
        "from pathlib import Path\n"
        "from hub.testkit import plugin_install\n"
        "assert not plugin_install.runs_from_checkout()\n"
        f"plugin_install.assert_installs_alone(Path({str(REPO_ROOT / 'plugins' / 'slack')!r}), Path({str(tmp_path / 'inner')!r}),"
        " connector='slack', distribution='hub-slack')\n"
    )
    (tmp_path / "inner").mkdir()
    proved = subprocess.run([str(python), "-c", check], capture_output=True, text=True, cwd=tmp_path, env=clean_environ(), timeout=900)
    assert proved.returncode == 0, proved.stderr[-4000:]
