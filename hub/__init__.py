"""hub: a plugin-based integration hub.

Plugin authors write `from hub import hookimpl`; operators run
`gunicorn -c python:hub.gunicorn_config "hub:create_app()"`. Importing this package loads nothing but
pluggy and the plain values of hub.types, so a connector package stays cheap to import.
"""

from __future__ import annotations

from typing import Any

from hub.hookspecs import hookimpl

__all__ = ["create_app", "hookimpl"]


def create_app(config: dict[str, Any] | None = None) -> Any:
    """Build the Flask app: defaults, then environment, then `config`."""
    from hub.app import create_app as _create_app

    return _create_app(config)
