"""Turning an incoming proxy call into the request the hub sends to the provider.

Pure functions for the proxy of the design ("Using a connection: the
proxy"): the view calls them before any connection is made, so whatever they
refuse is a 400 that the provider never sees.

The target URL is built from the raw request target (the bytes of the
request line), never from the router's decoded path and never with
`urljoin`: decoding first or joining is how `/v1/%2e%2e/admin` becomes
`/admin`. The URL comes out in the normal form that requests and urllib3
leave as it is (RFC 3986 section 6.2.2: upper-case percent-escapes,
unreserved characters unescaped, characters that are invalid in a URI
escaped). requests would otherwise rewrite it on the way out (it removes dot
segments, re-cases and un-escapes), so `build_target_url` prepares the
result with requests and refuses any difference: what the provider receives
is byte for byte what was checked here.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime
from urllib.parse import quote, unquote_to_bytes, urlsplit

import requests
from urllib3.util import parse_url

from hub.errors import BadRequest

_UNRESERVED = frozenset(string.ascii_letters + string.digits + "-._~")
_SUB_DELIMS_WITHOUT_SEMICOLON = frozenset("!$&'()*+,=")
# A path keeps unreserved characters, sub-delimiters and ':' as they are. ';'
# (matrix parameters, which some servers strip along with what follows) and '@'
# (userinfo, when a URL is re-parsed) are refused by the design.
_PATH_LITERALS = _UNRESERVED | _SUB_DELIMS_WITHOUT_SEMICOLON | frozenset(":")
# RFC 3986 query characters: pchar, '/' and '?'. ';' and '@' are plain data here.
_QUERY_LITERALS = _UNRESERVED | _SUB_DELIMS_WITHOUT_SEMICOLON | frozenset(";:@/?")
# Invalid in a URI but harmless once escaped; urllib3 would escape them anyway.
_ESCAPED_WHEN_RAW = frozenset('"<>[]^`{|}')
# Bytes that must never appear percent-encoded in a path, at any depth of
# encoding: they would change the path's structure for a server that decodes.
_FORBIDDEN_ENCODED = frozenset(b"/\\?#;.")
# Non-ASCII characters that read as '.', '/' or '\' although NFKC does not map
# them there (U+3002 is a label dot to IDNA; the slashes are mathematical).
# Those that NFKC maps (U+FF0E, U+2024, U+FF0F, U+FF3C, U+FF05...) are caught
# by comparing the text before and after normalisation.
_LOOKALIKES = frozenset("\u3002\u2215\u2044\u29f8\u29f5\u29f9\u2216")
_ESCAPE = re.compile(r"%([0-9A-Fa-f]{2})")
_SCHEME_LIKE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
_MAX_ENCODING_DEPTH = 4
_DEFAULT_PORTS = {"http": 80, "https": 443}

MAX_HUB_RETRIES = 10
_HUB_RETRIES = re.compile(r"[0-9]|10")
_DELAY_SECONDS = re.compile(r"[0-9]{1,10}")
_DIGITS = re.compile(r"[0-9]+")


def _refuse(why: str) -> BadRequest:
    return BadRequest(f"The proxied path is refused: {why}.")


def proxied_target(raw_target: str, route_prefix: str) -> tuple[str, str]:
    """Split the raw request target into the provider path after the proxy route and the raw query.

    `route_prefix` is the route up to and without the slash before the provider
    path (`/api/integrations/<id>/proxy`). The router matched a decoded path;
    the remainder must come from the same bytes, so a target that does not
    start with the prefix literally (an id or a route spelled with escapes or
    dot segments) is refused rather than guessed at.
    """
    target = raw_target
    if not target.startswith("/"):
        # The absolute form (RFC 9112 section 3.2.2) that a server must accept.
        match = re.match(r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#]*", target)
        if match is None:
            raise _refuse("the request target is not a path")
        target = target[match.end() :] or "/"
    path, _, query = target.partition("?")
    if path == route_prefix:
        return "", query
    if not path.startswith(route_prefix + "/"):
        raise _refuse("the request target does not match the proxy route")
    return path[len(route_prefix) + 1 :], query


def build_target_url(
    base_url: str, raw_path: str, raw_query: str = "", connector_query: Mapping[str, str] | None = None
) -> str:
    """The provider URL for a proxied call: the base URL, '/', the path, and the query.

    `raw_path` is the provider path as the request line carried it, without
    its leading slash; `raw_query` the query without '?'. Both are WSGI raw
    strings: one character per byte. `connector_query` holds the parameters
    the connector sets; they replace the caller's of the same name. Raises
    BadRequest for every form of escape the design lists, and when the
    result would leave the base URL.
    """
    base = _parse_base_url(base_url)
    path = _canonical_path(raw_path)
    query = _with_connector_query(_canonical_query(raw_query), connector_query or {})
    base_path = base.path.rstrip("/")
    url = f"{base.scheme}://{base.netloc}{base_path}/{path}"
    if query:
        url += f"?{query}"
    _check_stays_under(url, base, base_path)
    return url


@dataclass(frozen=True)
class _Base:
    scheme: str
    netloc: str
    host: str
    port: int
    path: str


def _parse_base_url(base_url: str) -> _Base:
    unusable = BadRequest("The connector has no usable API base URL.")
    if not base_url or not base_url.isascii() or any(c <= " " or c in "\\\x7f" for c in base_url):
        raise unusable
    try:
        parsed = parse_url(base_url)
    except ValueError:
        raise unusable from None
    if parsed.scheme not in _DEFAULT_PORTS or not parsed.host or parsed.auth is not None:
        raise unusable
    if parsed.query is not None or parsed.fragment is not None:
        raise unusable
    if (parsed.path or "") != urlsplit(base_url).path:
        # urllib3 rewrote the path (dot segments, escapes): the prefix that
        # every proxied URL must keep would not be the one configured.
        raise unusable
    port = parsed.port or _DEFAULT_PORTS[parsed.scheme]
    return _Base(parsed.scheme, parsed.netloc or "", parsed.host, port, parsed.path or "")


def _canonical_path(raw_path: str) -> str:
    if raw_path.startswith("/") or "//" in raw_path:
        raise _refuse("empty path segments ('//') are not allowed")
    segments = raw_path.split("/")
    if _SCHEME_LIKE.match(segments[0]):
        raise _refuse("absolute URLs are not allowed")
    return "/".join(_canonical_segment(segment) for segment in segments)


def _canonical_segment(segment: str) -> str:
    out: list[str] = []
    i = 0
    while i < len(segment):
        char = segment[i]
        if char == "%":
            match = _ESCAPE.match(segment, i)
            if match is None:
                raise _refuse("'%' must start a percent-escape")
            byte = int(match.group(1), 16)
            decoded = chr(byte)
            out.append(decoded if decoded in _UNRESERVED else f"%{byte:02X}")
            i = match.end()
            continue
        if char in _PATH_LITERALS:
            out.append(char)
        elif char in _ESCAPED_WHEN_RAW:
            out.append(f"%{ord(char):02X}")
        elif char == "\\":
            raise _refuse("backslashes are not allowed")
        elif char == "@":
            raise _refuse("'@' is not allowed")
        elif char == ";":
            raise _refuse("';' is not allowed")
        elif char < " " or char == "\x7f":
            raise _refuse("control characters are not allowed")
        else:
            # '#', space and non-ASCII: a conforming client percent-encodes them.
            raise _refuse("the path has a character that must be percent-encoded")
        i += 1
    _check_decodings(segment)
    return "".join(out)


def _check_decodings(segment: str) -> None:
    """Refuse a segment that any depth of percent-decoding turns into a traversal.

    A provider (or a proxy in front of it) may decode once or more, and may
    fold Unicode compatibility forms: `%252e` is a dot after two decodings,
    `%EF%BC%8E` (U+FF0E) after NFKC. Every layer is checked for dot
    segments and separators, before and after NFKC.
    """
    layer = segment
    for depth in range(_MAX_ENCODING_DEPTH + 1):
        text = layer
        if not text.isascii():
            normalised = unicodedata.normalize("NFKC", text)
            if any(char in _LOOKALIKES for char in text + normalised) or any(
                normalised.count(char) > text.count(char) for char in "./\\%"
            ):
                raise _refuse("characters that look like '.', '/', '\\' or '%' are not allowed")
        if text.strip(". ") == "" and "." in text:
            raise _refuse("dot segments are not allowed")
        if "/" in text or "\\" in text:
            raise _refuse("encoded '/' or '\\' is not allowed")
        if _ESCAPE.search(layer) is None:
            return
        if depth == _MAX_ENCODING_DEPTH:
            break
        layer = _percent_decode_layer(layer)
    raise _refuse("the path is encoded too many times")


def _percent_decode_layer(text: str) -> str:
    """Decode one layer of percent-escapes, refusing bytes that must never be encoded."""
    raw = bytearray()
    i = 0
    while i < len(text):
        match = _ESCAPE.match(text, i) if text[i] == "%" else None
        if match is None:
            raw += text[i].encode("utf-8")
            i += 1
            continue
        byte = int(match.group(1), 16)
        if byte in _FORBIDDEN_ENCODED:
            raise _refuse("encoded '.', '/', '\\', '?', '#' or ';' is not allowed")
        if byte < 0x20 or byte == 0x7F:
            raise _refuse("encoded control characters are not allowed")
        raw.append(byte)
        i = match.end()
    try:
        # Strict UTF-8 refuses overlong forms such as %C0%AE (a '.').
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _refuse("percent-escapes must decode to UTF-8") from None


def _canonical_query(raw_query: str) -> str:
    """The query as sent, in the form urllib3 and requests leave alone.

    Escapes stay escapes (control characters included: encoded, they are
    data such as a newline in a message text); only raw control characters
    and a raw '#' (urllib3 would cut the query there) are refused.
    """
    out: list[str] = []
    i = 0
    while i < len(raw_query):
        char = raw_query[i]
        if char == "%":
            match = _ESCAPE.match(raw_query, i)
            if match is None:
                out.append("%25")
            else:
                byte = int(match.group(1), 16)
                decoded = chr(byte)
                out.append(decoded if decoded in _UNRESERVED else f"%{byte:02X}")
                i = match.end()
                continue
        elif char in _QUERY_LITERALS:
            out.append(char)
        elif char < " " or char == "\x7f":
            raise BadRequest("The query string has a control character.")
        elif char == "#":
            raise BadRequest("The query string has a raw '#'.")
        elif char <= "\xff":
            # Raw non-ASCII bytes (WSGI strings carry one byte per character),
            # space and the characters invalid in a URI: escaped as urllib3 would.
            out.append(f"%{ord(char):02X}")
        else:
            raise BadRequest("The query string is not a raw request target.")
        i += 1
    return "".join(out)


def _with_connector_query(query: str, connector_query: Mapping[str, str]) -> str:
    """Drop the caller's parameters that the connector sets, then append the connector's.

    Names are compared as a server would read them: decoded ('%73' is 's',
    '+' a space), in any case, and with ';' also taken as a separator, so no
    spelling of a parameter lets a caller override the connector's.
    """
    if not connector_query:
        return query
    reserved = {name.encode("utf-8").lower() for name in connector_query}
    kept = [part for part in query.split("&") if part and not _names_any(part, reserved)]
    kept += [f"{quote(name, safe='')}={quote(value, safe='')}" for name, value in connector_query.items()]
    return "&".join(kept)


def _names_any(part: str, reserved: set[bytes]) -> bool:
    for field in part.split(";"):
        name = field.partition("=")[0]
        if unquote_to_bytes(name.replace("+", " ")).lower() in reserved:
            return True
    return False


def _check_stays_under(url: str, base: _Base, base_path: str) -> None:
    """The design's final check, done with the parser that requests itself uses."""
    try:
        parsed = parse_url(url)
        preparation = requests.PreparedRequest()
        preparation.prepare_url(url, None)
        prepared = preparation.url
    except (ValueError, requests.exceptions.RequestException):
        raise _refuse("the URL cannot be built") from None
    port = parsed.port or _DEFAULT_PORTS.get(parsed.scheme or "", 0)
    if (parsed.scheme, parsed.host, port) != (base.scheme, base.host, base.port):
        raise _refuse("the URL leaves the provider's host")
    if not (parsed.path or "").startswith(base_path + "/"):
        raise _refuse("the URL leaves the provider's base path")
    if prepared != url:
        raise _refuse("the URL would not be sent as built")


# Headers -----------------------------------------------------------------

# RFC 9110 section 7.6.1: connection-specific fields a proxy must not forward.
_HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade", "proxy-authenticate", "proxy-authorization"}
)
_NEVER_FORWARDED = _HOP_BY_HOP | frozenset(
    {"authorization", "cookie", "host", "forwarded", "via", "content-length", "expect"}
)
_NEVER_RETURNED = _HOP_BY_HOP | frozenset({"set-cookie", "set-cookie2", "alt-svc", "strict-transport-security"})
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")


def _connection_named(headers: Iterable[tuple[str, str]]) -> set[str]:
    """Field names listed in Connection, which are hop-by-hop as well (RFC 9110 section 7.6.1)."""
    named: set[str] = set()
    for name, value in headers:
        if name.lower() == "connection":
            named.update(token.strip().lower() for token in value.split(",") if token.strip())
    return named


def _check_field(name: str, value: str) -> None:
    if not _TOKEN.fullmatch(name) or any(char in value for char in "\r\n\x00"):
        raise BadRequest("A request header has an invalid name or value.")


def outgoing_headers(
    caller_headers: Iterable[tuple[str, str]],
    connector_headers: Mapping[str, str],
    *,
    connector_removes: Iterable[str] = (),
) -> dict[str, str]:
    """The headers sent to the provider: the caller's safe ones, then the connector's.

    The caller's credentials, cookies, routing and framing fields and every
    `Hub-*` field stay with the hub. Headers the connector sets replace the
    caller's under any spelling, and `connector_removes` names fields a
    connector reserves without setting (a caller must not reach another
    account through the integration's key). `Accept-Encoding` is forwarded so
    that the raw body the provider sends is one the caller can decode;
    without one, `identity`.
    """
    caller = list(caller_headers)
    replaced = {name.lower() for name in connector_headers} | {name.lower() for name in connector_removes}
    dropped = _NEVER_FORWARDED | _connection_named(caller) | replaced
    out: dict[str, str] = {}
    seen: dict[str, str] = {}
    for name, value in caller:
        _check_field(name, value)
        lower = name.lower()
        if lower in dropped or lower.startswith(("x-forwarded-", "hub-")):
            continue
        if lower in seen:
            # RFC 9110 section 5.3: repeated fields combine into one list.
            out[seen[lower]] = f"{out[seen[lower]]}, {value}"
        else:
            seen[lower] = name
            out[name] = value
    for name, value in connector_headers.items():
        _check_field(name, value)
        out[name] = value
    if not any(name.lower() == "accept-encoding" for name in out):
        out["Accept-Encoding"] = "identity"
    return out


def returned_headers(provider_headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The provider's headers that reach the caller.

    The provider's cookies, connection fields, CORS grants, HSTS and Alt-Svc
    are about the provider's origin, not the hub's, so they stay behind; a
    provider's own `Hub-*` fields would pass for the hub's. The body is passed
    through as raw bytes, so `Content-Encoding` stays; `Content-Length` stays
    only when it is the body's true length (one valid value and no
    Transfer-Encoding, RFC 9112 section 6.3).
    """
    headers = list(provider_headers)
    dropped = _NEVER_RETURNED | _connection_named(headers)
    chunked = any(name.lower() == "transfer-encoding" for name, _ in headers)
    lengths = {value.strip() for name, value in headers if name.lower() == "content-length"}
    length_is_true = not chunked and len(lengths) == 1 and _DIGITS.fullmatch(next(iter(lengths))) is not None
    out: list[tuple[str, str]] = []
    length_sent = False
    for name, value in headers:
        lower = name.lower()
        if lower in dropped or lower.startswith(("access-control-", "hub-")):
            continue
        if lower == "content-length":
            if not length_is_true or length_sent:
                continue
            length_sent = True
            value = value.strip()
        out.append((name, value))
    return out


# Retries -----------------------------------------------------------------


def parse_hub_retries(value: str | None) -> int:
    """`Hub-Retries`: how many times the hub may retry a failed call, 0 to 10 (default 0)."""
    if value is None:
        return 0
    if not _HUB_RETRIES.fullmatch(value):
        raise BadRequest(f"Hub-Retries must be a whole number from 0 to {MAX_HUB_RETRIES}.")
    return int(value)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a provider's `Retry-After` (RFC 9110 section 10.2.3), or None.

    Either delay-seconds (digits only: no sign, fraction, NaN or infinity) or
    an HTTP date, which counts from `now` and is never negative. None when
    the header is absent or unreadable, so the caller falls back to its own
    backoff instead of trusting a value it cannot read.
    """
    if value is None:
        return None
    text = value.strip()
    if _DELAY_SECONDS.fullmatch(text):
        return float(int(text))
    if not text or text[0].isdigit() or len(text) > 64:
        return None
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return max(0.0, (when - (now or datetime.now(timezone.utc))).total_seconds())
