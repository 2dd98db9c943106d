"""Running the webhook hot path's two statements with the least overhead.

Every delivery runs the same two statements: the endpoint lookup and the
event-plus-job insert. On PostgreSQL they are compiled once and executed
as driver SQL on the session's own connection, inside the session's
transaction, skipping SQLAlchemy's per-statement compilation work (cache
key, parameter processing), which the ingest profile showed to cost more
than the statements themselves; errors and broken connections are still
handled by SQLAlchemy as for any statement. Parameters get the two
conversions SQLAlchemy would have made for our column types: aware
datetimes to naive UTC, and JSON documents wrapped for the driver. SQLite
(embedded mode, one process) runs them through the session as usual.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from hub.models import db


@functools.cache
def _driver_sql(statement: Any, dialect: Any) -> tuple[str, frozenset[str]]:
    """The statement compiled once, and the names of its parameters bound to JSON columns."""
    compiled = statement.compile(dialect=dialect)
    json_params = frozenset(name for name, bind in compiled.binds.items() if isinstance(bind.type, sa.JSON))
    return str(compiled), json_params


def _driver_value(value: Any, is_json: bool) -> Any:
    if is_json:
        from psycopg.types.json import Json

        return Json(value)
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).replace(tzinfo=None)
    return value


def first_row(statement: Any, parameters: Mapping[str, Any]) -> Sequence[Any] | None:
    """The first row the statement returns (a tuple in its column order), or None."""
    connection = db.session.connection()
    if connection.dialect.name != "postgresql":
        return db.session.execute(statement, dict(parameters)).first()
    sql, json_params = _driver_sql(statement, connection.dialect)
    result = connection.exec_driver_sql(sql, {k: _driver_value(v, k in json_params) for k, v in parameters.items()})
    return result.first()
