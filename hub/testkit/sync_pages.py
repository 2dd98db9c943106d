"""Calling a connector's `sync` hook page after page, the way the hub's sync queue does (for plugins' tests)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hub.plugins import PluginHost
from hub.provider.session import provider_session
from hub.types import SyncResult


def sync_page(host: PluginHost, connector: str, credentials: Mapping[str, Any], cursor: str | None = None) -> SyncResult:
    """One call of the hook, with an HTTP session carrying the credentials' access token."""
    return host.sync(connector, session=provider_session(credentials), credentials=credentials, cursor=cursor)


def sync_until_done(
    host: PluginHost, connector: str, credentials: Mapping[str, Any], cursor: str | None = None, max_pages: int = 100
) -> tuple[list[str], str | None]:
    """Call again with the returned cursor while `has_more`; returns the record ids and the final cursor."""
    ids: list[str] = []
    for _ in range(max_pages):
        result = sync_page(host, connector, credentials, cursor)
        assert result.retry_after is None, "the connector asked to be called later"
        ids += [record.id for record in result.records]
        cursor = result.cursor
        if not result.has_more:
            return ids, cursor
    raise AssertionError(f"sync did not finish within {max_pages} pages")
