"""Every hook has a documented section (signature, parameters, return, example)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from hub import hookspecs

DOCS = (Path(__file__).resolve().parent.parent / "docs" / "plugin_hooks.md").read_text()
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if hasattr(fn, "hub_spec")]


def _section(name: str) -> str:
    match = re.search(rf"^## {name}\n(.*?)(?=^## |\Z)", DOCS, re.S | re.M)
    assert match, f"docs/plugin_hooks.md has no section for hook {name}"
    return match.group(1)


def test_hookspecs_are_found():
    assert {"oauth_config", "verify_signature", "normalize", "sync", "process_event", "connector_info"} <= set(HOOKS)


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_docs_section(hook):
    section = _section(hook)
    assert f"def {hook}(" in section, "the section shows the signature"
    for parameter in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert f"`{parameter}`" in section, f"the section describes parameter {parameter}"
    assert "Returns" in section
    assert section.count("```python") >= 2, "the section has a minimal example"
