"""Which events a destination receives: its filter, read once and matched without the database.

A filter has three optional lists: `event_types` (patterns where `*` stands
for any run of characters, so `charge.*` and `hub.integration.*` match what
they read as), `connectors` and `integration_ids`. An absent list matches
everything; a present one must match. The match is a plain function of the
filter and the event, so the fan-out can test many destinations against an
event without a query per destination.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from functools import lru_cache
from typing import Any

FILTER_FIELDS = ("event_types", "connectors", "integration_ids")
MAX_FILTER_ENTRIES = 100
# Event types as providers and the hub name them: printable ASCII, no spaces.
EVENT_TYPE_PATTERN = re.compile(r"[\x21-\x7e]{1,255}")


@lru_cache(maxsize=4096)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if part == "*" else re.escape(part) for part in re.split(r"(\*)", pattern)))


def type_matches(pattern: str, event_type: str) -> bool:
    """Whether one `event_types` pattern matches the type: `*` matches any run of characters, nothing else is special."""
    return _compiled(pattern).fullmatch(event_type) is not None


def matches(filter_: Mapping[str, Any] | None, *, event_type: str, connector: str | None, integration_id: str | None) -> bool:
    """Whether an event of this type, connector and integration passes the filter.

    An event without a connector or integration (none of the hub's types
    lack one today) passes a list only if the list is absent.
    """
    filter_ = filter_ or {}
    patterns: Sequence[str] | None = filter_.get("event_types")
    if patterns is not None and not any(type_matches(pattern, event_type) for pattern in patterns):
        return False
    connectors: Sequence[str] | None = filter_.get("connectors")
    if connectors is not None and connector not in connectors:
        return False
    integration_ids: Sequence[str] | None = filter_.get("integration_ids")
    if integration_ids is not None and integration_id not in integration_ids:
        return False
    return True
