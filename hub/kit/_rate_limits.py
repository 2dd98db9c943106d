"""How long a provider asks to be left alone: `Retry-After` and rate-limit headers.

A sync that is rate limited returns `SyncResult(retry_after=...)` with its
cursor unchanged; these readers turn a response's status and headers into
that number of seconds. Header values come from the provider but pass
through proxies and fakes, so every reader refuses what is not a plain
non-negative number or an HTTP date: `NaN`, `inf`, negatives, exponents
and garbage read as absent (None), never as "retry at once" or "never".
Every answer is also capped (`maximum`, one day unless given): no header
can park a sync for years, or overflow the date it is scheduled at.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC
from email.utils import parsedate_to_datetime

from hub.kit._headers import header_value

DEFAULT_RETRY_AFTER_SECONDS = 1.0
MAX_WAIT_SECONDS = 86400.0
# Longer values are no number or date any provider sends.
_MAX_VALUE_LENGTH = 64
_SECONDS = re.compile(r"[0-9]{1,15}(?:\.[0-9]{1,9})?")
# (remaining, reset): GitHub's pair, which most APIs copied, then the IETF draft's.
_QUOTA_HEADERS = (("x-ratelimit-remaining", "x-ratelimit-reset"), ("ratelimit-remaining", "ratelimit-reset"))
# A reset is a time (epoch seconds, GitHub, GitLab) or a delay (the IETF
# draft, Reddit), and APIs disagree on which header means which. 10^9
# seconds tells them apart: as a time it is 2001, as a delay 31 years.
_EPOCH_THRESHOLD = 1e9


def _seconds(value: str | None) -> float | None:
    """A plain non-negative decimal number, or None."""
    if value is None:
        return None
    value = value.strip()
    if len(value) > _MAX_VALUE_LENGTH or not _SECONDS.fullmatch(value):
        return None
    return float(value)  # at most 15 digits: always finite


def _check_seconds(name: str, value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
        raise ValueError(f"{name} must be a finite, non-negative number of seconds")


def parse_retry_after(value: str | None, *, now: float, maximum: float = MAX_WAIT_SECONDS) -> float | None:
    """Seconds to wait from a `Retry-After` value: delta-seconds or an HTTP date (relative to `now`), at most `maximum`.

    A date already past means 0. None for an absent or unusable value:
    negative, `NaN`, `inf`, an exponent, garbage, or a date no calendar
    holds.

    >>> parse_retry_after("120", now=0)
    120.0
    >>> parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412400)
    80.0
    >>> parse_retry_after("nan", now=0) is None, parse_retry_after("-5", now=0) is None
    (True, True)
    """
    _check_seconds("maximum", maximum)
    if value is None or not math.isfinite(now):
        return None
    value = value.strip()
    if not value or len(value) > _MAX_VALUE_LENGTH:
        return None
    seconds = _seconds(value)
    if seconds is not None:
        return min(seconds, maximum)
    if value[0].isdigit() or value[0] in "+-.":
        return None  # a number, but not a usable one; never read as a date
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # HTTP dates are always GMT
    try:
        return min(max(0.0, when.timestamp() - now), maximum)
    except (OverflowError, OSError, ValueError):
        return None


def quota_reset_wait(headers: Mapping[str, str], *, now: float, maximum: float = MAX_WAIT_SECONDS) -> float | None:
    """Seconds until an exhausted rate-limit quota resets (at most `maximum`); None while quota remains or the headers do not say.

    Reads `x-ratelimit-remaining: 0` with `x-ratelimit-reset` (GitHub), then
    `ratelimit-remaining: 0` with `ratelimit-reset` (the IETF draft). A reset
    of 10^9 or more is a time in epoch seconds, a smaller one a delay in
    seconds: APIs use either in either header, and no value is both.

    >>> quota_reset_wait({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1700000060"}, now=1700000000)
    60.0
    >>> quota_reset_wait({"X-RateLimit-Remaining": "17", "X-RateLimit-Reset": "1700000060"}, now=1700000000) is None
    True
    """
    _check_seconds("maximum", maximum)
    if not math.isfinite(now):
        return None
    for remaining_header, reset_header in _QUOTA_HEADERS:
        remaining = _seconds(header_value(headers, remaining_header))
        reset = _seconds(header_value(headers, reset_header))
        if remaining != 0 or reset is None:
            continue
        return min(max(0.0, reset - now) if reset >= _EPOCH_THRESHOLD else reset, maximum)
    return None


def retry_after_seconds(
    headers: Mapping[str, str], *, now: float, default: float = DEFAULT_RETRY_AFTER_SECONDS, maximum: float = MAX_WAIT_SECONDS
) -> float:
    """Seconds to wait after a response already known to be a rate limit: `Retry-After`, an exhausted quota's reset, or `default`.

    For providers that signal a rate limit in the body (Slack's
    `"error": "ratelimited"` under HTTP 200, Gmail's 403
    `rateLimitExceeded`); `rate_limit_delay` reads the status too.

    >>> retry_after_seconds({"Retry-After": "30"}, now=0)
    30.0
    >>> retry_after_seconds({"Retry-After": "inf"}, now=0, default=5.0)
    5.0
    """
    _check_seconds("default", default)
    waited = parse_retry_after(header_value(headers, "retry-after"), now=now, maximum=maximum)
    if waited is None:
        waited = quota_reset_wait(headers, now=now, maximum=maximum)
    return min(default, maximum) if waited is None else waited


def rate_limit_delay(
    status: int,
    headers: Mapping[str, str],
    *,
    now: float,
    default: float = DEFAULT_RETRY_AFTER_SECONDS,
    maximum: float = MAX_WAIT_SECONDS,
) -> float | None:
    """Seconds to wait before calling again when this response is a rate limit or asks for a pause; None otherwise.

    - 429: `Retry-After`, else the exhausted quota's reset, else `default`;
    - 403: only with a `Retry-After` or an exhausted quota (GitHub's primary
      and secondary limits); a plain 403 is a permission error;
    - 503: only with a `Retry-After` (the server said when to come back);
    - anything else: None.

    >>> rate_limit_delay(429, {}, now=0)
    1.0
    >>> rate_limit_delay(403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": "1700000100"}, now=1700000000)
    100.0
    >>> rate_limit_delay(403, {}, now=0) is None, rate_limit_delay(200, {"Retry-After": "5"}, now=0) is None
    (True, True)
    """
    _check_seconds("default", default)
    if status == 429:
        return retry_after_seconds(headers, now=now, default=default, maximum=maximum)
    asked = parse_retry_after(header_value(headers, "retry-after"), now=now, maximum=maximum)
    if status == 403:
        return asked if asked is not None else quota_reset_wait(headers, now=now, maximum=maximum)
    if status == 503:
        return asked
    return None
