"""The hub's pytest plugin works for a connector package on its own: outside this checkout, with no conftest of ours."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from hub.testing import clean_environ

ROOT = Path(__file__).resolve().parent.parent
USES_THE_DATABASE = "def test_uses_the_database(app, tenant):\n    assert tenant.api_key\n"


def run_pytest(folder: Path, *arguments: str, **environ: str) -> subprocess.CompletedProcess[str]:
    """pytest in a fresh process, rooted in `folder` (its own empty ini file), as a plugin author runs it."""
    (folder / "pytest.ini").write_text("[pytest]\n")
    command = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "-p", "no:randomly", "-n", "0", *arguments]
    environment = {key: value for key, value in clean_environ().items() if key != "CI"} | environ
    return subprocess.run(command, capture_output=True, text=True, cwd=folder, env=environment, timeout=600)


def test_a_plugins_tests_copied_out_of_the_checkout_find_every_fixture(tmp_path):
    """No `pytest_plugins` line and no root conftest: the entry point loads the fixtures, without rewrite warnings."""
    shutil.copytree(ROOT / "plugins" / "stripe" / "tests", tmp_path / "tests", ignore=shutil.ignore_patterns("__pycache__"))
    finished = run_pytest(
        tmp_path, "tests", "-m", "not installs_packages", "--strict-markers", "-W", "error::pytest.PytestAssertRewriteWarning",
        HUB_TEST_DATABASES="sqlite",
    )
    assert finished.returncode == 0, finished.stdout[-4000:] + finished.stderr[-2000:]
    assert "passed" in finished.stdout and "warning" not in finished.stdout.lower()


def test_the_plugin_needs_no_postgresql_unless_asked(tmp_path):
    (tmp_path / "test_database.py").write_text(USES_THE_DATABASE)
    finished = run_pytest(tmp_path, HUB_TEST_POSTGRES_URL="postgresql://127.0.0.1:1/test")
    assert finished.returncode == 0, finished.stdout[-4000:]
    assert "1 passed" in finished.stdout and "skipped" not in finished.stdout


def test_an_unreachable_postgresql_skips_with_its_address(tmp_path):
    (tmp_path / "test_database.py").write_text(USES_THE_DATABASE)
    finished = run_pytest(tmp_path, HUB_TEST_DATABASES="sqlite,postgresql", HUB_TEST_POSTGRES_URL="postgresql://127.0.0.1:1/test")
    assert finished.returncode == 0, finished.stdout[-4000:]
    assert "1 passed, 1 skipped" in finished.stdout
    assert "PostgreSQL at postgresql://127.0.0.1:1/test is unreachable" in finished.stdout


def test_an_unreachable_postgresql_fails_on_ci(tmp_path):
    (tmp_path / "test_database.py").write_text(USES_THE_DATABASE)
    finished = run_pytest(tmp_path, HUB_TEST_DATABASES="postgresql", HUB_TEST_POSTGRES_URL="postgresql://127.0.0.1:1/test", CI="true")
    assert finished.returncode == 1
    assert "CI=true requires it" in finished.stdout


def test_a_missing_postgresql_driver_says_what_to_install(tmp_path):
    (tmp_path / "conftest.py").write_text("import sys\nsys.modules['psycopg'] = None  # as if it were not installed\n")
    (tmp_path / "test_database.py").write_text(USES_THE_DATABASE)
    finished = run_pytest(tmp_path, HUB_TEST_DATABASES="postgresql")
    assert finished.returncode == 0, finished.stdout[-4000:]
    assert "pip install 'hub[postgres]'" in finished.stdout and "HUB_TEST_DATABASES=sqlite" in finished.stdout
    assert "No module named" not in finished.stdout


def test_an_unknown_test_database_is_a_usage_error(tmp_path):
    (tmp_path / "test_database.py").write_text(USES_THE_DATABASE)
    finished = run_pytest(tmp_path, HUB_TEST_DATABASES="mysql")
    assert finished.returncode == 4
    assert "the choices are sqlite and postgresql" in finished.stderr
