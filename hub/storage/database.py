"""Engine set-up and migrations for SQLite and PostgreSQL.

SQLite is the embedded default, so it gets what concurrent writers need:
WAL, a busy timeout, foreign keys, and `BEGIN IMMEDIATE` so two processes
never both read-then-write on a stale snapshot (which SQLite would answer
with an immediate "database is locked" instead of waiting).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Flask

from hub.storage.models import db

# Execution option of connections whose transactions only read (see `read_only_connection`).
READ_ONLY = "hub_read_only"


def _migrations_path() -> Path:
    """The alembic folder: the checkout's `migrations/`, or `hub/migrations` in an installed wheel."""
    package = Path(__file__).resolve().parents[1]
    checkout = package.parent / "migrations"
    if (checkout / "env.py").is_file():
        return checkout
    return package / "migrations"


MIGRATIONS_PATH = _migrations_path()


def normalize_database_url(url: str) -> str:
    """Use psycopg 3 for plain `postgresql://` URLs (SQLAlchemy would pick psycopg2)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        return {"connect_args": {"timeout": 30, "check_same_thread": False}}
    # No pre-ping: it is a round trip on every request. A connection that died
    # is detected on use, the pool is invalidated, and that one request gets a
    # 503 (the provider retries); connections are recycled before servers or
    # proxies drop idle ones.
    return {"pool_recycle": 300, "pool_size": 5, "max_overflow": 10}


def _configure_sqlite(engine: sa.Engine) -> None:
    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(connection: sa.Connection) -> None:
        # A read-only connection begins DEFERRED: in WAL mode its reads take a snapshot and never the write lock.
        connection.exec_driver_sql("BEGIN" if connection.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")


@contextmanager
def read_only_connection() -> Iterator[sa.Connection]:
    """A connection of its own for reads that must never wait for, or hold up, a writer (metrics, probes).

    On SQLite its transactions begin DEFERRED instead of IMMEDIATE, so they
    never take the one write lock; on PostgreSQL they are READ ONLY.
    """
    with db.engine.connect() as connection:
        options: dict[str, Any] = {READ_ONLY: True}
        if connection.dialect.name == "postgresql":
            options["postgresql_readonly"] = True
        connection.execution_options(**options)
        yield connection


def reads_outside_a_transaction() -> None:
    """Run the session's next statements each on its own (autocommit) until its next commit; PostgreSQL only.

    For a request that only reads before it hands over to something slow (the
    proxy: an API key, an integration, then the provider): BEGIN and COMMIT
    are two round trips of the four such a request makes, each a wait on a
    busy machine. Call it before the session is used; after the next commit
    the session's connections are transactional again. SQLite is left alone:
    it has no round trips to save, and its reads begin IMMEDIATE for a reason.
    A session already in a transaction keeps it.
    """
    if db.session().in_transaction():
        return  # the session already began (a request within an app context that used it): keep its transaction
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})


def release_write_lock() -> None:
    """End the session's transaction if it holds SQLite's write lock; keep it otherwise.

    Every SQLite transaction begins IMMEDIATE, so even a read holds the one
    write lock until it ends: end it before slow or foreign code runs. A
    PostgreSQL read holds no lock worth releasing, and keeping the
    transaction saves its BEGIN and COMMIT round trips.
    """
    if db.session.get_bind().dialect.name == "sqlite":
        db.session.commit()


def init_database(app: Flask) -> None:
    url = normalize_database_url(app.config["DATABASE_URL"])
    app.config["SQLALCHEMY_DATABASE_URI"] = url
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", engine_options(url))
    app.config.setdefault("SQLALCHEMY_TRACK_MODIFICATIONS", False)
    if url.startswith("sqlite:///"):
        Path(url[len("sqlite:///"):]).parent.mkdir(parents=True, exist_ok=True)
    db.init_app(app)
    with app.app_context():
        if db.engine.dialect.name == "sqlite":
            _configure_sqlite(db.engine)


def alembic_config(connection: sa.Connection) -> AlembicConfig:
    """The alembic configuration of the hub's migrations, running on `connection`."""
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS_PATH))
    config.attributes["connection"] = connection
    return config


def upgrade_database(revision: str = "head") -> None:
    """Run alembic to `revision` on the current app's engine."""
    with db.engine.begin() as connection:
        command.upgrade(alembic_config(connection), revision)


def current_revision() -> str | None:
    with db.engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str | None:
    with db.engine.connect() as connection:
        return ScriptDirectory.from_config(alembic_config(connection)).get_current_head()
