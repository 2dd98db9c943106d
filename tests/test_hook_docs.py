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


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_typed_and_documented_where_it_is_declared(hook):
    """A plugin author's editor explains the hook: each parameter typed and described, the return value too."""
    function = getattr(hookspecs, hook)
    signature = inspect.signature(function)
    docstring = inspect.getdoc(function) or ""
    for name, parameter in signature.parameters.items():
        assert parameter.annotation is not inspect.Parameter.empty, f"{hook}: parameter {name} has no type"
        assert f":param {name}:" in docstring, f"{hook}: parameter {name} is not described where it is declared"
    assert signature.return_annotation is not inspect.Signature.empty, f"{hook} declares no return type"
    assert ":returns:" in docstring, f"{hook} does not say what it returns"


def test_the_declared_signature_is_the_documented_one():
    """docs/plugin_hooks.md shows each hook with the parameters it is declared with, in that order."""
    for hook in HOOKS:
        shown = re.search(rf"def {hook}\((.*?)\)", _section(hook), re.S)
        assert shown, f"docs/plugin_hooks.md shows no signature for {hook}"
        documented = [part.split(":")[0].strip() for part in _top_level_parts(shown.group(1)) if part.strip()]
        assert documented == list(inspect.signature(getattr(hookspecs, hook)).parameters), hook


def _top_level_parts(parameters: str) -> list[str]:
    """`a: Mapping[str, Any], b: int` split at the commas outside brackets."""
    parts, depth, current = [], 0, ""
    for character in parameters:
        depth += {"[": 1, "]": -1}.get(character, 0)
        if character == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += character
    return [*parts, current]


def test_the_sync_session_is_documented_as_the_hub_builds_it():
    """Credentials holding an access_token get a Bearer session, whatever the connector's auth kind."""
    from hub.testing import provider_session

    section = _section("sync")
    assert "none set" not in section and "Bearer <access_token>" in section
    assert provider_session({"access_token": "at-1", "api_key": "k"}).headers["Authorization"] == "Bearer at-1"
    assert "Authorization" not in provider_session({"api_key": "k"}).headers


def test_what_a_plugin_author_must_know_is_written_down():
    assert "`detail`" in _section("normalize"), "the ValueError's message is shown to the sender"
    assert "<connector id>.<the provider's event name>" in _section("normalize"), "event types are named one way"
    assert "replay" in _section("verify_signature") and "X-GitHub-Delivery" in _section("verify_signature")
    assert "APP_BASE_URL + /api/oauth/callback/<id>" in _section("oauth_config")
    info = _section("connector_info")
    assert "`configured`" in info and "PATCH /api/integrations/<id>" in info and "dropped" in info
    assert "4096" in _section("sync"), "cursor size"
