"""The webhook hot path on PostgreSQL: two statements on the driver connection.

Every delivery to an integration's endpoint runs the same two statements:
the endpoint lookup (skipped for an endpoint the process remembers, see
hub.webhooks.endpoint_cache) and the event-plus-job insert. On PostgreSQL both run
on a psycopg connection checked out of SQLAlchemy's pool, in autocommit:
the lookup is a read, and the insert is ONE statement (CTEs that check the
integration is live, insert the event with ON CONFLICT DO NOTHING and its
job from what that returned), so it is atomic by itself and needs no BEGIN
and COMMIT round trips. Neither
goes through the ORM session or SQLAlchemy's execution context, whose
bookkeeping cost more than the statements themselves; the SQL is still
compiled by SQLAlchemy from the table definitions, once per process.

A driver error closes nothing silently: a broken connection is invalidated
in the pool (the next checkout opens a new one) and the request answers
503 with Retry-After, as the session path does. A value the database
refuses (the driver's DataError) is bad data, not an outage: 400, which
no retry would change. SQLite (embedded mode) and
the rarer deliveries (several events, an app-level endpoint, an event that
changes its integration's status or asks for a sync) take the session path.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from hub.errors import BadRequest, ServiceUnavailable
from hub.storage.models import db

log = logging.getLogger(__name__)


@functools.cache
def _driver_sql(statement: Any, dialect: Any) -> tuple[str, frozenset[str]]:
    """The statement compiled once, and the names of its parameters bound to JSON columns."""
    compiled = statement.compile(dialect=dialect)
    json_params = frozenset(name for name, bind in compiled.binds.items() if isinstance(bind.type, sa.JSON))
    return str(compiled), json_params


def _driver_value(value: Any, is_json: bool) -> Any:
    """What SQLAlchemy's bind processing would send: JSON documents wrapped (text is sent as already encoded), naive UTC datetimes."""
    if is_json:
        if isinstance(value, str):
            return value  # encoded by the caller; PostgreSQL takes it as the column's json
        from psycopg.types.json import Json

        return Json(value)
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def _database_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("The database is unavailable; retry shortly.", headers={"Retry-After": "5"})


class DriverConnection:
    """A pooled psycopg connection in autocommit, for the length of one delivery."""

    def __init__(self, engine: sa.Engine) -> None:
        self.dialect = engine.dialect
        self._pooled = engine.raw_connection()
        self._connection: Any = self._pooled.driver_connection
        self._connection.autocommit = True
        self._driver_errors = engine.dialect.loaded_dbapi.Error
        # The driver's DataError (NUL in text, invalid JSON) and a text it cannot encode (a lone surrogate).
        self._refused_values = (engine.dialect.loaded_dbapi.DataError, UnicodeEncodeError)

    def first_row(self, statement: Any, parameters: Mapping[str, Any]) -> Sequence[Any] | None:
        """The first row the statement returns (a tuple in its column order), or None."""
        sql, json_params = _driver_sql(statement, self.dialect)
        values = {name: _driver_value(value, name in json_params) for name, value in parameters.items()}
        try:
            return self._connection.execute(sql, values).fetchone()
        except self._refused_values as error:
            # Bad data, not an outage: the same values would be refused again, so no Retry-After.
            log.warning("the database refused a value: %s", type(error).__name__)
            raise BadRequest("The request holds a value the database cannot store.") from None
        except self._driver_errors as error:
            log.error("database unavailable: %s", type(error).__name__)
            if (self._connection.broken or self._connection.closed) and self._pooled.is_valid:
                self._pooled.invalidate()
            raise _database_unavailable() from None

    def close(self) -> None:
        if self._pooled.is_valid and not self._connection.closed:
            self._connection.autocommit = False  # the pool's other users expect transactions
        self._pooled.close()


@contextmanager
def driver_connection() -> Iterator[DriverConnection | None]:
    """The hot path's connection on PostgreSQL; None on SQLite, whose callers use the session."""
    engine = db.engine
    if engine.dialect.name != "postgresql":
        yield None
        return
    try:
        connection = DriverConnection(engine)
    except (sa.exc.DBAPIError, engine.dialect.loaded_dbapi.Error) as error:  # the pool raises the driver's own errors
        log.error("database unavailable: %s", type(error).__name__)
        raise _database_unavailable() from None
    try:
        yield connection
    finally:
        connection.close()
