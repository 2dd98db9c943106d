"""Sending a delivery to the very address that was checked.

Design, "Destinations", Addresses: "the connection goes to the address that
was checked (TLS still verifies the host name), with no proxy taken from the
environment and no redirects". Resolving the name again at connect time
would let a DNS answer that changed since the check (rebinding) reach a
private address, so the request URL names the checked IP itself; the `Host`
header carries the destination's name, and for https the adapter gives that
name to TLS as SNI and as the name the certificate must match.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.exceptions import NewConnectionError
from urllib3.util import parse_url

from hub.delivery.addresses import CheckedDestination

# Design: at most 1 KiB of each response body is kept.
RESPONSE_BODY_LIMIT = 1024
USER_AGENT = "hub-webhooks/0.1"


class PinnedAddressAdapter(HTTPAdapter):
    """An adapter that connects only to IP literals, taking the TLS name from the `Host` header.

    A URL with a host name is refused before any connection, so a caller
    that forgot to pin cannot fall back to resolving it.
    """

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: bool | str, cert: Any = None
    ) -> tuple[Any, Any]:
        host_params, base_pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        pool_kwargs: dict[str, Any] = dict(base_pool_kwargs)
        try:
            ipaddress.ip_address(host_params["host"] or "")
        except ValueError:
            raise ValueError("A destination is reached only at a checked address.") from None
        if host_params["scheme"] == "https":
            pool_kwargs["server_hostname"] = _tls_name(request)
        return host_params, pool_kwargs


def _tls_name(request: requests.PreparedRequest) -> str:
    host_header = request.headers.get("Host")
    if not host_header:
        raise ValueError("A pinned https request needs the destination's name in Host.")
    if isinstance(host_header, bytes):
        host_header = host_header.decode("ascii")
    name = parse_url(f"//{host_header}").host or ""
    return name.strip("[]")


class _NoRedirectSession(requests.Session):
    """A session that never treats an answer as a redirect.

    `allow_redirects=False` alone is not enough: requests still works out the
    next request of a 3xx answer, reading its whole body into memory first,
    so a receiver could make a worker read an endless body.
    """

    def get_redirect_target(self, resp: requests.Response) -> None:
        return None


def delivery_session() -> requests.Session:
    """A session for deliveries: pinned addresses, nothing from the environment, no cookies kept.

    `trust_env=False` keeps HTTP(S)_PROXY (which would connect by name,
    elsewhere) and .netrc credentials out. Cookies a receiver sets are never
    stored, so none travels to another tenant's receiver at the same address.
    One session per thread: requests does not promise more.
    """
    session = _NoRedirectSession()
    session.trust_env = False
    session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
    session.headers.clear()
    session.headers.update({"User-Agent": USER_AGENT, "Accept": "*/*", "Accept-Encoding": "identity"})
    adapter = PinnedAddressAdapter()
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@dataclass(frozen=True)
class DeliveryResponse:
    status_code: int
    headers: Mapping[str, str]
    body: bytes  # at most RESPONSE_BODY_LIMIT bytes, as sent (never decompressed)


def post(
    session: requests.Session,
    destination: CheckedDestination,
    body: bytes,
    headers: Mapping[str, str],
    *,
    timeout: float,
    verify: bool | str = True,
) -> DeliveryResponse:
    """POST `body` to the destination at one of its checked addresses; redirects come back as they are.

    Addresses are tried in the resolver's order, moving on only when a
    connection could not be made at all (nothing was sent, so nothing can
    arrive twice). Other failures propagate as requests exceptions for the
    caller to record as a failed attempt. `timeout` bounds the connection and
    each read (requests' meaning), not the attempt as a whole.
    """
    url = destination.url
    sent_headers = {name: value for name, value in headers.items() if name.lower() != "host"}
    sent_headers["Host"] = url.host_header
    failure: requests.ConnectionError | None = None
    for address in destination.addresses:
        literal = f"[{address}]" if ":" in address else address
        try:
            response = session.post(
                f"{url.scheme}://{literal}:{url.port}{url.target}",
                data=body,
                headers=sent_headers,
                timeout=timeout,
                verify=verify,
                allow_redirects=False,
                stream=True,
            )
        except requests.ConnectionError as error:
            if not _never_connected(error):
                raise
            failure = error
            continue
        with response:
            return DeliveryResponse(response.status_code, response.headers, _read_capped(response))
    if failure is None:
        raise ValueError("A checked destination has at least one address.")
    raise failure


def _never_connected(error: requests.ConnectionError) -> bool:
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = getattr(error.args[0] if error.args else None, "reason", None)
    return isinstance(reason, NewConnectionError)


def _read_capped(response: requests.Response) -> bytes:
    """The first RESPONSE_BODY_LIMIT bytes; the rest is never read, so a huge answer costs nothing."""
    kept = bytearray()
    while len(kept) <= RESPONSE_BODY_LIMIT:
        chunk = response.raw.read(RESPONSE_BODY_LIMIT + 1 - len(kept), decode_content=False)
        if not chunk:
            # The whole body was read: the connection may serve the next delivery.
            response.raw.release_conn()
            break
        kept += chunk
    return bytes(kept[:RESPONSE_BODY_LIMIT])
