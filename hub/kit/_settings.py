"""Reading connector settings: bounded numbers, lists, booleans, choices and base URLs.

Settings arrive as strings from the environment (or as plain values from a
test configuration). Every reader here treats an unset or blank setting as
its default and refuses anything else it cannot use with `SettingError`, a
`ValueError` whose message names the setting and what it must be, and never
repeats the value: a secret pasted into the wrong variable must not end up
in a log line or an error response.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, TypeVar, overload
from urllib.parse import urlsplit

T = TypeVar("T")

_INTEGER = re.compile(r"[+-]?[0-9]{1,18}")
_DECIMAL = re.compile(r"[+-]?(?:[0-9]{1,18}(?:\.[0-9]{0,18})?|\.[0-9]{1,18})")
TRUE_WORDS = ("true", "1", "yes", "on")
FALSE_WORDS = ("false", "0", "no", "off")


class SettingError(ValueError):
    """A setting holds a value the connector cannot use; `setting` names it, the value is never quoted."""

    __module__ = "hub.kit"

    def __init__(self, setting: str, requirement: str) -> None:
        self.setting = setting
        super().__init__(f"{setting} must be {requirement}")


def _raw(settings: Mapping[str, Any], name: str) -> Any:
    """The setting's value, or None when it is unset or blank."""
    value = settings.get(name)
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _text(number: float) -> str:
    return str(number) if isinstance(number, int) else f"{number:g}"


def _bounds(kind: str, minimum: float | None, maximum: float | None) -> str:
    if minimum is not None and maximum is not None:
        return f"{kind} from {_text(minimum)} to {_text(maximum)}"
    if minimum is not None:
        return f"{kind} of at least {_text(minimum)}"
    if maximum is not None:
        return f"{kind} of at most {_text(maximum)}"
    return kind


def _within(value: float, minimum: float | None, maximum: float | None) -> bool:
    return (minimum is None or value >= minimum) and (maximum is None or value <= maximum)


def int_setting(
    settings: Mapping[str, Any], name: str, *, default: int, minimum: int | None = None, maximum: int | None = None
) -> int:
    """An integer setting within `minimum`..`maximum` (inclusive), or `default` when unset or blank.

    Refused: text that is not a plain decimal integer (`"1e3"`, `"1_000"`,
    `"nan"`, `"5.0"`), booleans, floats, and values out of bounds.

    >>> int_setting({"STRIPE_SYNC_PAGE_SIZE": "50"}, "STRIPE_SYNC_PAGE_SIZE", default=100, minimum=1, maximum=100)
    50
    >>> int_setting({}, "STRIPE_SYNC_PAGE_SIZE", default=100, minimum=1, maximum=100)
    100
    >>> int_setting({"STRIPE_SYNC_PAGE_SIZE": "500"}, "STRIPE_SYNC_PAGE_SIZE", default=100, minimum=1, maximum=100)
    Traceback (most recent call last):
    ...
    hub.kit.SettingError: STRIPE_SYNC_PAGE_SIZE must be an integer from 1 to 100
    """
    raw = _raw(settings, name)
    if raw is None:
        return default
    requirement = _bounds("an integer", minimum, maximum)
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str) and _INTEGER.fullmatch(raw):
        value = int(raw)
    else:
        raise SettingError(name, requirement)
    if not _within(value, minimum, maximum):
        raise SettingError(name, requirement)
    return value


def float_setting(
    settings: Mapping[str, Any], name: str, *, default: float, minimum: float | None = None, maximum: float | None = None
) -> float:
    """A finite decimal number within `minimum`..`maximum` (inclusive), or `default` when unset or blank.

    Refused: `nan`, `inf`, exponents, booleans, and values out of bounds.

    >>> float_setting({"STRIPE_WEBHOOK_TOLERANCE_SECONDS": "300"}, "STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300.0, minimum=0)
    300.0
    >>> float_setting({"STRIPE_WEBHOOK_TOLERANCE_SECONDS": "nan"}, "STRIPE_WEBHOOK_TOLERANCE_SECONDS", default=300.0, minimum=0)
    Traceback (most recent call last):
    ...
    hub.kit.SettingError: STRIPE_WEBHOOK_TOLERANCE_SECONDS must be a number of at least 0
    """
    raw = _raw(settings, name)
    if raw is None:
        return default
    requirement = _bounds("a number", minimum, maximum)
    number = isinstance(raw, int | float) and not isinstance(raw, bool)
    if number or (isinstance(raw, str) and _DECIMAL.fullmatch(raw)):
        value = float(raw)
    else:
        raise SettingError(name, requirement)
    if not math.isfinite(value) or not _within(value, minimum, maximum):
        raise SettingError(name, requirement)
    return value


def list_setting(
    settings: Mapping[str, Any], name: str, *, default: tuple[str, ...] = (), separators: str = ","
) -> tuple[str, ...]:
    """The items of a separated list setting, in order, trimmed, blanks dropped; `default` when unset or blank.

    `separators` holds every character that separates items; with a space
    among them, any whitespace separates (`", "` reads Google's and
    Slack's scope lists, written either way).

    >>> list_setting({"GMAIL_SCOPES": "a, b,,c"}, "GMAIL_SCOPES")
    ('a', 'b', 'c')
    >>> list_setting({"SLACK_SCOPES": "chat:write channels:read"}, "SLACK_SCOPES", separators=", ")
    ('chat:write', 'channels:read')
    """
    raw = _raw(settings, name)
    if raw is None:
        return default
    if isinstance(raw, list | tuple) and all(isinstance(item, str) for item in raw):
        items = [item.strip() for item in raw]
    elif isinstance(raw, str):
        splitter = "".join(re.escape(c) for c in separators) + (r"\s" if " " in separators else "")
        items = [item.strip() for item in re.split(f"[{splitter}]", raw)] if splitter else [raw]
    else:
        raise SettingError(name, "a list of text items")
    found = tuple(item for item in items if item)
    return found or default


def choice_setting(settings: Mapping[str, Any], name: str, choices: Mapping[str, T], *, default: T) -> T:
    """The value `choices` maps the setting's word to (case-insensitive), or `default` when unset or blank.

    >>> choice_setting({"STRIPE_LIVEMODE": "Live"}, "STRIPE_LIVEMODE", {"live": True, "test": False}, default=None)
    True
    """
    raw = _raw(settings, name)
    if raw is None:
        return default
    words = {word.lower(): value for word, value in choices.items()}
    if isinstance(raw, str) and raw.lower() in words:
        return words[raw.lower()]
    raise SettingError(name, "one of " + ", ".join(sorted(words)))


@overload
def bool_setting(settings: Mapping[str, Any], name: str, *, default: bool = False) -> bool: ...
@overload
def bool_setting(settings: Mapping[str, Any], name: str, *, default: None) -> bool | None: ...
def bool_setting(settings: Mapping[str, Any], name: str, *, default: bool | None = False) -> bool | None:
    """A yes/no setting: true, 1, yes, on / false, 0, no, off (any case); `default` when unset or blank.

    `default=None` tells "not set" apart from an explicit no.

    >>> bool_setting({"GITHUB_VERIFY_SSL": "Yes"}, "GITHUB_VERIFY_SSL")
    True
    >>> bool_setting({}, "STRIPE_LIVEMODE", default=None) is None
    True
    """
    raw = _raw(settings, name)
    if isinstance(raw, bool):
        return raw
    if raw is None:
        return default
    choices = {word: True for word in TRUE_WORDS} | {word: False for word in FALSE_WORDS}
    if isinstance(raw, str) and raw.lower() in choices:
        return choices[raw.lower()]
    raise SettingError(name, "true or false")


@overload
def url_setting(settings: Mapping[str, Any], name: str, *, default: str, https_only: bool = False) -> str: ...
@overload
def url_setting(settings: Mapping[str, Any], name: str, *, default: None = None, https_only: bool = False) -> str | None: ...
def url_setting(settings: Mapping[str, Any], name: str, *, default: str | None = None, https_only: bool = False) -> str | None:
    """An http(s) base URL without a trailing slash (paths are appended to it); `default` when unset or blank.

    Refused: other schemes, no host, a `user:password@` part (credentials
    belong in credentials, not in a URL that is logged), a fragment, and
    `http` when `https_only`.

    >>> url_setting({"GITHUB_API_BASE_URL": "http://127.0.0.1:8080/api/"}, "GITHUB_API_BASE_URL", default="https://api.github.com")
    'http://127.0.0.1:8080/api'
    >>> url_setting({}, "GITHUB_API_BASE_URL", default="https://api.github.com")
    'https://api.github.com'
    """
    raw = _raw(settings, name)
    if raw is None:
        return default.rstrip("/") if default is not None else None
    kind = "an https URL" if https_only else "an http or https URL"
    requirement = f"{kind} with a host, and no user name, password or fragment"
    if not isinstance(raw, str) or any(c.isspace() or not c.isprintable() for c in raw) or "#" in raw:
        raise SettingError(name, requirement)
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number in range
    except ValueError:
        raise SettingError(name, requirement) from None
    schemes = ("https",) if https_only else ("http", "https")
    if parts.scheme.lower() not in schemes or not parts.hostname or "@" in parts.netloc:
        raise SettingError(name, requirement)
    return raw.rstrip("/")
