"""The hub in a browser: the Connect page for end users and the console for a tenant's operators.

Server-rendered pages (Jinja templates, plain CSS, a few lines of script from
the hub's own origin that only add a copy button), so every page works with
JavaScript off and under a strict Content Security Policy: nothing inline,
nothing from another origin (hub.web.pages).
"""

from __future__ import annotations

from flask import Flask


def register_web(app: Flask) -> None:
    from hub.web import assets, connect_page, console_auth, console_destinations, console_events, console_integrations

    app.register_blueprint(assets.blueprint)
    app.register_blueprint(connect_page.blueprint)
    app.register_blueprint(console_auth.blueprint)
    app.register_blueprint(console_integrations.blueprint)
    app.register_blueprint(console_events.blueprint)
    app.register_blueprint(console_destinations.blueprint)
