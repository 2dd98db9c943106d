"""The Flask application factory: where the parts of the hub are chosen and put together.

It builds the app's one registry (hub.runtime.Hub): the settings, the
envelope (key provider, data key cache, legacy key ring) and plugins; the
stores, each chosen once here between Redis and the database (leases, rate limits, OAuth state, console sessions, the Huey queues); and the per-app parts of
the subsystems. It is also where the queue is handed the work it carries (the
job runner and the periodic tick of hub.worker), so the queue never imports
the worker.
"""

from __future__ import annotations

import os
from datetime import timedelta
from collections.abc import Mapping
from typing import Any

from flask import Flask, Request
from flask.sessions import SessionInterface, SessionMixin

from hub.api import register_blueprints
from hub.api.problems import register_problem_handlers
from hub.api.validation import refuse_nul_in_url
from hub.web import register_web
from hub.config import apply_development_defaults, load_settings
from hub.logs import configure_logging, init_request_ids
from hub.monitoring.gauges import GaugeCache
from hub.plugins import PluginHost
from hub.queue.queues import Queues
from hub.runtime import Hub
from hub.storage.console_sessions import DatabaseConsoleSessions, RedisConsoleSessions
from hub.storage.crypto import KeyRing
from hub.storage.data_key_cache import DataKeyCache
from hub.storage.envelope import Envelope
from hub.storage.key_providers import LocalKeyProvider, load_key_provider
from hub.storage.database import init_database
from hub.storage.leases import DatabaseLeases, RedisLeases
from hub.storage.oauth_states import DatabaseOAuthStates, RedisOAuthStates
from hub.storage.rate_limits import RateLimits
from hub.storage.redis import connect as connect_redis
from hub.webhooks.endpoint_cache import EndpointCache
from hub.worker.periodic import run_periodic_work
from hub.worker.runner import run_job


class NoCookieSessions(SessionInterface):
    """Flask's cookie session is never used: callers authenticate with API keys or
    connect tokens, OAuth state lives server-side, and the console keeps its
    own server-side sessions (hub.web.console_auth). Not opening Flask's
    cookie session spares every request a signing serializer and a cookie parse."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return None  # Flask substitutes its null session, which refuses writes

    def save_session(self, app: Flask, session: SessionMixin, response: Any) -> None:
        return None


def create_app(config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> Flask:
    """Defaults, then the environment, then `config`; refuses unsafe production settings."""
    environ = os.environ if environ is None else environ
    settings = load_settings(config, environ)
    configure_logging(settings["HUB_LOG_LEVEL"], settings["HUB_LOG_FORMAT"])
    apply_development_defaults(settings)

    app = Flask("hub", instance_path=settings["HUB_INSTANCE_PATH"])
    app.config.update(settings)
    # A body past this is refused (413) before it is buffered, by whatever reads it; routes
    # that take a body read it through hub.api.request_body (webhooks with HUB_MAX_WEBHOOK_BYTES).
    app.config["MAX_CONTENT_LENGTH"] = settings["HUB_MAX_REQUEST_BYTES"]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = NoCookieSessions()

    provider = load_key_provider(settings["KMS_KEY"], settings)
    local_master_keys = provider.spec if isinstance(provider, LocalKeyProvider) else None
    keyring = KeyRing.from_setting(settings["ENCRYPTION_KEY"], local_master_keys) if settings.get("ENCRYPTION_KEY") else None
    cache = DataKeyCache(settings["HUB_DATA_KEY_CACHE_SECONDS"], settings["HUB_DATA_KEY_CACHE_SIZE"])
    plugins = PluginHost(settings, environ).load()
    init_database(app)
    redis = connect_redis(settings["REDIS_URL"]) if settings.get("REDIS_URL") else None
    prefix = settings["HUB_REDIS_PREFIX"]
    console_idle = timedelta(seconds=settings["HUB_CONSOLE_IDLE_SECONDS"])
    hub = Hub(
        settings=settings,
        envelope=Envelope(provider, cache, keyring),
        keyring=keyring,
        plugins=plugins,
        redis=redis,
        leases=RedisLeases(redis, prefix) if redis is not None else DatabaseLeases(),
        rate_limits=RateLimits(settings, redis),
        oauth_states=RedisOAuthStates(redis, prefix) if redis is not None else DatabaseOAuthStates(),
        console_sessions=(
            RedisConsoleSessions(redis, prefix, console_idle) if redis is not None else DatabaseConsoleSessions(console_idle)
        ),
    )
    app.extensions["hub"] = hub
    hub.attach(Queues(app, settings=settings, redis=redis, run_job=run_job, periodic=run_periodic_work))
    hub.attach(EndpointCache())
    hub.attach(GaugeCache())

    register_problem_handlers(app)
    init_request_ids(app)
    app.before_request(refuse_nul_in_url)
    register_blueprints(app)
    register_web(app)
    return app
