"""The hub's pytest plugin: fixtures for the hub's tests and for connector packages' own.

It loads itself wherever the hub is installed (a `pytest11` entry point), so
a connector package's tests need no `pytest_plugins` line and no conftest
from the hub's checkout. docs/testing_connectors.md lists what it gives.

Every test that uses `app` (or `make_app`, `tenant`, ...) runs once per test
database: SQLite unless asked for more, with `HUB_TEST_DATABASES` (say
`sqlite,postgresql`) or the `hub_test_databases` ini option (the hub's own
pyproject.toml asks for both). Each test run gets its own PostgreSQL schema
and its own Redis key prefix, and each test starts from empty tables. An
unreachable PostgreSQL or Redis skips its tests with the reason, except with
`CI=true`, where it fails them: CI machines always have the services.

Settings (environment): `HUB_TEST_DATABASES`, `HUB_TEST_POSTGRES_URL`
(default postgresql://127.0.0.1:5432/test), `HUB_TEST_REDIS_URL` (default
redis://127.0.0.1:6379/0).
"""

from __future__ import annotations

import importlib.util
import os
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

import pytest
import requests
import sqlalchemy as sa

pytest.register_assert_rewrite("hub.testkit")

from hub.provider.session import provider_session  # noqa: E402 - after the rewrite hook, so the test kit's asserts explain themselves
from hub.storage.crypto import generate_key_entry  # noqa: E402
from hub.storage.key_providers import generate_local_master_key  # noqa: E402
from hub.testkit.contract import ConnectorContract, SampleDelivery  # noqa: E402
from hub.testkit.http_server import serve_wsgi  # noqa: E402
from hub.testkit.oauth_server import FakeOAuthProvider  # noqa: E402
from hub.testkit.plugin_install import assert_installs_alone  # noqa: E402
from hub.testkit.provider_api import FakeProviderAPI, RecordedRequest, quota_exhausted_headers  # noqa: E402
from hub.testkit.sync_pages import sync_page, sync_until_done  # noqa: E402

__all__ = [
    "ConnectorContract", "FakeOAuthProvider", "FakeProviderAPI", "RecordedRequest", "SampleDelivery", "TenantCredentials",
    "assert_installs_alone", "clean_environ", "connect_with_oauth", "drain_queues", "host_factory", "make_tenant",
    "provider_session", "quota_exhausted_headers", "serve_wsgi", "sync_page", "sync_until_done",
]

POSTGRES_URL = os.environ.get("HUB_TEST_POSTGRES_URL", "postgresql://127.0.0.1:5432/test")
REDIS_URL = os.environ.get("HUB_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
KNOWN_DATABASES = ("sqlite", "postgresql")
MARKERS = (
    "postgres_only: runs only against PostgreSQL",
    "installs_packages: builds a fresh virtualenv and pip-installs into it (tens of seconds)",
)
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


def unavailable_driver() -> None:
    """PostgreSQL asked for but its driver not installed: say what to install, or how to run without it."""
    message = (
        "PostgreSQL tests need the psycopg driver: pip install 'hub[postgres]', "
        "or set HUB_TEST_DATABASES=sqlite to run on SQLite alone"
    )
    if in_ci():
        pytest.fail(f"{message}; CI=true requires PostgreSQL", pytrace=False)
    pytest.skip(message)


def clean_environ() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIXES_TO_DROP)}


def _worker_suffix() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addini("hub_test_databases", "test databases every `app` test runs on (HUB_TEST_DATABASES overrides)", default="sqlite")


def pytest_configure(config: pytest.Config) -> None:
    for marker in MARKERS:
        config.addinivalue_line("markers", marker)
    requested_databases(config)


def requested_databases(config: pytest.Config) -> list[str]:
    """The databases asked for: `HUB_TEST_DATABASES`, else the `hub_test_databases` ini option, else SQLite."""
    asked = os.environ.get("HUB_TEST_DATABASES") or str(config.getini("hub_test_databases"))
    names = [name.strip() for name in asked.split(",") if name.strip()]
    unknown = sorted(set(names) - set(KNOWN_DATABASES))
    if unknown or not names:
        raise pytest.UsageError(f"HUB_TEST_DATABASES names {', '.join(unknown) or 'nothing'}; the choices are sqlite and postgresql")
    return names


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Copies of a test for databases not asked for are deselected, and so are the SQLite copies of `postgres_only` tests."""
    wanted = requested_databases(config)
    kept, deselected = [], []
    for item in items:
        callspec = getattr(item, "callspec", None)
        database = callspec.params.get("database_url") if callspec is not None else None
        postgres_only = item.get_closest_marker("postgres_only") is not None
        if (database is not None and database not in wanted) or (postgres_only and database not in (None, "postgresql")):
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
    if importlib.util.find_spec("psycopg") is None:
        unavailable_driver()
    try:
        engine = sa.create_engine(admin_url, connect_args={"connect_timeout": 3})
        with engine.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        unavailable(f"PostgreSQL at {sa.make_url(POSTGRES_URL).render_as_string(hide_password=True)}", exc)
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with engine.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        engine.dispose()


def _postgres_schema_url() -> Iterator[str]:
    return postgres_schema_url(f"hub_test_{RUN_ID}_{_worker_suffix()}")


@pytest.fixture(scope="session", params=KNOWN_DATABASES)
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


def connect_with_oauth(app: Any, tenant: TenantCredentials, connector: str, *, end_user_id: str = "user-1") -> dict[str, str]:
    """The whole browser connect flow against a fake provider that approves at once; returns the query the
    browser lands on at `FRONTEND_URL` (`status`, `integration_id` or `error`).

    The connector's `OAUTH_<ID>_AUTHORIZE_URL` / `_TOKEN_URL` must point at a running `FakeOAuthProvider`.
    """
    client = app.test_client()
    session = client.post("/api/connect/sessions", json={"end_user_id": end_user_id}, headers=tenant.headers)
    assert session.status_code == 201, session.get_data(as_text=True)
    started = client.get(f"/api/oauth/start/{connector}", query_string={"connect_token": session.json["token"]})
    assert started.status_code == 302, started.get_data(as_text=True)
    approved = requests.get(started.headers["Location"], allow_redirects=False, timeout=10)
    assert approved.status_code == 302, approved.text
    back = urlsplit(approved.headers["Location"])
    landed = client.get(back.path, query_string=back.query)
    assert landed.status_code == 302, landed.get_data(as_text=True)
    return dict(parse_qsl(urlsplit(landed.headers["Location"]).query))


def drain_queues(app: Any, *queues: str) -> int:
    """Run every queued task of `app` now, in this process (all queues unless named), as `hub worker --drain` does;
    returns how many ran. After it a test can assert an event is `processed`."""
    from hub.queue.outbox import QUEUES
    from hub.queue.queues import current_queues

    with app.app_context():
        return current_queues().run_pending(list(queues or QUEUES))
