"""What both databases can store, checked in Python before anything reaches them.

PostgreSQL refuses NUL in text and NaN or Infinity in JSON; neither driver
can encode a lone surrogate; a document nested thousands deep costs
recursion wherever it is encoded or read again. SQLite stores some of these
without complaint, so left to the databases the same input would be a row on
one and an error on the other. Checking here first makes every backend give
the same answer, a 400 that names the problem, and never a 5xx that tells a
caller (or a provider's retry loop) to try again.
"""

from __future__ import annotations

import math
from typing import Any

# Deeper than any provider's payload or any management body; far from Python's recursion limit.
MAX_JSON_DEPTH = 64
CONTAINERS = (dict, list, tuple)
NOT_FINITE = "it holds a number that is NaN or infinite, which JSON does not allow"


def is_storable_text(text: str) -> bool:
    """True when both databases store `text` as sent: no NUL, no lone surrogate."""
    if "\x00" in text:
        return False
    return _encodes(text)


def _encodes(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def json_fault(value: Any, *, max_depth: int = MAX_JSON_DEPTH, check_text: bool = False) -> str | None:
    """Why `value` (a document as `json.loads` returns it) cannot be stored as JSON, or None.

    Always checked: nesting (at most `max_depth` arrays and objects deep) and
    numbers (no NaN or Infinity, which are not JSON). With `check_text`, every
    string and key must also encode as UTF-8 (no lone surrogate). Walks
    without recursion, so any depth is refused rather than overflowing the
    stack. The answer names the rule, never the offending value.
    """
    texts: list[str] = []
    pending: list[tuple[Any, int]] = [(value, 1)] if isinstance(value, CONTAINERS) else []
    if not pending and _bad_scalar(value, texts, check_text):
        return NOT_FINITE
    while pending:
        item, depth = pending.pop()
        if depth > max_depth:
            return f"it is nested more than {max_depth} levels deep"
        if isinstance(item, dict):
            if check_text:
                texts.extend(key for key in item if isinstance(key, str))
            item = item.values()
        for child in item:
            if isinstance(child, CONTAINERS):
                pending.append((child, depth + 1))
            elif isinstance(child, float):
                if not math.isfinite(child):
                    return NOT_FINITE
            elif check_text and isinstance(child, str):
                texts.append(child)
    if texts and not _encodes("".join(texts)):
        return "it holds text with a lone surrogate, which cannot be encoded"
    return None


def _bad_scalar(value: Any, texts: list[str], check_text: bool) -> bool:
    if isinstance(value, float):
        return not math.isfinite(value)
    if check_text and isinstance(value, str):
        texts.append(value)
    return False
