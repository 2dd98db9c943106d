"""Which destination URLs the hub may deliver to, and at which addresses.

Design, "Destinations: events out to the host application", Addresses. A
tenant chooses the URL and the hub's worker POSTs to it from inside the
operator's network: without a check that is server-side request forgery
against loopback, the cloud metadata endpoint and private services.

The host string proves nothing (`2130706433`, `0177.0.0.1`, `127.1` and `0`
are all local addresses to the resolver, and any name may resolve anywhere),
so the host is resolved with getaddrinfo and EVERY address it returns is
checked. The check uses the networks written out below, not `ipaddress`'s
`is_private`/`is_global` flags: those miss 100.64/10 and the NAT64 and 6to4
forms that reach IPv4 space, and they change between Python versions.
The addresses that passed are the ones the transport connects to
(`hub.delivery.transport`), so a DNS answer that changes after the check
(rebinding) is never used.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from urllib3.util import parse_url

from hub.errors import BadRequest, ConfigurationError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The design's list, in its order.
_DESIGN_BLOCK_LIST = (
    "0.0.0.0/8",  # "this network"; 0.0.0.0 reaches the local host
    "10.0.0.0/8",  # private (RFC 1918)
    "100.64.0.0/10",  # shared address space, carrier-grade NAT (RFC 6598)
    "127.0.0.0/8",  # loopback
    "169.254.0.0/16",  # link-local, cloud metadata endpoints
    "172.16.0.0/12",  # private (RFC 1918)
    "192.0.0.0/24",  # IETF protocol assignments
    "192.168.0.0/16",  # private (RFC 1918)
    "198.18.0.0/15",  # benchmarking
    "192.0.2.0/24",  # documentation (TEST-NET-1)
    "198.51.100.0/24",  # documentation (TEST-NET-2)
    "203.0.113.0/24",  # documentation (TEST-NET-3)
    "224.0.0.0/4",  # multicast
    "240.0.0.0/4",  # reserved, and the broadcast address
    "::/128",  # unspecified
    "::1/128",  # loopback
    "fc00::/7",  # unique local
    "fe80::/10",  # link-local
    "ff00::/8",  # multicast
    "64:ff9b::/96",  # NAT64, well-known prefix: reaches IPv4 space
    "64:ff9b:1::/48",  # NAT64, local-use prefix
    "2002::/16",  # 6to4: reaches IPv4 space
    "2001::/32",  # Teredo: reaches IPv4 space
    "2001:db8::/32",  # documentation
    "3fff::/20",  # documentation (RFC 9637)
)
# Beyond the design's list, in the same spirit: forms that some stacks still
# route to IPv4 or to the local site.
_FURTHER_BLOCKED = (
    "::/96",  # IPv4-compatible IPv6 (deprecated by RFC 4291, still routed by some stacks)
    "100::/64",  # discard-only (RFC 6666)
    "fec0::/10",  # site-local (deprecated by RFC 3879, still private where used)
)
BLOCKED_NETWORKS: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = tuple(
    ipaddress.ip_network(network) for network in _DESIGN_BLOCK_LIST + _FURTHER_BLOCKED
)
_IPV4_MAPPED = ipaddress.IPv6Network("::ffff:0:0/96")

MAX_URL_LENGTH = 2048
_DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST_NAME = re.compile(r"[a-z0-9._-]+")


class DestinationRefused(BadRequest):
    """The URL may not be delivered to: its shape, or an address its host resolves to."""

    title, slug = "Destination refused", "destination-refused"


class DestinationUnresolvable(DestinationRefused):
    """The host resolves to no address; at delivery time a failed attempt, not a refusal for good."""

    title, slug = "Destination unresolvable", "destination-unresolvable"


@dataclass(frozen=True)
class DestinationURL:
    """A destination URL taken apart once, so every later step uses the same parts."""

    url: str
    scheme: str
    host: str  # lower case; an IPv6 literal without brackets
    port: int
    target: str  # the request target: path and query

    @property
    def host_header(self) -> str:
        """`Host` as the receiver expects it (RFC 9110 section 7.2): the port only when not the default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.port == _DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"


@dataclass(frozen=True)
class CheckedDestination:
    """A destination URL and the addresses it resolved to when checked: the only ones to connect to."""

    url: DestinationURL
    addresses: tuple[str, ...]


def check_destination(url: str, *, production: bool = False, allow_private: bool = False) -> CheckedDestination:
    """Check a destination URL now: at registration, and again before every attempt.

    `production` allows https only. `allow_private` lifts the address check
    for development and tests, and is refused in production.
    """
    if production and allow_private:
        raise ConfigurationError("Private destination addresses cannot be allowed in production.")
    destination = parse_destination_url(url, production=production)
    return CheckedDestination(destination, resolve_addresses(destination, allow_private=allow_private))


def parse_destination_url(url: str, *, production: bool = False) -> DestinationURL:
    """Take a destination URL apart, refusing anything a second parser could read differently."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL_LENGTH:
        raise DestinationRefused(f"The destination URL must be a string of at most {MAX_URL_LENGTH} characters.")
    if not url.isascii() or any(char <= " " or char in "\\\x7f" for char in url):
        raise DestinationRefused(
            "The destination URL has spaces, control characters, backslashes or non-ASCII characters "
            "(write an international domain name in its xn-- form)."
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise DestinationRefused("The destination URL cannot be parsed.") from None
    scheme = parts.scheme
    allowed = ("https",) if production else ("http", "https")
    if scheme not in allowed or not url.lower().startswith(f"{scheme}://"):
        raise DestinationRefused("The destination URL must use " + " or ".join(allowed) + ".")
    if "@" in parts.netloc:
        raise DestinationRefused("The destination URL must not contain a user name or password.")
    if parts.fragment or "#" in url:
        raise DestinationRefused("The destination URL must not have a fragment.")
    host = _host_of(parts)
    if port is None:
        port = _DEFAULT_PORTS[scheme]
    elif port == 0:
        raise DestinationRefused("The destination URL has an invalid port.")
    _check_same_reading(url, host, port)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return DestinationURL(url=url, scheme=scheme, host=host, port=port, target=target)


def _host_of(parts: SplitResult) -> str:
    host = parts.hostname or ""
    if not host:
        raise DestinationRefused("The destination URL has no host.")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            # Also refuses zone ids (fe80::1%eth0): they name an interface of this machine.
            raise DestinationRefused("The destination URL has an invalid IPv6 address.") from None
    elif not _HOST_NAME.fullmatch(host) or ".." in host or host.startswith("."):
        raise DestinationRefused("The destination URL has an invalid host name.")
    return host


def _check_same_reading(url: str, host: str, port: int) -> None:
    """urllib3, which requests sends with, must read the same host and port as the check did."""
    try:
        parsed = parse_url(url)
    except ValueError:
        raise DestinationRefused("The destination URL cannot be parsed.") from None
    theirs = (parsed.host or "").strip("[]").lower()
    if theirs != host or (parsed.port or _DEFAULT_PORTS.get(parsed.scheme or "", 0)) != port:
        raise DestinationRefused("The destination URL cannot be parsed unambiguously.")


def resolve_addresses(destination: DestinationURL, *, allow_private: bool = False) -> tuple[str, ...]:
    """Every address the host resolves to, in the resolver's order, each checked unless private ones are allowed.

    One blocked address refuses the whole name: a name with a public and a
    private answer would otherwise reach the private one whenever the
    public one fails.
    """
    try:
        answers = socket.getaddrinfo(destination.host, destination.port, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    except socket.gaierror:
        raise DestinationUnresolvable("The destination's host name does not resolve.") from None
    except UnicodeError:
        raise DestinationRefused("The destination URL has an invalid host name.") from None
    addresses: list[str] = []
    for family, _, _, _, sockaddr in answers:
        if family not in (socket.AF_INET, socket.AF_INET6):
            continue
        text = str(sockaddr[0])
        if "%" in text:
            raise DestinationRefused("The destination's host resolves to an address that is not allowed.")
        if text not in addresses:
            addresses.append(text)
    if not addresses:
        raise DestinationUnresolvable("The destination's host name does not resolve.")
    if not allow_private and any(is_blocked(ipaddress.ip_address(address)) for address in addresses):
        # The address itself is not named: it would tell a tenant how the
        # operator's internal names resolve.
        raise DestinationRefused("The destination's host resolves to a private, loopback or reserved address.")
    return tuple(addresses)


def is_blocked(address: IPAddress) -> bool:
    """Whether an address is in the block list; an IPv4-mapped IPv6 address is judged as its IPv4 address."""
    if isinstance(address, ipaddress.IPv6Address) and address in _IPV4_MAPPED:
        address = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return any(address in network for network in BLOCKED_NETWORKS)
