"""HTTP blueprints. Each is thin: parse, authenticate, call a service, shape the reply."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from hub.api import connectors, health, integrations, metrics, openapi

    app.register_blueprint(health.blueprint)
    app.register_blueprint(connectors.blueprint)
    app.register_blueprint(integrations.blueprint)
    app.register_blueprint(metrics.blueprint)
    app.register_blueprint(openapi.blueprint)
    from hub.api import connect, destinations, events, keys, oauth, proxy, webhooks

    app.register_blueprint(connect.blueprint)
    app.register_blueprint(oauth.blueprint)
    app.register_blueprint(webhooks.blueprint)
    app.register_blueprint(events.blueprint)
    app.register_blueprint(keys.blueprint)
    app.register_blueprint(destinations.blueprint)
    app.register_blueprint(proxy.blueprint)
