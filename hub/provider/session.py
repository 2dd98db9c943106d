"""HTTP sessions handed to connector hooks.

A plugin never sees how tokens are stored or refreshed: it gets a
`requests.Session` that already sends the integration's current access
token (when it has one) and has sane timeouts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

DEFAULT_TIMEOUT = (5.0, 30.0)


class TimeoutSession(requests.Session):
    """A session whose requests time out unless the caller says otherwise."""

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        return super().request(method, url, *args, **kwargs)


def provider_session(credentials: Mapping[str, Any] | None = None) -> requests.Session:
    session = TimeoutSession()
    session.headers["User-Agent"] = "hub-integration-hub/0.1"
    token = (credentials or {}).get("access_token")
    if token:
        session.headers["Authorization"] = f"Bearer {token}"
    return session
