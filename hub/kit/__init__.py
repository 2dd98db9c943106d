"""Helpers for connector authors: the small parts every connector otherwise writes again.

Standard library only, no hub internals: a connector package may use them
from its hooks and its tests alike.

- Settings: `int_setting`, `float_setting`, `list_setting`, `bool_setting`,
  `choice_setting`, `url_setting` (errors are `SettingError`).
- Bodies: `parse_json_object`.
"""

from __future__ import annotations

from hub.kit._json import DEFAULT_MAX_DEPTH, parse_json_object
from hub.kit._settings import (
    SettingError,
    bool_setting,
    choice_setting,
    float_setting,
    int_setting,
    list_setting,
    url_setting,
)

__all__ = [
    "DEFAULT_MAX_DEPTH",
    "SettingError",
    "bool_setting",
    "choice_setting",
    "float_setting",
    "int_setting",
    "list_setting",
    "parse_json_object",
    "url_setting",
]
