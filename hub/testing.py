"""pytest fixtures for the hub and for connector plugins' own tests.

Enable with `pytest_plugins = ["hub.testing"]`. Every test that uses `app`
runs once on SQLite and once on PostgreSQL (when reachable). Each test run
gets its own PostgreSQL schema and its own Redis key prefix, and each test
starts from empty tables. With `CI=true`, an unreachable PostgreSQL or Redis
fails the run instead of skipping.

Settings (environment): `HUB_TEST_POSTGRES_URL` (default
postgresql://127.0.0.1:5432/test), `HUB_TEST_REDIS_URL` (default
redis://127.0.0.1:6379/0), `HUB_TEST_DATABASES` (default "sqlite,postgresql").
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa

from hub.storage.crypto import generate_key_entry
from hub.storage.key_providers import generate_local_master_key

POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
DATABASES = [name.strip() for name in os.environ.get("HUB_TEST_DATABASES", "sqlite,postgresql").split(",") if name.strip()]
RUN_ID = secrets.token_hex(4)
# Settings that would leak from the developer's shell into tests.
ENV_PREFIXES_TO_DROP = ("HUB_", "OAUTH_", "DATABASE_URL", "REDIS_URL", "ENCRYPTION_KEY", "KMS_KEY", "SECRET_KEY", "APP_BASE_URL", "FRONTEND_URL")


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str, error: BaseException) -> None:
    """Fail on CI, skip elsewhere: CI machines always have the services."""
    message = f"{what} is unreachable ({type(error).__name__}: {error})"
    if in_ci():
        pytest.fail(f"{message}; CI=true requires it", pytrace=False)
    pytest.skip(message)


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES_TO_DROP)}


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres_only` run on the PostgreSQL parameter alone: their SQLite copies are deselected, not skipped."""
    kept, deselected = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        database = callspec.params.get("database_url") if callspec is not None else None
        if item.get_closest_marker("postgres_only") is not None and database not in (None, "postgresql"):
            deselected.append(item)
        else:
            kept.append(item)
    if deselected:
        config.hook.pytest_deselected(items=deselected)
        items[:] = kept


@pytest.fixture(scope="session")
def redis_url() -> str:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except Exception as exc:
        unavailable(f"Redis at {REDIS_URL}", exc)
    return REDIS_URL


@pytest.fixture(scope="session")
def redis_prefix(redis_url: str) -> Iterator[str]:
    """A key prefix no other test run uses; its keys are deleted at the end."""
    prefix = f"hubtest:{RUN_ID}:{_worker_suffix()}"
    yield prefix
    _delete_redis_keys(redis_url, prefix)


@pytest.fixture
def redis_client(redis_url: str) -> Any:
    import redis

    return redis.Redis.from_url(redis_url)


def postgres_schema_url(schema: str) -> Iterator[str]:
    """A URL of the test PostgreSQL whose search path is a new schema of this name, dropped afterwards."""
    from hub.storage.database import normalize_database_url

    admin_url = normalize_database_url(POSTGRES_URL)
    try:
        engine = sa.create_engine(admin_url, connect_args={"connect_timeout": 3})
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        unavailable(f"PostgreSQL at {POSTGRES_URL}", exc)
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def _postgres_schema_url() -> Iterator[str]:
    return postgres_schema_url(f"hub_test_{RUN_ID}_{_worker_suffix()}")


@pytest.fixture(scope="session", params=DATABASES)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database for this test run: SQLite file or a PostgreSQL schema."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('db') / 'hub.sqlite3'}"
        _migrate(url, tmp_path_factory)
        yield url
    elif request.param == "postgresql":
        generator = _postgres_schema_url()
        url = next(generator)
        _migrate(url, tmp_path_factory)
        yield url
        generator.close()
    else:
        raise ValueError(f"unknown test database {request.param}")


TEST_ENCRYPTION_KEY = generate_key_entry()
TEST_KMS_KEY = generate_local_master_key()


def base_config(database_url: str, instance_path: str) -> dict[str, Any]:
    return {
        "TESTING": True,
        "DATABASE_URL": database_url,
        "SECRET_KEY": "test-secret-key-" + RUN_ID,
        "KMS_KEY": TEST_KMS_KEY,
        "ENCRYPTION_KEY": TEST_ENCRYPTION_KEY,
        "HUB_INSTANCE_PATH": instance_path,
        "APP_BASE_URL": "http://hub.test",
        "FRONTEND_URL": "http://frontend.test",
        "HUB_REDIS_PREFIX": f"hubtest:{RUN_ID}:{_worker_suffix()}",
    }


def _migrate(url: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    from hub.app import create_app
    from hub.storage.database import upgrade_database
    from hub.storage.models import db

    app = create_app(base_config(url, str(tmp_path_factory.mktemp("instance"))), environ=clean_environ())
    with app.app_context():
        upgrade_database()
        db.engine.dispose()


def empty_tables() -> None:
    from hub.storage.models import db

    with db.engine.begin() as connection:
        for table in reversed(db.metadata.sorted_tables):
            connection.execute(table.delete())


AppFactory = Callable[..., Any]


@pytest.fixture
def make_app(database_url: str, tmp_path: Any) -> Iterator[AppFactory]:
    """Build apps on the test database with extra config; tables are emptied afterwards."""
    from hub.app import create_app
    from hub.storage.models import db

    built: list[Any] = []

    redis_prefix = f"hubtest:{RUN_ID}:{_worker_suffix()}:{secrets.token_hex(3)}"

    def factory(environ: dict[str, str] | None = None, **config: Any) -> Any:
        settings = base_config(database_url, str(tmp_path / "instance"))
        settings["HUB_REDIS_PREFIX"] = redis_prefix
        settings.update(config)
        env = clean_environ()
        env.update(environ or {})
        app = create_app(settings, environ=env)
        built.append(app)
        return app

    yield factory
    for app in built:
        with app.app_context():
            db.session.remove()
    on_test_database = [app for app in built if app.config["DATABASE_URL"] == database_url]
    if on_test_database:
        with on_test_database[0].app_context():
            empty_tables()
    for app in built:
        with app.app_context():
            db.engine.dispose()
    redis_urls = {app.config.get("REDIS_URL") for app in built} - {None, ""}
    for url in redis_urls:
        _delete_redis_keys(url, redis_prefix)


def _delete_redis_keys(url: str, prefix: str) -> None:
    """Delete every key that carries this test's prefix (anywhere in the key: Huey puts its own first)."""
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2)
        for key in client.scan_iter(match=f"*{prefix}*", count=1000):
            client.delete(key)
    except redis.RedisError:
        pass


@pytest.fixture(autouse=True)
def _push_request_context() -> None:
    """Replace pytest-flask's shared request context: each test request gets its own
    app context and database session, exactly as in production."""


@pytest.fixture
def app(make_app: AppFactory) -> Any:
    return make_app()


@dataclass
class TenantCredentials:
    id: str
    api_key: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def make_tenant(app: Any, name: str) -> TenantCredentials:
    """A new tenant of `app` and its first API key (what `tenant` and `other_tenant` give, for a third)."""
    from hub.tenancy.tenants import create_tenant

    with app.app_context():
        tenant, api_key = create_tenant(name)
        return TenantCredentials(id=tenant.id, api_key=api_key)


@pytest.fixture
def tenant(app: Any) -> TenantCredentials:
    return make_tenant(app, "Acme")


@pytest.fixture
def other_tenant(app: Any) -> TenantCredentials:
    return make_tenant(app, "Globex")


def host_factory(connector: str) -> Callable[..., Any]:
    """For a plugin's `make_host` fixture: a plugin host with every installed connector and only
    the given settings (no environment), checked to include `connector`."""
    from hub.plugins import PluginHost

    def build(**settings: str) -> PluginHost:
        host = PluginHost(settings, environ={}).load()
        assert connector in host.connectors, host.broken
        return host

    return build
