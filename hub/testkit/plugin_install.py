"""Proving a connector distribution installs alone next to the hub (for plugins' own tests).

Builds a fresh virtualenv, pip-installs the hub and a copy of the plugin
(a copy, so pip never writes build files into the plugin's folder), then
runs a check script in that environment. A plugin that imports something it
does not declare fails here instead of on a user's machine.

The hub goes in as it is installed here: from a copy of its sources when it
runs from a checkout, otherwise as a wheel rebuilt from its installed files
(a plugin author's venv holds the hub from PyPI or a wheel, with no
pyproject.toml to build from).
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import distribution
from pathlib import Path, PurePosixPath

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


def runs_from_checkout() -> bool:
    return (REPO_ROOT / "pyproject.toml").is_file() and (REPO_ROOT / "setup.py").is_file() and (REPO_ROOT / "migrations").is_dir()


# Files pip writes about one installation, which a wheel must not carry.
INSTALLATION_RECORDS = {"INSTALLER", "RECORD", "REQUESTED", "direct_url.json"}


def installed_hub_wheel(workdir: Path) -> Path:
    """A wheel of the hub holding exactly the files installed here, for pip to install elsewhere."""
    hub = distribution("hub")
    wheel = workdir / "dist" / f"hub-{hub.version}-py3-none-any.whl"
    wheel.parent.mkdir(parents=True, exist_ok=True)
    record: list[str] = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as archive:
        for file in hub.files or []:
            path = PurePosixPath(file.as_posix())
            if path.parts[0] == ".." or "__pycache__" in path.parts or path.name in INSTALLATION_RECORDS:
                continue
            data = Path(str(hub.locate_file(file))).read_bytes()
            archive.writestr(str(path), data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode("ascii")
            record.append(f"{path},sha256={digest},{len(data)}")
        dist_info = f"hub-{hub.version}.dist-info"
        archive.writestr(f"{dist_info}/RECORD", "\n".join([*record, f"{dist_info}/RECORD,,"]) + "\n")
    return wheel


def hub_installable(workdir: Path) -> Path:
    """What pip installs as the hub: a copy of its sources, or a wheel of the installed hub."""
    return hub_source_copy(workdir) if runs_from_checkout() else installed_hub_wheel(workdir)


def new_venv(workdir: Path) -> tuple[Path, list[str]]:
    """A fresh virtualenv: its python, and the pip command line to install into it."""
    venv = workdir / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    return python, [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]


def assert_installs_alone(plugin_dir: Path, workdir: Path, *, connector: str, distribution: str, extra_check: str = "") -> None:
    """Install the hub and the plugin in a new venv; the plugin must load as the only connector."""
    hub = hub_installable(workdir)
    plugin = shutil.copytree(plugin_dir, workdir / "plugin-src", ignore=LEFTOVERS)
    python, pip = new_venv(workdir)
    check = LOADS_ALONE.format(connector=connector, distribution=distribution) + extra_check
    for command in ([*pip, str(hub)], [*pip, str(plugin)], [str(python), "-c", check]):
        finished = subprocess.run(command, capture_output=True, text=True, cwd=workdir)
        assert finished.returncode == 0, finished.stderr[-4000:]
