"""Settings: defaults, then the environment, then explicit config.

Development must work with no settings at all, so missing secrets are
generated into the instance folder (with a warning). Production must never
run on those conveniences, so `HUB_ENV=production` refuses to start and
names every development default still in force.
"""

from __future__ import annotations

import logging
import os
import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hub.errors import ConfigurationError
from hub.logs import LOG_FORMATS
from hub.storage.key_providers import generate_local_master_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Setting:
    """One setting: its name (the environment variable), its default, how a value is read, what it is for."""

    name: str
    default: Any
    parse: Callable[[str, Any], Any]
    doc: str
    default_doc: str | None = None  # how docs show the default, where the value alone would not say it


def text(name: str, value: Any) -> Any:
    """Taken as given: environment text, or whatever explicit config passed."""
    return value


def integer(name: str, value: Any) -> int:
    return _as_number(name, value, int)


def number(name: str, value: Any) -> float:
    return _as_number(name, value, float)


def at_least_one(name: str, value: Any) -> int:
    """A whole number of at least 1."""
    parsed = integer(name, value)
    if parsed < 1:
        raise ConfigurationError(f"{name} must be at least 1")
    return parsed


def flag(name: str, value: Any) -> bool:
    """`true` or `false` (also 1/0, yes/no, on/off); explicit config may pass a bool."""
    if isinstance(value, bool):
        return value
    text_value = str(value).strip().lower()
    if text_value in ("1", "true", "yes", "on"):
        return True
    if text_value in ("0", "false", "no", "off", ""):
        return False
    raise ConfigurationError(f"{name} must be true or false")


def seconds_schedule(name: str, value: Any) -> tuple[float, ...]:
    """Comma-separated delays in seconds, each at least 0, at least one."""
    parts = value if isinstance(value, (list, tuple)) else str(value).split(",")
    try:
        delays = tuple(float(part) for part in parts)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be comma-separated numbers of seconds") from None
    if not delays or any(delay < 0 or delay != delay for delay in delays):
        raise ConfigurationError(f"{name} must hold at least one delay, none negative")
    return delays


def url(name: str, value: Any) -> Any:
    """A base URL, without its trailing slash (paths are appended to it)."""
    return str(value).rstrip("/") if value else value


def folder(name: str, value: Any) -> str:
    return str(Path(value or "instance").resolve())


def log_format(name: str, value: Any) -> str:
    if value not in LOG_FORMATS:
        raise ConfigurationError(f"{name} must be {', '.join(LOG_FORMATS[:-1])} or {LOG_FORMATS[-1]}")
    return value


FRAME_SOURCE = re.compile(r"'none'|'self'|https?://(\*\.)?[a-z0-9.-]+(:[0-9]{1,5})?", re.IGNORECASE)


def frame_ancestors(name: str, value: Any) -> str:
    """CSP `frame-ancestors` sources: `'none'`, `'self'` or origins (`https://app.example`), space-separated."""
    sources = str(value or "'none'").split()
    if not sources or not all(FRAME_SOURCE.fullmatch(source) for source in sources):
        raise ConfigurationError(f"{name} must be 'none', 'self' or origins such as https://app.example, separated by spaces")
    if "'none'" in sources and len(sources) > 1:
        raise ConfigurationError(f"{name}: 'none' stands alone")
    return " ".join(sources)


def _as_number(name: str, value: Any, kind: type) -> Any:
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigurationError(f"{name} must be a number") from None


# Every setting of the hub, read from the environment by name (connector settings,
# `OAUTH_<ID>_*` and `<ID>_*`, are collected per connector once the connectors are
# known: see `connector_settings`). docs/configuration.md is generated from this table.
SETTINGS: tuple[Setting, ...] = (
    Setting("HUB_ENV", "development", text, "`production` refuses to start on any development default and names each one."),
    Setting("HUB_INSTANCE_PATH", None, folder, "Folder for embedded files: the SQLite database and queues, generated development keys.", "`./instance`"),
    Setting("DATABASE_URL", None, text, "PostgreSQL (`postgresql://...`) or SQLite URL.", "SQLite in the instance folder"),
    Setting("REDIS_URL", None, text, "Redis for leases, OAuth state, rate limits and the queues; unset, the hub runs embedded (database and SQLite)."),
    Setting("HUB_REDIS_PREFIX", "hub", text, "Prefix of every Redis key the hub writes, so several hubs (or test runs) can share one Redis."),
    Setting("KMS_KEY", None, text, "Key provider that wraps each tenant's data keys: a base64 32-byte key (or several, newest first) for `local`, `aws-kms:<key id, ARN or alias>`, or `<plugin>:<spec>` (`hub keys generate` makes a local key).", "generated in development"),
    Setting("ENCRYPTION_KEY", None, text, "The key ring that sealed secrets before data keys (`id:base64key,...`): needed only until `hub keys rotate --data-keys` has moved them."),
    Setting("HUB_DATA_KEY_CACHE_SECONDS", 300, number, "How long an unwrapped data key stays in process memory (the key provider is asked once per key per period)."),
    Setting("HUB_DATA_KEY_CACHE_SIZE", 10000, integer, "Most unwrapped data keys kept in process memory (least recently used leave first)."),
    Setting("APP_BASE_URL", "http://127.0.0.1:5000", url, "The hub's public URL: OAuth redirect URIs and webhook URLs start with it."),
    Setting("FRONTEND_URL", None, url, "Where the OAuth callback sends the browser back (unset: the hub's own `/connect/result` page); `return_to` must lie under it.", "`APP_BASE_URL`"),
    Setting("SECRET_KEY", None, text, "Signs connect tokens; production needs at least 32 random characters.", "generated in development"),
    Setting("HUB_PLUGINS", "", text, "Comma-separated modules loaded as plugins (for a host app that packages none)."),
    Setting("HUB_DISABLED_CONNECTORS", "", text, "Comma-separated connector ids not to load."),
    Setting("HUB_TENANT_RATE_LIMIT", "600/minute", text, "Management API calls per tenant, in the `limits` notation; `off` disables it."),
    Setting("HUB_WEBHOOK_RATE_LIMIT", "6000/minute", text, "Verified webhook deliveries per integration (per provider account at an app-level URL)."),
    Setting("HUB_WEBHOOK_FAILURE_RATE_LIMIT", "120/minute", text, "Deliveries that fail verification, per endpoint; past it they get 429 instead of 401."),
    Setting("HUB_MAX_WEBHOOK_BYTES", 1024 * 1024, integer, "Largest webhook body (413 past it)."),
    Setting("HUB_MAX_REQUEST_BYTES", 64 * 1024, integer, "Largest management request body (413 past it, refused before it is buffered)."),
    Setting("HUB_PROXY_MAX_BYTES", 10 * 1024 * 1024, integer, "Largest request body the proxy forwards to a provider (413 past it)."),
    Setting("HUB_PROXY_TIMEOUT_SECONDS", 25.0, number, "Deadline of one proxied call, retries included (504 past it); keep it under the gunicorn worker timeout."),
    Setting("HUB_PROXY_MAX_RETRY_AFTER_SECONDS", 10.0, number, "Longest provider `Retry-After` the proxy waits out; a longer one returns the provider's answer at once."),
    Setting("HUB_PROXY_RATE_LIMIT", "6000/minute", text, "Proxied calls per integration, in the `limits` notation; `off` disables it."),
    Setting("HUB_JOB_MAX_ATTEMPTS", 8, integer, "Attempts of a job before it, and its event, are dead."),
    Setting("HUB_JOB_BACKOFF_SECONDS", 2.0, number, "Delay before the first retry; it doubles with each attempt, with jitter, up to an hour."),
    Setting("HUB_JOB_LEASE_SECONDS", 60, number, "How long a silent consumer keeps a job before another may take it over."),
    Setting("HUB_JOB_REDISPATCH_SECONDS", 300, integer, "How long a stored job may wait for its enqueue before the relay enqueues it again."),
    Setting("HUB_JOB_RETENTION_DAYS", 7, integer, "Days a done job is kept."),
    Setting("HUB_EVENT_RETENTION_DAYS", 30, at_least_one, "Days a processed event is kept, which is also the dedupe window (at least 1)."),
    Setting("HUB_DEAD_EVENT_RETENTION_DAYS", 90, at_least_one, "Days a dead event is kept (at least 1, and never less than `HUB_EVENT_RETENTION_DAYS`)."),
    Setting("HUB_SYNC_INTERVAL_SECONDS", 3600, integer, "How often each syncable integration is synced."),
    Setting("HUB_HEALTH_CHECK_INTERVAL_SECONDS", 900, integer, "How often each integration's health is checked."),
    Setting("HUB_CONNECT_TOKEN_TTL_SECONDS", 900, integer, "Lifetime of a connect token."),
    Setting("HUB_OAUTH_STATE_TTL_SECONDS", 600, integer, "Lifetime of an OAuth flow's state, and of its cookie in the browser."),
    Setting("HUB_MAX_INTEGRATIONS_PER_TENANT", 1000, integer, "Live integrations a tenant may hold (409 `integration-quota-exceeded` past it)."),
    Setting("HUB_MAX_DESTINATIONS_PER_TENANT", 50, integer, "Destinations a tenant may register (409 `destination-quota-exceeded` past it)."),
    Setting("HUB_DESTINATIONS_ALLOW_PRIVATE", False, flag, "Allow destinations at private, loopback and reserved addresses (development and tests; refused in production)."),
    Setting("HUB_DELIVERY_TIMEOUT_SECONDS", 15.0, number, "A delivery attempt fails when the receiver has not connected or answered within this many seconds."),
    Setting("HUB_DELIVERY_SCHEDULE", (5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0), seconds_schedule, "Delays in seconds before each retry of a failed delivery (+-20 % jitter); after the last, the delivery is failed.", "`5,300,1800,7200,18000,36000,36000`"),
    Setting("HUB_DESTINATION_DISABLE_AFTER_HOURS", 120.0, number, "A destination that has answered nothing but failures for this long is disabled."),
    Setting("HUB_DELIVERY_CONCURRENCY_PER_DESTINATION", 2, at_least_one, "Consumer threads working on one destination at once (each through a batch of its due deliveries, one attempt at a time), so a slow receiver cannot occupy every `deliveries` consumer."),
    Setting("HUB_CONNECT_FRAME_ANCESTORS", "'none'", frame_ancestors, "Who may frame the Connect page (CSP `frame-ancestors`): `'none'`, `'self'` or the host app's origins, space-separated."),
    Setting("HUB_CONSOLE_IDLE_SECONDS", 1800, at_least_one, "A console session unused this long is signed out."),
    Setting("HUB_CONSOLE_SESSION_SECONDS", 12 * 3600, at_least_one, "A console session ends this long after sign-in, however busy."),
    Setting("HUB_CONSOLE_SIGN_IN_RATE_LIMIT", "10/minute", text, "Console sign-in attempts per client address, in the `limits` notation; `off` disables it."),
    Setting("HUB_LOG_LEVEL", "INFO", text, "Python log level of the hub's own logs."),
    Setting("HUB_LOG_FORMAT", "auto", log_format, "`json` lines, `text`, or `auto`: JSON, or plain text when stderr is a terminal."),
    Setting("HUB_METRICS_TOKEN", None, text, "Bearer token a scrape of `/metrics` must send."),
    Setting("HUB_METRICS_LISTEN", None, text, "`host:port` of a separate metrics listener (`hub metrics serve`); the API then serves no `/metrics`."),
)
SETTINGS_BY_NAME = {setting.name: setting for setting in SETTINGS}
DEFAULTS: dict[str, Any] = {setting.name: setting.default for setting in SETTINGS}


def load_settings(explicit: Mapping[str, Any] | None, environ: Mapping[str, str]) -> dict[str, Any]:
    """Merge defaults, the environment and explicit config, in that order; then read each setting by its parser."""
    settings: dict[str, Any] = dict(DEFAULTS)
    for name in SETTINGS_BY_NAME:
        if environ.get(name) not in (None, ""):
            settings[name] = environ[name]
    settings.update(explicit or {})
    for setting in SETTINGS:
        settings[setting.name] = setting.parse(setting.name, settings[setting.name])
    if not settings["FRONTEND_URL"]:
        settings["FRONTEND_URL"] = settings["APP_BASE_URL"]
    return settings


def settings_reference() -> str:
    """The table of docs/configuration.md: every setting, its default and what it is for."""
    rows = ["| setting | default | what it is for |", "|---|---|---|"]
    for setting in SETTINGS:
        if setting.default_doc is not None:
            default = setting.default_doc
        elif setting.default in (None, ""):
            default = "unset"
        else:
            default = f"`{setting.default}`"
        rows.append(f"| `{setting.name}` | {default} | {setting.doc} |")
    return "\n".join(rows) + "\n"


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
    if not settings.get("KMS_KEY"):
        problems.append("KMS_KEY is not set (a generated development master key would be used)")
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
    if settings.get("HUB_DESTINATIONS_ALLOW_PRIVATE"):
        problems.append("HUB_DESTINATIONS_ALLOW_PRIVATE is true (destinations could reach private and loopback addresses)")
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
    if not settings.get("KMS_KEY"):
        settings["KMS_KEY"] = _instance_secret(instance / "kms_key", generate_local_master_key)
        generated.append("KMS_KEY")
    legacy_ring = instance / "encryption_key"
    if not settings.get("ENCRYPTION_KEY") and legacy_ring.exists():
        # A development instance from before data keys: its ring still opens what it sealed.
        settings["ENCRYPTION_KEY"] = legacy_ring.read_text().strip()
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
