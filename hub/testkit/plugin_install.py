"""Proving a connector distribution installs alone next to the hub (for plugins' own tests).

Builds a fresh virtualenv, pip-installs copies of the hub and the plugin
(copies, so pip never writes build files into the checkout), then runs a
check script in that environment. A plugin that imports something it does
not declare fails here instead of on a user's machine.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
LEFTOVERS = shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "tests")

LOADS_ALONE = """
from hub.plugins import PluginHost
host = PluginHost({{}}, environ={{}}).load()
assert set(host.connectors) == {{{connector!r}}}, (sorted(host.connectors), host.broken)
assert not host.broken, host.broken
assert host.describe({connector!r})["distribution"] == {distribution!r}
"""


def hub_source_copy(workdir: Path) -> Path:
    """A copy of the hub distribution's sources, for pip to build outside the checkout."""
    hub = workdir / "hub-src"
    hub.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO_ROOT / name, hub / name)
    shutil.copytree(REPO_ROOT / "hub", hub / "hub", ignore=LEFTOVERS)
    shutil.copytree(REPO_ROOT / "migrations", hub / "migrations", ignore=LEFTOVERS)
    return hub


def new_venv(workdir: Path) -> tuple[Path, list[str]]:
    """A fresh virtualenv: its python, and the pip command line to install into it."""
    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    return python, [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]


def assert_installs_alone(plugin_dir: Path, workdir: Path, *, connector: str, distribution: str, extra_check: str = "") -> None:
    """Install the hub and the plugin in a new venv; the plugin must load as the only connector."""
    hub = hub_source_copy(workdir)
    plugin = shutil.copytree(plugin_dir, workdir / "plugin-src", ignore=LEFTOVERS)
    python, pip = new_venv(workdir)
    check = LOADS_ALONE.format(connector=connector, distribution=distribution) + extra_check
    for command in ([*pip, str(hub)], [*pip, str(plugin)], [str(python), "-c", check]):
        finished = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
        assert finished.returncode == 0, finished.stderr[-4000:]
