"""Opaque sync cursors: a connector's paging position as compact JSON in URL-safe base64.

`SyncResult.cursor` is stored by the hub and handed back on the next `sync`
call; it may also travel as a page token in a URL. Encoding a small JSON
object keeps it printable, URL-safe and readable back into the same
values, and the size limit keeps a position that grows with the data (a
queue of channels, say) from growing without bound unnoticed.

Decoding refuses, with ValueError, anything `encode_cursor` would not have
written: other characters, non-canonical base64, a payload that is not a
JSON object, and cursors over the size limit. The cursor is not signed:
it is stored by the hub, not accepted from callers.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from hub.kit._json import parse_json_object

DEFAULT_MAX_CURSOR_LENGTH = 4096
_URLSAFE = re.compile(r"[A-Za-z0-9_-]*")


def encode_cursor(position: Mapping[str, Any], *, max_length: int = DEFAULT_MAX_CURSOR_LENGTH) -> str:
    """`position` as an opaque cursor; ValueError when it encodes to more than `max_length` characters.

    Keys are sorted, so one position always has one cursor. Values must be
    JSON (TypeError otherwise); NaN, infinities and lone surrogates are
    refused with ValueError.

    >>> encode_cursor({"page": 2, "since": "2024-01-01"})
    'eyJwYWdlIjoyLCJzaW5jZSI6IjIwMjQtMDEtMDEifQ'
    """
    if not isinstance(position, Mapping):
        raise TypeError("a cursor encodes a mapping of JSON values")
    try:
        raw = json.dumps(position, separators=(",", ":"), sort_keys=True, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("the cursor position holds text that is not valid Unicode") from None
    except ValueError:
        raise ValueError("the cursor position holds NaN or an infinite number") from None
    cursor = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    if len(cursor) > max_length:
        raise ValueError(f"the cursor is longer than {max_length} characters")
    return cursor


def decode_cursor(cursor: str | None, *, max_length: int = DEFAULT_MAX_CURSOR_LENGTH) -> dict[str, Any]:
    """The position a cursor holds; `{}` for no cursor (the first sync); ValueError for one `encode_cursor` did not write.

    >>> decode_cursor("eyJwYWdlIjoyLCJzaW5jZSI6IjIwMjQtMDEtMDEifQ")
    {'page': 2, 'since': '2024-01-01'}
    >>> decode_cursor(None)
    {}
    """
    if cursor is None or cursor == "":
        return {}
    if not isinstance(cursor, str):
        raise ValueError("the cursor is not text")
    if len(cursor) > max_length:
        raise ValueError(f"the cursor is longer than {max_length} characters")
    if not _URLSAFE.fullmatch(cursor) or len(cursor) % 4 == 1:
        raise ValueError("the cursor is not one this connector wrote")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("the cursor is not one this connector wrote") from None
    if base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii") != cursor:
        raise ValueError("the cursor is not one this connector wrote")
    try:
        return parse_json_object(raw, what="the cursor")
    except ValueError:
        raise ValueError("the cursor is not one this connector wrote") from None
