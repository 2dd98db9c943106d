"""Alembic environment: runs on the hub's own engine (SQLite or PostgreSQL).

`hub db upgrade` passes its open connection in `config.attributes`, so the
migration uses exactly the engine options of the app (search path, pragmas).
"""

from alembic import context

from hub.storage.models import db

target_metadata = db.metadata


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations with `hub db upgrade`, which provides the connection")
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations_online()
