"""When the next attempt of a failed delivery comes.

Design, "Destinations": retries after the delays of `HUB_DELIVERY_SCHEDULE`
with +-20 % jitter (so deliveries that failed together do not all come back
at the same second), then `failed`. A receiver that said 429 or did not
answer in time is overloaded: its next attempt waits at least a minute. A
`Retry-After` it sent is honoured between one and two times the scheduled
delay, so a receiver can slow the hub down but not stop it, nor hurry it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

JITTER = 0.2
OVERLOAD_FLOOR_SECONDS = 60.0


def attempts_allowed(schedule: Sequence[float]) -> int:
    """The first attempt and one per delay of the schedule."""
    return len(schedule) + 1


def retry_delay(
    schedule: Sequence[float], attempts: int, *, overloaded: bool = False, retry_after: float | None = None
) -> float | None:
    """Seconds until the next attempt after `attempts` attempts failed; None when that was the last."""
    if attempts < 1 or attempts > len(schedule):
        return None
    scheduled = float(schedule[attempts - 1])
    delay = scheduled * random.uniform(1 - JITTER, 1 + JITTER)
    if retry_after is not None:
        delay = min(max(retry_after, scheduled), 2 * scheduled)
    if overloaded:
        delay = max(delay, OVERLOAD_FLOOR_SECONDS)
    return delay


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """A `Retry-After` header in seconds: a number of seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
