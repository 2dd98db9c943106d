"""`hub connectors new` writes a package that passes its own tests; `hub connectors check` names what is broken and where."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from hub.cli import main
from hub.plugins import PluginHost
from hub.scaffold import write_connector_package
from hub.testing import clean_environ
from hub.types import ConnectorInfo

HUB = str(Path(sys.executable).parent / "hub")


def run(command: list[str], cwd: Path, **environ: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in clean_environ().items() if key != "CI"} | environ
    return subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, timeout=600)


def test_a_new_connector_package_passes_its_own_tests_as_generated(tmp_path):
    """Into a fresh venv that sees this one's packages (the hub among them), as `pip install -e` by its author."""
    made = run([HUB, "connectors", "new", "acme_cloud", "--directory", str(tmp_path)], tmp_path)
    assert made.returncode == 0, made.stderr
    package = tmp_path / "hub-acme-cloud"
    assert {str(path.relative_to(package)) for path in package.rglob("*") if path.is_file()} == {
        "pyproject.toml", "README.md", "hub_acme_cloud/__init__.py", "hub_acme_cloud/connector.py", "tests/test_acme_cloud.py",
    }
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], capture_output=True, text=True, check=True)
    Path(site.stdout.strip(), "outer_venv.pth").write_text(f"import site; site.addsitedir({sysconfig.get_paths()['purelib']!r})\n")
    installed = run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "-e", str(package)], tmp_path)
    assert installed.returncode == 0, installed.stderr[-3000:]

    tested = run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly", "-m", "not installs_packages"], package)
    assert tested.returncode == 0, tested.stdout[-4000:]
    assert " passed" in tested.stdout and "failed" not in tested.stdout

    checked = run([str(python), "-m", "hub", "connectors", "check"], tmp_path, HUB_INSTANCE_PATH=str(tmp_path / "instance"))
    assert checked.returncode == 0, checked.stderr
    assert "ok acme_cloud (hub-acme-cloud)" in checked.stdout


@pytest.mark.parametrize("name", ["Acme", "1acme", "acme-cloud", "", "a" * 41])
def test_a_name_that_cannot_be_a_connector_id_is_refused(tmp_path, name):
    with pytest.raises(ValueError, match="lower-case letters"):
        write_connector_package(name, tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_an_existing_folder_is_not_overwritten(tmp_path):
    (tmp_path / "hub-acme").mkdir()
    with pytest.raises(ValueError, match="exists already"):
        write_connector_package("acme", tmp_path)


def test_check_names_a_broken_plugins_file_line_and_traceback_and_fails(tmp_path):
    plugin = tmp_path / "typo_plugin.py"
    plugin.write_text('"""A plugin with a typo."""\n\nvalue = undefined_name\n')
    environ = {"HUB_PLUGINS": "typo_plugin", "PYTHONPATH": str(tmp_path), "HUB_INSTANCE_PATH": str(tmp_path / "instance")}
    checked = run([HUB, "connectors", "check"], tmp_path, **environ)
    assert checked.returncode == 1
    assert "BROKEN module:typo_plugin: import failed: NameError: name 'undefined_name' is not defined" in checked.stderr
    assert f"at {plugin}:3" in checked.stderr and "Traceback (most recent call last)" in checked.stderr
    listed = run([HUB, "connectors", "list"], tmp_path, **environ)
    assert f"({plugin}:3)" in listed.stderr


def test_check_passes_with_every_installed_connector(app):
    result = app.test_cli_runner().invoke(main, args=["connectors", "check"])
    assert result.exit_code == 0, result.output
    assert "ok github (hub-github)" in result.output and "ok stripe (hub-stripe)" in result.output


class PromisesSync:
    from hub import hookimpl

    @hookimpl
    def connector_info(self):
        return ConnectorInfo(display_name="Promises", auth_kind="oauth2", webhook_routing="integration", supports_sync=True)

    @hookimpl
    def normalize(self, request):
        return []


def test_a_flag_without_its_hook_is_named():
    host = PluginHost({}, environ={})
    host.register_connector("promises", PromisesSync())
    assert host.declared_but_missing("promises") == [
        "supports_sync is set but the sync hook is missing",
        "webhook_routing is 'integration' but the verify_signature hook is missing",
        "auth_kind is 'oauth2' but the oauth_config hook is missing",
    ]


class KeyErrorInInfo:
    from hub import hookimpl

    @hookimpl
    def connector_info(self):
        return {}["oops"]


def test_a_connector_info_that_raises_is_reported_with_its_type_and_place():
    host = PluginHost({}, environ={})
    host.register_connector("keyerror", KeyErrorInInfo())
    [broken] = host.broken
    assert broken.error == "connector_info failed: KeyError: 'oops'"
    assert broken.where.endswith(f"{Path(__file__).name}:{KeyErrorInInfo.connector_info.__code__.co_firstlineno + 2}")


def test_the_guide_starts_from_the_scaffold_and_the_readme_links_it():
    root = Path(__file__).resolve().parent.parent
    guide = (root / "docs" / "writing_connectors.md").read_text()
    assert "hub connectors new acme" in guide and "ConnectorContract" in guide and "FakeProviderAPI" in guide
    assert "docs/writing_connectors.md" in (root / "README.md").read_text()
