"""Keyset pagination for lists: one page at a time, after an opaque cursor.

A cursor names the sort key of the last row of a page (a timestamp and an
id, base64url JSON), so the next page starts right after it however many
rows were added meanwhile, and no page costs an OFFSET scan. It is not
signed: it only says where to start within the caller's own rows, so a
forged one yields at most another part of the same list. Anything that is
not a cursor this API wrote is a 400, never a 500: the time must carry its
zone and stay in the calendar once in UTC, the id must look like the hub's
ids.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

from hub.errors import BadRequest
from hub.storage.models import db

PAGE_LIMIT_MAX = 200
DEFAULT_PAGE_LIMIT = 50
MAX_CURSOR_LENGTH = 512
# The shape of the hub's ids (UUIDs, see hub.storage.models.new_id).
ROW_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def encode_cursor(at: datetime, row_id: str) -> str:
    raw = json.dumps([at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (UTC timestamp, id) a cursor names; 400 for anything this API did not write."""
    refused = BadRequest("The cursor is not one this API returned.")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise refused
    try:
        decoded = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise refused from None
    if not isinstance(decoded, list) or len(decoded) != 2 or not all(isinstance(part, str) for part in decoded):
        raise refused
    at_text, row_id = decoded
    if not ROW_ID.fullmatch(row_id):
        raise refused
    try:
        at = datetime.fromisoformat(at_text)
        if at.tzinfo is None:
            raise refused
        return at.astimezone(timezone.utc), row_id
    except (ValueError, OverflowError):
        raise refused from None


def page(
    query: sa.Select, time_column: Any, id_column: Any, *, cursor: str | None, limit: int, newest_first: bool
) -> tuple[list[Any], str | None]:
    """One page of `query`'s rows in (time, id) order, after `cursor`; and the cursor of the next page, or None."""
    if cursor:
        at, last_id = decode_cursor(cursor)
        if newest_first:
            query = query.where(sa.or_(time_column < at, sa.and_(time_column == at, id_column < last_id)))
        else:
            query = query.where(sa.or_(time_column > at, sa.and_(time_column == at, id_column > last_id)))
    order = (time_column.desc(), id_column.desc()) if newest_first else (time_column, id_column)
    rows = list(db.session.execute(query.order_by(*order).limit(limit + 1)).scalars())
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor(getattr(last, time_column.key), getattr(last, id_column.key))
