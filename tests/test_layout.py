"""The layout keeps its shape: layers that import only downwards, no import cycle, tests that use public names.

Read from the sources (every import, at module level or inside a function),
so a new module that climbs back up a layer, or two modules that import each
other, fail here with the import named.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
HUB = ROOT / "hub"

# From the top down: a module may import from its own layer or the layers below, never from one above.
LAYERS = [
    ("entry points", {"hub", "hub.__main__", "hub.cli", "hub.testing", "hub.gunicorn_config", "hub.scaffold"}),
    ("the app factory", {"hub.app"}),
    ("HTTP", {"hub.api", "hub.web"}),
    ("ingestion, consumers, the connect flow, monitoring, test kit, connections for in-process code",
     {"hub.webhooks", "hub.worker", "hub.oauth", "hub.monitoring", "hub.testkit", "hub.connections"}),
    ("calls to providers", {"hub.provider"}),
    ("stored events", {"hub.events"}),
    ("the queue", {"hub.queue"}),
    ("tenants and what they own", {"hub.tenancy"}),
    ("the per-app registry", {"hub.runtime"}),
    ("the plugin host", {"hub.plugins"}),
    ("settings", {"hub.config"}),
    ("storage, outbound delivery", {"hub.storage", "hub.delivery"}),
    ("the plugin contract and leaves", {"hub.hookspecs", "hub.types", "hub.errors", "hub.logs", "hub.metrics", "hub.kit"}),
]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def hub_modules() -> dict[str, Path]:
    return {module_name(path): path for path in HUB.rglob("*.py")}


def imports_of(path: Path, modules: dict[str, Path]) -> Iterator[str]:
    """The hub modules `path` imports, wherever the import stands."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [f"{node.module}.{alias.name}" for alias in node.names] + [node.module]
        else:
            continue
        for name in names:
            while name and name not in modules:
                name = name.rpartition(".")[0]
            if name.startswith("hub"):
                yield name
                break


def layer_of(module: str) -> int:
    best = max(
        ((index, prefix) for index, (_name, prefixes) in enumerate(LAYERS) for prefix in prefixes
         if module == prefix or module.startswith(prefix + ".")),
        key=lambda found: len(found[1]),
    )
    return best[0]


def import_graph() -> dict[str, set[str]]:
    modules = hub_modules()
    return {module: set(imports_of(path, modules)) - {module} for module, path in modules.items()}


def test_every_module_of_the_hub_has_a_layer():
    for module in hub_modules():
        assert layer_of(module) is not None, module


def test_no_module_imports_from_a_layer_above_its_own():
    climbing = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {imported} ({LAYERS[layer_of(imported)][0]})"
        for module, imported_modules in import_graph().items()
        for imported in imported_modules
        if layer_of(imported) < layer_of(module)
    ]
    assert climbing == []


def test_no_two_modules_import_each_other_even_through_others():
    graph = import_graph()
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:  # Tarjan's strongly connected components
        index[module] = low[module] = len(index)
        stack.append(module)
        for imported in graph.get(module, ()):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    assert circles == []


def test_the_queue_does_not_know_the_worker_that_runs_its_jobs():
    graph = import_graph()
    assert [(module, imported) for module in graph if module.startswith("hub.queue") for imported in graph[module] if imported.startswith("hub.worker")] == []


TESTS = sorted([*ROOT.glob("tests/**/*.py"), *ROOT.glob("plugins/*/tests/**/*.py"), ROOT / "conftest.py"])


@pytest.mark.parametrize("path", TESTS, ids=[str(path.relative_to(ROOT)) for path in TESTS])
def test_tests_use_public_names_and_get_fixtures_from_pytest_plugins(path):
    source = path.read_text()
    private = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "hub"
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert private == [], "a test imports a private name of the hub: give it a public one"
    assert "noqa" + ": F401" not in source, "fixtures come through pytest_plugins in the root conftest.py, not imports"
