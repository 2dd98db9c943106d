"""Using a connection from in-process code (processors, automation): the proxy without HTTP in front.

    from hub import connections

    @hookimpl
    def automate(event):
        slack = connections.session(event["tenantid"], event["integrationid"])
        slack.post("chat.postMessage", json={"channel": "C1", "text": "Paid!"}).raise_for_status()

`session(tenant_id, integration_id)` is a `requests.Session` bound to the
connector's API base URL: every request goes through
`hub.provider.proxy.forward`, exactly like `/api/integrations/<id>/proxy/...`,
so it gets the same authentication (the connector's `proxy_config`), refresh
ahead of expiry and once on a 401 under the integration's lease, path safety
(a path that would leave the base URL raises BadRequest before any
connection), `Hub-Retries` (as a header), deadline and rate limit. Paths are
relative to the base URL (`gmail/v1/users/me/profile`, `chat.postMessage`,
`v1/refunds`); an absolute URL is taken only when it starts with the base URL.

The hub's own refusals raise `hub.errors` exceptions (NotFound for another
tenant's integration, Conflict when it is not active or needs reauthorization,
ProviderTimeout, ProviderUnreachable), which make a processor's event retry.
Each request ends the caller's database transaction (it commits), because no
transaction may stay open while a provider is called (`hub.provider.calls`).
Redirects are never followed. Needs the app context a processor runs in.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote

import requests

from hub.errors import BadRequest
from hub.provider.proxy import ProxyRequest, connector_config, forward
from hub.provider.proxy_body import ReplayableBody
from hub.provider.proxy_request import parse_hub_retries
from hub.runtime import current_hub
from hub.tenancy.integrations import decrypt_credentials, get_integration_by_id

__all__ = ["ConnectionSession", "session"]

_PLACEHOLDER = "http://connection.invalid/"


class _IterableReader(io.RawIOBase):
    """A file-like view of an iterable of bytes, so a generator body streams like an upload does."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self._chunks: Iterator[bytes] = iter(chunks)
        self._pending = b""

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:  # type: ignore[override]
        while not self._pending:
            try:
                self._pending = bytes(next(self._chunks))
            except StopIteration:
                return b""
        if size is None or size < 0:
            size = len(self._pending)
        piece, self._pending = self._pending[:size], self._pending[size:]
        return piece


class ConnectionSession(requests.Session):
    """A requests session that talks to one integration's provider through the hub's proxy."""

    def __init__(self, tenant_id: str, integration_id: str, base_url: str) -> None:
        super().__init__()
        self.trust_env = False  # no .netrc credentials or environment proxies
        self.tenant_id = tenant_id
        self.integration_id = integration_id
        self.base_url = base_url

    def request(  # type: ignore[override]
        self,
        method: str | bytes,
        url: str | bytes,
        params: Any = None,
        data: Any = None,
        headers: Any = None,
        cookies: Any = None,
        files: Any = None,
        auth: Any = None,
        timeout: Any = None,
        allow_redirects: bool = True,
        proxies: Any = None,
        hooks: Any = None,
        stream: bool | None = None,
        verify: Any = None,
        cert: Any = None,
        json: Any = None,
    ) -> requests.Response:
        """Send through the proxy; `timeout`, `allow_redirects`, `auth`, `proxies`, `verify` and `cert` are the hub's to decide."""
        method_name = method.decode() if isinstance(method, bytes) else str(method)
        raw_path, _, url_query = self._relative(url.decode() if isinstance(url, bytes) else str(url)).partition("?")
        streamed_data = data if data is not None and not isinstance(data, (bytes, str, dict, list, tuple)) else None
        # Prepared on a placeholder URL for the query, headers and body only: preparing the path
        # itself would remove its dot segments before the proxy could refuse them.
        prepared = self.prepare_request(
            requests.Request(
                method_name.upper(), _PLACEHOLDER, params=params, headers=headers,
                data=None if streamed_data is not None else data, files=files, json=json, hooks=hooks,
            )
        )
        params_query = (prepared.url or "").partition("?")[2]
        raw_query = "&".join(part for part in (url_query, params_query) if part)
        caller_headers = [(name, value) for name, value in prepared.headers.items() if name.lower() != "hub-retries"]
        retries = parse_hub_retries(prepared.headers.get("Hub-Retries"))
        body = self._body(prepared.body, streamed_data)
        try:
            answer = forward(
                self.tenant_id,
                self.integration_id,
                ProxyRequest(method=method_name, raw_path=raw_path, raw_query=raw_query, headers=caller_headers, body=body, retries=retries),
            )
        finally:
            if body is not None:
                body.close()
        response = answer.response
        response.proxy_attempts = answer.attempts  # type: ignore[attr-defined]
        if not stream:
            response.content  # noqa: B018 - read now, as requests does without stream=True
        return response

    def _relative(self, url: str) -> str:
        """The path (and query) after the base URL, as given: one leading '/' dropped, characters a URL cannot hold escaped."""
        if url.lower().startswith(("http://", "https://")):
            base = self.base_url.rstrip("/") + "/"
            if not url.startswith(base):
                raise BadRequest("The URL is not under the connection's API base URL.")
            url = url[len(base):]
        elif url.startswith("/"):
            url = url[1:]
        return quote(url, safe="/%:@!$&'()*+,;=-._~?")

    @staticmethod
    def _body(prepared_body: Any, streamed: Any) -> ReplayableBody | None:
        limit = int(current_hub().settings["HUB_PROXY_MAX_BYTES"])
        if streamed is not None:
            reader = streamed if hasattr(streamed, "read") else _IterableReader(streamed)
            return ReplayableBody(reader, None, limit)
        if prepared_body is None:
            return None
        raw = prepared_body.encode("utf-8") if isinstance(prepared_body, str) else bytes(prepared_body)
        return ReplayableBody(io.BytesIO(raw), len(raw), limit)


def session(tenant_id: str, integration_id: str) -> ConnectionSession:
    """A session bound to the integration's provider API; another tenant's integration is NotFound, as everywhere."""
    integration = get_integration_by_id(tenant_id, integration_id)
    config = connector_config(integration.connector, decrypt_credentials(integration))
    return ConnectionSession(tenant_id, integration_id, config.base_url)
