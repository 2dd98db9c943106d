"""`/api/integrations/<id>/proxy/<path>`: a tenant's call to its provider's API, through the hub's credentials.

Thin: authenticate, read the raw request target, hand the call to
`hub.provider.proxy.forward`, and stream the provider's answer back as raw
bytes with `Hub-Proxy-Attempts`. The body streams both ways: the caller's
from the WSGI input (bounded by `HUB_PROXY_MAX_BYTES`), the provider's
through `raw.stream(decode_content=False)`, so neither is ever held whole
and `Content-Encoding` / `Content-Length` stay true.

The caller's query string belongs to the provider, so unlike the other
management routes a `tenant_id` parameter is not refused here: it is the
provider's to read, and the tenant still comes from the API key only.
"""

from __future__ import annotations

from collections.abc import Iterator

import requests
from flask import Blueprint, Response, g, request
from werkzeug.routing import BaseConverter

from hub.api.auth import authenticate_api_key
from hub.errors import BadRequest
from hub.provider.proxy import METHODS, ProxyRequest, forward
from hub.provider.proxy_body import CHUNK_BYTES, ReplayableBody
from hub.provider.proxy_request import parse_hub_retries, proxied_target, returned_headers
from hub.runtime import current_hub
from hub.storage.database import reads_outside_a_transaction

blueprint = Blueprint("proxy", __name__)


class AnyRemainder(BaseConverter):
    """The rest of the path, whatever it holds (a leading '/', CR/LF), so the proxy refuses it with 400 instead of a 404."""

    regex = r"[\s\S]*"
    weight = 200
    part_isolating = False


@blueprint.record_once
def _add_converter(state) -> None:  # type: ignore[no-untyped-def]
    state.app.url_map.converters["remainder"] = AnyRemainder


class RawResponse(Response):
    """A response that adds no Content-Type of its own: the provider's headers are the ones sent."""

    default_mimetype = None  # type: ignore[assignment]


def _raw_target() -> str:
    """The request target as the client sent it; servers name it RAW_URI (gunicorn) or REQUEST_URI (werkzeug, uWSGI)."""
    environ = request.environ
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        raise BadRequest("The server does not expose the raw request target, so the proxied path cannot be checked.")
    return raw


def _streamed(upstream: requests.Response) -> Iterator[bytes]:
    """The provider's body as it arrives, raw: a caller that leaves early closes the provider's connection too."""
    try:
        yield from upstream.raw.stream(CHUNK_BYTES, decode_content=False)
    finally:
        upstream.close()


# merge_slashes is off: werkzeug would otherwise answer `//host` with a redirect instead of the 400 it deserves.
@blueprint.route("/api/integrations/<integration_id>/proxy/<remainder:path>", methods=list(METHODS), merge_slashes=False)
def proxy(integration_id: str, path: str):  # type: ignore[no-untyped-def]
    reads_outside_a_transaction()
    g.tenant_id = authenticate_api_key()
    retries = parse_hub_retries(request.headers.get("Hub-Retries"))
    raw_path, raw_query = proxied_target(_raw_target(), f"{request.script_root}/api/integrations/{integration_id}/proxy")
    body = None
    if request.method not in ("GET", "HEAD") or request.content_length or request.headers.get("Transfer-Encoding"):
        limit = int(current_hub().settings["HUB_PROXY_MAX_BYTES"])
        # One byte past the limit: werkzeug refuses a chunked body that reaches its bound even when it ends
        # there; the body itself counts to the limit (hub.provider.proxy_body).
        request.max_content_length = limit + 1
        body = ReplayableBody(request.stream, request.content_length, limit)
    call = ProxyRequest(
        method=request.method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=list(request.headers.items()),
        body=body,
        retries=retries,
    )
    try:
        answer = forward(g.tenant_id, integration_id, call)
    finally:
        if body is not None:
            body.close()
    upstream = answer.response
    headers = returned_headers(upstream.raw.headers.items())
    headers.append(("Hub-Proxy-Attempts", str(answer.attempts)))
    response = RawResponse(_streamed(upstream), status=upstream.status_code, headers=headers, direct_passthrough=True)
    response.call_on_close(upstream.close)
    return response
