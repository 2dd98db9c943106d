"""Looking up a header by name in whatever mapping the caller holds.

`requests` hands over a case-insensitive mapping, `WebhookRequest.headers`
has lower-case keys, and a test may pass a plain dict spelled any way; the
kit's readers accept all three.
"""

from __future__ import annotations

from collections.abc import Mapping


def header_value(headers: Mapping[str, str], name: str) -> str | None:
    """The value of header `name` (any case), or None when absent.

    >>> header_value({"Retry-After": "5"}, "retry-after"), header_value({}, "retry-after")
    ('5', None)
    """
    value = headers.get(name)
    if value is None:
        value = headers.get(name.lower())
    if value is None:
        wanted = name.lower()
        value = next((v for k, v in headers.items() if isinstance(k, str) and k.lower() == wanted), None)
    return value if isinstance(value, str) else None
