"""Settings: defaults, then the environment, then explicit config.

Development must work with no settings at all, so missing secrets are
generated into the instance folder (with a warning). Production must never
run on those conveniences, so `HUB_ENV=production` refuses to start and
names every development default still in force.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hub.errors import ConfigurationError
from hub.storage.crypto import generate_key_entry

log = logging.getLogger(__name__)

DEFAULTS: dict[str, Any] = {
    "HUB_ENV": "development",
    "APP_BASE_URL": "http://127.0.0.1:5000",
    "FRONTEND_URL": None,  # falls back to APP_BASE_URL
    "REDIS_URL": None,
    "HUB_REDIS_PREFIX": "hub",
    "ENCRYPTION_KEY": None,
    "KMS_KEY": None,
    "HUB_PLUGINS": "",
    "HUB_DISABLED_CONNECTORS": "",
    "HUB_TENANT_RATE_LIMIT": "600/minute",
    "HUB_WEBHOOK_RATE_LIMIT": "6000/minute",
    "HUB_WEBHOOK_FAILURE_RATE_LIMIT": "120/minute",
    "HUB_MAX_WEBHOOK_BYTES": 1024 * 1024,
    "HUB_MAX_REQUEST_BYTES": 64 * 1024,
    "HUB_JOB_MAX_ATTEMPTS": 8,
    "HUB_JOB_BACKOFF_SECONDS": 2.0,
    "HUB_JOB_LEASE_SECONDS": 60,
    "HUB_JOB_REDISPATCH_SECONDS": 300,
    "HUB_JOB_RETENTION_DAYS": 7,
    "HUB_EVENT_RETENTION_DAYS": 30,
    "HUB_DEAD_EVENT_RETENTION_DAYS": 90,
    "HUB_SYNC_INTERVAL_SECONDS": 3600,
    "HUB_HEALTH_CHECK_INTERVAL_SECONDS": 900,
    "HUB_CONNECT_TOKEN_TTL_SECONDS": 900,
    "HUB_OAUTH_STATE_TTL_SECONDS": 600,
    "HUB_MAX_INTEGRATIONS_PER_TENANT": 1000,
    "HUB_LOG_LEVEL": "INFO",
    "HUB_METRICS_TOKEN": None,
    "HUB_METRICS_LISTEN": None,
    "HUB_LOG_FORMAT": "auto",
}

# Settings read from the environment by name. Connector settings
# (`OAUTH_<ID>_*`, `<ID>_*`) are collected separately once the connectors are known.
ENV_NAMES = (
    "HUB_ENV",
    "HUB_INSTANCE_PATH",
    "DATABASE_URL",
    "REDIS_URL",
    "HUB_REDIS_PREFIX",
    "ENCRYPTION_KEY",
    "KMS_KEY",
    "APP_BASE_URL",
    "FRONTEND_URL",
    "SECRET_KEY",
    "HUB_PLUGINS",
    "HUB_DISABLED_CONNECTORS",
    "HUB_TENANT_RATE_LIMIT",
    "HUB_WEBHOOK_RATE_LIMIT",
    "HUB_WEBHOOK_FAILURE_RATE_LIMIT",
    "HUB_MAX_WEBHOOK_BYTES",
    "HUB_MAX_REQUEST_BYTES",
    "HUB_JOB_MAX_ATTEMPTS",
    "HUB_JOB_BACKOFF_SECONDS",
    "HUB_JOB_LEASE_SECONDS",
    "HUB_JOB_REDISPATCH_SECONDS",
    "HUB_JOB_RETENTION_DAYS",
    "HUB_EVENT_RETENTION_DAYS",
    "HUB_DEAD_EVENT_RETENTION_DAYS",
    "HUB_SYNC_INTERVAL_SECONDS",
    "HUB_HEALTH_CHECK_INTERVAL_SECONDS",
    "HUB_CONNECT_TOKEN_TTL_SECONDS",
    "HUB_OAUTH_STATE_TTL_SECONDS",
    "HUB_MAX_INTEGRATIONS_PER_TENANT",
    "HUB_LOG_LEVEL",
    "HUB_METRICS_TOKEN",
    "HUB_METRICS_LISTEN",
    "HUB_LOG_FORMAT",
)

INTEGER_SETTINGS = {
    "HUB_MAX_WEBHOOK_BYTES",
    "HUB_MAX_REQUEST_BYTES",
    "HUB_JOB_MAX_ATTEMPTS",
    "HUB_JOB_REDISPATCH_SECONDS",
    "HUB_JOB_RETENTION_DAYS",
    "HUB_EVENT_RETENTION_DAYS",
    "HUB_DEAD_EVENT_RETENTION_DAYS",
    "HUB_SYNC_INTERVAL_SECONDS",
    "HUB_HEALTH_CHECK_INTERVAL_SECONDS",
    "HUB_CONNECT_TOKEN_TTL_SECONDS",
    "HUB_OAUTH_STATE_TTL_SECONDS",
    "HUB_MAX_INTEGRATIONS_PER_TENANT",
}
FLOAT_SETTINGS = {"HUB_JOB_BACKOFF_SECONDS", "HUB_JOB_LEASE_SECONDS"}
# Retention windows: at least a day, so a provider's retry of a fresh event is still recognised.
POSITIVE_SETTINGS = {"HUB_EVENT_RETENTION_DAYS", "HUB_DEAD_EVENT_RETENTION_DAYS"}


def load_settings(explicit: Mapping[str, Any] | None, environ: Mapping[str, str]) -> dict[str, Any]:
    """Merge defaults, the environment and explicit config, in that order."""
    settings: dict[str, Any] = dict(DEFAULTS)
    for name in ENV_NAMES:
        if environ.get(name) not in (None, ""):
            settings[name] = environ[name]
    settings.update(explicit or {})
    for name in INTEGER_SETTINGS:
        settings[name] = _as_number(name, settings[name], int)
    for name in FLOAT_SETTINGS:
        settings[name] = _as_number(name, settings[name], float)
    for name in POSITIVE_SETTINGS:
        if settings[name] < 1:
            raise ConfigurationError(f"{name} must be at least 1")
    settings["HUB_INSTANCE_PATH"] = str(
        Path(settings.get("HUB_INSTANCE_PATH") or "instance").resolve()
    )
    if not settings.get("FRONTEND_URL"):
        settings["FRONTEND_URL"] = settings["APP_BASE_URL"]
    settings["APP_BASE_URL"] = str(settings["APP_BASE_URL"]).rstrip("/")
    settings["FRONTEND_URL"] = str(settings["FRONTEND_URL"]).rstrip("/")
    if settings["HUB_LOG_FORMAT"] not in ("auto", "json", "text"):
        raise ConfigurationError("HUB_LOG_FORMAT must be auto, json or text")
    return settings


def _as_number(name: str, value: Any, kind: type) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number") from None


# A SECRET_KEY signs connect tokens: it needs real entropy, not a word.
MIN_SECRET_KEY_LENGTH = 32
MIN_SECRET_KEY_DISTINCT_CHARACTERS = 10


def development_defaults_in_force(settings: Mapping[str, Any]) -> list[str]:
    """Name every setting that still runs on a development convenience or is unsafe for production."""
    problems = []
    secret_key = str(settings.get("SECRET_KEY") or "")
    if not secret_key:
        problems.append("SECRET_KEY is not set (a generated development key would be used)")
    elif len(secret_key) < MIN_SECRET_KEY_LENGTH or len(set(secret_key)) < MIN_SECRET_KEY_DISTINCT_CHARACTERS:
        problems.append(
            f"SECRET_KEY is too weak (production needs at least {MIN_SECRET_KEY_LENGTH} random characters, "
            "such as Python's secrets.token_urlsafe(48))"
        )
    if not settings.get("ENCRYPTION_KEY"):
        problems.append("ENCRYPTION_KEY is not set (a generated development key ring would be used)")
    database_url = settings.get("DATABASE_URL") or ""
    if not database_url:
        problems.append("DATABASE_URL is not set (the embedded SQLite file would be used)")
    elif database_url.startswith("sqlite"):
        problems.append("DATABASE_URL points at SQLite; production needs PostgreSQL")
    app_base_url = str(settings.get("APP_BASE_URL") or "")
    if app_base_url == DEFAULTS["APP_BASE_URL"]:
        problems.append("APP_BASE_URL is the development default http://127.0.0.1:5000")
    elif not app_base_url.lower().startswith("https://"):
        problems.append("APP_BASE_URL must be an https:// URL (OAuth redirects and webhook URLs carry secrets)")
    if not settings.get("REDIS_URL"):
        problems.append("REDIS_URL is not set (production keeps OAuth state, locks, rate limits and queues in Redis)")
    if not settings.get("HUB_METRICS_TOKEN") and not settings.get("HUB_METRICS_LISTEN"):
        problems.append("HUB_METRICS_TOKEN is not set and HUB_METRICS_LISTEN names no separate listener (/metrics would be public)")
    return problems


def apply_development_defaults(settings: dict[str, Any]) -> None:
    """Fill secrets and the database for development, or refuse in production."""
    if settings["HUB_ENV"] == "production":
        problems = development_defaults_in_force(settings)
        if problems:
            raise ConfigurationError(
                "HUB_ENV=production refuses development defaults: " + "; ".join(problems)
            )
        return
    instance = Path(settings["HUB_INSTANCE_PATH"])
    if not settings.get("DATABASE_URL"):
        instance.mkdir(parents=True, exist_ok=True)
        settings["DATABASE_URL"] = f"sqlite:///{instance / 'hub.sqlite3'}"
    generated = []
    if not settings.get("SECRET_KEY"):
        settings["SECRET_KEY"] = _instance_secret(instance / "secret_key", lambda: secrets.token_urlsafe(48))
        generated.append("SECRET_KEY")
    if not settings.get("ENCRYPTION_KEY"):
        settings["ENCRYPTION_KEY"] = _instance_secret(instance / "encryption_key", generate_key_entry)
        generated.append("ENCRYPTION_KEY")
    if generated:
        _announce_generated_keys(instance, tuple(generated))


# What this process has already said about generated keys: some processes
# build the app more than once, and one notice per instance folder is enough.
_ANNOUNCED: set[tuple[str, tuple[str, ...]]] = set()


def _announce_generated_keys(instance: Path, names: tuple[str, ...]) -> None:
    if (str(instance), names) in _ANNOUNCED:
        return
    _ANNOUNCED.add((str(instance), names))
    log.warning(
        "development mode: %s %s not set; using generated keys kept in %s (set them, and HUB_ENV=production, for a deployment)",
        " and ".join(names), "are" if len(names) > 1 else "is", instance,
    )


def _instance_secret(path: Path, make: Any) -> str:
    """Read a generated secret, creating it once (mode 0600) if it does not exist."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    value = make()
    with os.fdopen(fd, "w") as handle:
        handle.write(value + "\n")
    return value


def connector_settings(config: Mapping[str, Any], environ: Mapping[str, str], connector_id: str) -> dict[str, str]:
    """The settings one connector may read: `<ID>_*` and `OAUTH_<ID>_*`, config over environment."""
    upper = connector_id.upper()
    prefixes = (f"{upper}_", f"OAUTH_{upper}_")
    found = {k: v for k, v in environ.items() if k.startswith(prefixes) and v != ""}
    found.update({k: v for k, v in config.items() if isinstance(k, str) and k.startswith(prefixes) and v is not None})
    return {k: str(v) for k, v in found.items()}
