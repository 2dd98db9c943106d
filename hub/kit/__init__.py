"""Helpers for connector authors: the small parts every connector otherwise writes again.

Standard library only, no hub internals: a connector package may use them
from its hooks and its tests alike.

- Signatures: `HmacScheme` (hex or base64 HMAC over the raw body, with or
  without a signed timestamp, several candidates, prefixes such as
  `sha256=`), `parse_signature_fields` for `t=...,v1=...` headers,
  `hmac_digest`, `constant_time_equal`; Standard Webhooks with
  `verify_standard_webhook` (and `standard_webhook_headers` to sign).
- Rate limits: `parse_retry_after`, `quota_reset_wait`,
  `retry_after_seconds`, `rate_limit_delay`.
- Paging: `parse_link_header`, `next_page_url`, `encode_cursor`,
  `decode_cursor`.
- Settings: `int_setting`, `float_setting`, `list_setting`, `bool_setting`,
  `choice_setting`, `url_setting` (errors are `SettingError`).
- Bodies: `parse_json_object`.

A webhook check with the kit, for a provider that signs like GitHub::

    from hub import hookimpl
    from hub.kit import HmacScheme

    SIGNATURE = HmacScheme(prefix="sha256=")

    @hookimpl
    def verify_signature(request, credentials):
        secret = (credentials or {}).get("webhook_secret", "")
        return SIGNATURE.verify(secret, request.body, request.header("x-hub-signature-256"))
"""

from __future__ import annotations

from hub.kit._cursors import DEFAULT_MAX_CURSOR_LENGTH, decode_cursor, encode_cursor
from hub.kit._json import DEFAULT_MAX_DEPTH, parse_json_object
from hub.kit._links import Link, next_page_url, parse_link_header
from hub.kit._rate_limits import (
    DEFAULT_RETRY_AFTER_SECONDS,
    MAX_WAIT_SECONDS,
    parse_retry_after,
    quota_reset_wait,
    rate_limit_delay,
    retry_after_seconds,
)
from hub.kit._settings import (
    SettingError,
    bool_setting,
    choice_setting,
    float_setting,
    int_setting,
    list_setting,
    url_setting,
)
from hub.kit._signatures import (
    DEFAULT_TOLERANCE_SECONDS,
    HmacScheme,
    SignatureFields,
    constant_time_equal,
    hmac_digest,
    parse_signature_fields,
)
from hub.kit._standard_webhooks import (
    STANDARD_WEBHOOKS,
    standard_webhook_headers,
    standard_webhook_key,
    verify_standard_webhook,
)

__all__ = [
    "DEFAULT_MAX_CURSOR_LENGTH",
    "DEFAULT_MAX_DEPTH",
    "DEFAULT_RETRY_AFTER_SECONDS",
    "DEFAULT_TOLERANCE_SECONDS",
    "MAX_WAIT_SECONDS",
    "STANDARD_WEBHOOKS",
    "HmacScheme",
    "Link",
    "SettingError",
    "SignatureFields",
    "bool_setting",
    "choice_setting",
    "constant_time_equal",
    "decode_cursor",
    "encode_cursor",
    "float_setting",
    "hmac_digest",
    "int_setting",
    "list_setting",
    "next_page_url",
    "parse_json_object",
    "parse_link_header",
    "parse_retry_after",
    "parse_signature_fields",
    "quota_reset_wait",
    "rate_limit_delay",
    "retry_after_seconds",
    "standard_webhook_headers",
    "standard_webhook_key",
    "url_setting",
    "verify_standard_webhook",
]
