"""Installing throwaway plugin distributions for tests.

A plugin is written as a real module plus a `*.dist-info` folder with its
entry points on a temporary `sys.path` entry, which is exactly what
`importlib.metadata` finds for an installed package.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest


def install_plugin(
    root: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    distribution: str,
    module: str,
    source: str,
    connectors: dict[str, str] | None = None,
    plugins: dict[str, str] | None = None,
) -> None:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source))
    dist_info = root / f"{distribution.replace('-', '_')}-1.0.dist-info"
    dist_info.mkdir()
    (dist_info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: 1.0\n")
    lines = []
    if connectors:
        lines.append("[hub.connectors]")
        lines += [f"{name} = {target}" for name, target in connectors.items()]
    if plugins:
        lines.append("[hub.plugins]")
        lines += [f"{name} = {target}" for name, target in plugins.items()]
    (dist_info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    monkeypatch.syspath_prepend(str(root))
