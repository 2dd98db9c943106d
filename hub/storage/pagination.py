"""Keyset pagination for list endpoints: a page size and an opaque cursor.

A cursor names the sort key of the last row of a page (a timestamp and an
id, base64url JSON), so the next page starts right after it however many
rows were added meanwhile, and no page costs an OFFSET scan. It is not
signed: it only says where to start within the caller's own rows, so a
forged one yields at most another part of the same list. Anything that is
not a cursor this API wrote is a 400, never a 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime

from hub.errors import BadRequest

PAGE_LIMIT_MAX = 200
DEFAULT_PAGE_LIMIT = 50
MAX_CURSOR_LENGTH = 512


def parse_limit(raw: str | None, default: int = DEFAULT_PAGE_LIMIT) -> int:
    """The `limit` query parameter: ASCII digits, 1 to PAGE_LIMIT_MAX."""
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 4) or not 1 <= int(raw) <= PAGE_LIMIT_MAX:
        raise BadRequest(f"limit must be a whole number from 1 to {PAGE_LIMIT_MAX}.")
    return int(raw)


def encode_cursor(at: datetime, row_id: str) -> str:
    raw = json.dumps([at.isoformat(), row_id]).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, str]:
    """The (timestamp, id) a cursor names; 400 for anything this API did not write."""
    refused = BadRequest("The cursor is not one this API returned.")
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise refused
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        at_text, row_id = json.loads(raw)
        at = datetime.fromisoformat(at_text)
    except (ValueError, TypeError, binascii.Error, RecursionError):
        raise refused from None
    if at.tzinfo is None or not isinstance(row_id, str) or not row_id or len(row_id) > 64:
        raise refused
    return at, row_id
