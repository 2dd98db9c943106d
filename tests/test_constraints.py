"""requirements/constraints.txt: every runtime package of a deployment, pinned and hash-checked.

Refreshed with scripts/lock-constraints; docs/deployment.md says how to
install with it. A dependency added to a pyproject.toml without a refresh, or
a floor raised above a pin, fails here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from importlib import metadata

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from hub.testing import clean_environ
from hub.testkit.plugin_install import LEFTOVERS, REPO_ROOT, hub_source_copy, new_venv

CONSTRAINTS = REPO_ROOT / "requirements" / "constraints.txt"
# The distributions of this repository: installed from the checkout, never pinned.
LOCAL = {"hub": {"postgres"}, "hub-gmail": set(), "hub-slack": set(), "hub-stripe": set()}
PIN = re.compile(r"^([A-Za-z0-9._-]+)==(\S+)")


def pins() -> dict[str, tuple[Version, int]]:
    """Each pinned package: its version and how many release-file hashes it carries."""
    found: dict[str, tuple[Version, int]] = {}
    current = None
    for line in CONSTRAINTS.read_text().splitlines():
        pinned = PIN.match(line)
        if pinned:
            current = canonicalize_name(pinned.group(1))
            found[current] = (Version(pinned.group(2)), 0)
        elif current and line.strip().startswith("--hash=sha256:"):
            version, hashes = found[current]
            found[current] = (version, hashes + 1)
    return found


def runtime_requirements() -> dict[str, list[Requirement]]:
    """Every distribution the hub (with PostgreSQL) and the three plugins need at run time, on this platform,
    from the installed packages' own metadata, with every requirement that names it."""
    needed: dict[str, list[Requirement]] = {}
    queue = [(name, extras) for name, extras in LOCAL.items()]
    seen: set[tuple[str, frozenset[str]]] = set()
    while queue:
        name, extras = queue.pop()
        if (name, frozenset(extras)) in seen:
            continue
        seen.add((name, frozenset(extras)))
        for text in metadata.requires(name) or []:
            requirement = Requirement(text)
            if requirement.marker and not any(requirement.marker.evaluate({"extra": extra}) for extra in {"", *extras}):
                continue
            dependency = canonicalize_name(requirement.name)
            if dependency in LOCAL:
                continue
            needed.setdefault(dependency, []).append(requirement)
            queue.append((dependency, set(requirement.extras)))
    return needed


def test_every_runtime_dependency_is_pinned_with_hashes():
    pinned = pins()
    needed = runtime_requirements()

    assert {"cryptography", "authlib", "requests", "gunicorn", "psycopg", "google-auth"} <= set(needed)
    missing = sorted(set(needed) - set(pinned))
    assert not missing, f"not in requirements/constraints.txt (run scripts/lock-constraints): {missing}"
    for name, requirements in needed.items():
        version, hashes = pinned[name]
        assert hashes >= 1, f"{name} is pinned without a hash"
        for requirement in requirements:
            assert requirement.specifier.contains(version, prereleases=True), f"{name}=={version} does not satisfy {requirement}"
    assert not set(pinned) & set(LOCAL), "the repository's own distributions are installed from the checkout"


def test_the_build_tools_for_an_isolated_free_install_are_pinned():
    pinned = pins()
    for path in (REPO_ROOT / "pyproject.toml", *sorted((REPO_ROOT / "plugins").glob("*/pyproject.toml"))):
        for text in tomllib.loads(path.read_text())["build-system"]["requires"]:
            requirement = Requirement(text)
            version, hashes = pinned[canonicalize_name(requirement.name)]
            assert hashes and requirement.specifier.contains(version), f"{path}: {requirement} against {version}"


@pytest.mark.installs_packages
def test_a_deployment_installs_from_the_constraints_with_hash_checking(tmp_path):
    """The commands of docs/deployment.md, in a fresh virtualenv."""
    python, pip = new_venv(tmp_path)
    sources = [hub_source_copy(tmp_path)] + [
        shutil.copytree(plugin, tmp_path / f"{plugin.name}-src", ignore=LEFTOVERS)
        for plugin in sorted((REPO_ROOT / "plugins").iterdir()) if (plugin / "pyproject.toml").exists()
    ]
    steps = [
        [*pip, "--require-hashes", "--no-deps", "-r", str(CONSTRAINTS)],
        [*pip, "--no-deps", "--no-build-isolation", *map(str, sources)],
        [str(python), "-m", "pip", "check"],
    ]
    for command in steps:
        finished = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=900)
        assert finished.returncode == 0, (command, finished.stdout[-2000:], finished.stderr[-4000:])
    env = clean_environ() | {"HUB_INSTANCE_PATH": str(tmp_path / "instance")}
    hub = str(python.parent / "hub")
    upgraded = subprocess.run([hub, "db", "upgrade"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert upgraded.returncode == 0, upgraded.stderr[-4000:]
    listed = subprocess.run([hub, "connectors", "list"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr[-4000:]
    assert all(connector in listed.stdout for connector in ("gmail", "slack", "stripe")), listed.stdout
