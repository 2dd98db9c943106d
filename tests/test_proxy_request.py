"""The proxy's outgoing request: target URL, headers both ways, Hub-Retries and Retry-After.

Allowed paths are sent with requests to a real server on 127.0.0.1, which
reports the request line it received: the provider sees byte for byte what
the builder checked.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.errors import BadRequest
from hub.provider.proxy_request import (
    build_target_url,
    outgoing_headers,
    parse_hub_retries,
    parse_retry_after,
    proxied_target,
    returned_headers,
)
from tests.support.recording_server import RecordingServer, recording_server

BASE = "https://api.provider.test"

# Every escape form of the design's "Path safety", as the request line would
# carry it after `/proxy/` (WSGI raw strings: one character per byte).
ESCAPING_PATHS = [
    # dot segments, plain and encoded
    ".",
    "..",
    "v1/.",
    "v1/..",
    "v1/./charges",
    "v1/../admin",
    "v1/.../admin",
    "v1/%2e%2e/admin",
    "v1/%2E%2E/admin",
    "v1/%2e/admin",
    "v1/.%2e/admin",
    "v1/%2e./admin",
    "v1/file%2ejson",
    # double and deeper encodings
    "v1/%252e%252e/admin",
    "v1/%252E%252E/admin",
    "v1/%25252e%25252e/admin",
    "v1/%25%32%65%25%32%65/admin",
    "v1/%252F..%252Fadmin",
    "v1/%2525252525252e",
    # non-ASCII look-alikes of '.', '/', '\'
    "v1/%EF%BC%8E%EF%BC%8E/admin",  # U+FF0E fullwidth full stop
    "v1/%ef%bc%8e%ef%bc%8e/admin",
    "v1/%E2%80%A4%E2%80%A4/admin",  # U+2024 one dot leader
    "v1/%E2%80%A5/admin",  # U+2025 two dot leader
    "v1/%E2%80%A6/admin",  # U+2026 ellipsis
    "v1/%EF%B9%92%EF%B9%92/admin",  # U+FE52 small full stop
    "v1/%E3%80%82%E3%80%82/admin",  # U+3002 ideographic full stop
    "v1/%EF%BD%A1%EF%BD%A1/admin",  # U+FF61 halfwidth ideographic full stop
    "v1%EF%BC%8Fadmin",  # U+FF0F fullwidth solidus
    "v1%E2%88%95admin",  # U+2215 division slash
    "v1%E2%81%84admin",  # U+2044 fraction slash
    "v1%EF%BC%BCadmin",  # U+FF3C fullwidth reverse solidus
    "v1/%EF%BC%852e%EF%BC%852e/admin",  # U+FF05 fullwidth percent sign
    "v1/%C0%AE%C0%AE/admin",  # overlong UTF-8 for '.'
    "v1/%C0%AF",  # overlong UTF-8 for '/'
    "v1/%FF",
    # encoded separators
    "v1%2Fadmin",
    "v1%2fadmin",
    "v1%5Cadmin",
    "v1%5cadmin",
    "v1%3Fadmin",
    "v1%3fadmin",
    "v1%23admin",
    "v1%3Badmin",
    "v1%3badmin",
    "v1%252Fadmin",
    # NUL, control characters, CR/LF
    "v1/%00",
    "v1/a%00.json",
    "v1/%0D%0AX-Injected:%20yes",
    "v1/%0a",
    "v1/%09",
    "v1/%7F",
    "v1/a\x00",
    "v1/a\r\nX-Injected: yes",
    "v1/a\n",
    "v1/a\t",
    # raw ';', '\', '@', '#', space, non-ASCII
    "v1;jsessionid=x",
    "v1/a;b",
    "v1\\admin",
    "v1/..\\admin",
    "\\\\evil.test\\x",
    "v1/a@evil.test",
    "@evil.test",
    "v1/a#b",
    "v1/a b",
    "v1/\xe9",
    "v1/\xc3\xa9",
    # '//', absolute URLs
    "/evil.test/x",
    "//evil.test/x",
    "v1//admin",
    "http://evil.test/x",
    "https://evil.test/x",
    "HTTPS://evil.test/x",
    "http:evil.test",
    "https:%2F%2Fevil.test",
    "javascript:alert(1)",
    # malformed escapes
    "v1/%",
    "v1/%zz",
    "v1/%2",
]


@pytest.mark.parametrize("raw_path", ESCAPING_PATHS)
def test_every_path_escape_form_is_refused_with_400(raw_path: str) -> None:
    with pytest.raises(BadRequest) as refused:
        build_target_url(BASE, raw_path, "")
    assert refused.value.status == 400


@pytest.mark.parametrize("raw_query", ["a=\x00", "a=b\r\nX-Injected: yes", "a=\n", "a=\t", "a=\x7f", "a=b#frag"])
def test_raw_control_characters_and_fragments_in_the_query_are_refused(raw_query: str) -> None:
    with pytest.raises(BadRequest):
        build_target_url(BASE, "v1/charges", raw_query)


def test_the_refusal_does_not_echo_the_path() -> None:
    with pytest.raises(BadRequest) as refused:
        build_target_url(BASE, "v1/sk_live_secretish/..", "")
    assert "sk_live" not in refused.value.detail


# (raw path, raw query, the request target the provider must see)
ALLOWED = [
    ("v1/charges", "", "/v1/charges"),
    ("", "", "/"),
    ("v1/customers/cus_123/", "", "/v1/customers/cus_123/"),
    ("v1/charges", "limit=3&starting_after=ch_1", "/v1/charges?limit=3&starting_after=ch_1"),
    ("chat.postMessage", "channel=C1&text=hi%20there%0Abye", "/chat.postMessage?channel=C1&text=hi%20there%0Abye"),
    (
        "gmail/v1/users/me%40example.com/messages",
        "q=from%3Aa%40b.com+is%3Aunread&maxResults=5",
        "/gmail/v1/users/me%40example.com/messages?q=from%3Aa%40b.com+is%3Aunread&maxResults=5",
    ),
    ("v1/files/report.final.pdf", "", "/v1/files/report.final.pdf"),
    ("v1/projects/p1:batchGet", "", "/v1/projects/p1:batchGet"),
    ("v1/a-b_c~d!$&'()*+,=", "", "/v1/a-b_c~d!$&'()*+,="),
    ("v1/100%25", "", "/v1/100%25"),
    ("v1/%25zz", "", "/v1/%25zz"),
    ("v1/caf%C3%A9", "", "/v1/caf%C3%A9"),
    ("v1/%20x%20", "", "/v1/%20x%20"),
    # RFC 3986 section 6.2.2 normal form: what requests and urllib3 leave alone
    ("v1/caf%c3%a9", "", "/v1/caf%C3%A9"),
    ("v1/%7Euser/%41", "", "/v1/~user/A"),
    ("v1/a|b{c}", "", "/v1/a%7Cb%7Bc%7D"),
    ("v1/x", "a=%2b&b=%7e&c=%41", "/v1/x?a=%2B&b=~&c=A"),
    ("v1/x", "q=100%&r=%2B", "/v1/x?q=100%25&r=%2B"),
    ("v1/x", "a[]=1&b={2}", "/v1/x?a%5B%5D=1&b=%7B2%7D"),
    ("v1/x", "name=\xc3\xa9", "/v1/x?name=%C3%A9"),
    # query characters that are structure in a path are data here
    ("v1/x", "next=https://x.test/a/../b?c=d;e@f", "/v1/x?next=https://x.test/a/../b?c=d;e@f"),
    ("v1/x", "a=%00&b=%0D%0A&c=%2F..%2F", "/v1/x?a=%00&b=%0D%0A&c=%2F..%2F"),
    ("v1/x", "", "/v1/x"),
    ("v1/x", "a", "/v1/x?a"),
]


@pytest.fixture(scope="module")
def provider() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


def send(url: str, method: str = "GET") -> None:
    with requests.Session() as session:
        session.trust_env = False
        response = session.request(method, url, allow_redirects=False, timeout=10)
    assert response.status_code == 200


@pytest.mark.parametrize(("raw_path", "raw_query", "seen"), ALLOWED)
def test_allowed_paths_reach_the_provider_byte_for_byte_as_built(
    provider: RecordingServer, raw_path: str, raw_query: str, seen: str
) -> None:
    url = build_target_url(provider.url, raw_path, raw_query)
    assert url == provider.url + seen
    send(url)
    assert provider.requests[-1].request_line == f"GET {seen} HTTP/1.1"


@pytest.mark.parametrize(("raw_path", "raw_query", "seen"), ALLOWED)
def test_the_base_urls_path_is_kept_in_front(provider: RecordingServer, raw_path: str, raw_query: str, seen: str) -> None:
    url = build_target_url(provider.url + "/api/", raw_path, raw_query)
    assert url == provider.url + "/api" + seen
    send(url, "POST")
    assert provider.requests[-1].target == "/api" + seen


def test_requests_alone_would_send_encoded_dots_as_a_real_traversal(provider: RecordingServer) -> None:
    """Why the builder refuses before anything is sent: requests un-escapes %2e."""
    send(provider.url + "/v1/%2e%2e/admin")
    assert provider.requests[-1].target == "/v1/../admin"
    assert requests.Request("GET", provider.url + "/v1/../admin").prepare().url == provider.url + "/admin"


def test_a_base_url_that_requests_would_rewrite_is_refused() -> None:
    with pytest.raises(BadRequest):
        build_target_url("https://api.provider.test/v1/..", "admin", "")


@pytest.mark.parametrize(
    "base_url",
    ["", "api.provider.test", "ftp://api.provider.test", "https://user:pw@api.provider.test", "https://api.provider.test?a=1",
     "https://api.provider.test#x", "https:///v1", "https://api.provider.test\\@evil.test", "https://api provider.test"],
)
def test_a_connector_without_a_usable_base_url_gives_400(base_url: str) -> None:
    with pytest.raises(BadRequest):
        build_target_url(base_url, "v1/charges", "")


def test_the_provider_host_and_port_come_only_from_the_base_url() -> None:
    assert build_target_url("http://127.0.0.1:8080/api", "v1/x", "") == "http://127.0.0.1:8080/api/v1/x"
    assert build_target_url("HTTPS://API.Provider.TEST:443", "v1", "") == "https://api.provider.test:443/v1"


def test_query_parameters_the_connector_sets_replace_the_callers_under_any_spelling(provider: RecordingServer) -> None:
    caller = "x=1&account=evil&Account=e2&%61ccount=e3&acc%6Funt=e4&a=1;account=e5&account&y=%2B"
    url = build_target_url(provider.url, "v1/x", caller, {"account": "acct own/1"})
    assert url == provider.url + "/v1/x?x=1&y=%2B&account=acct%20own%2F1"
    send(url)
    assert provider.requests[-1].target == "/v1/x?x=1&y=%2B&account=acct%20own%2F1"


def test_the_connectors_query_parameters_are_added_to_an_empty_query() -> None:
    assert build_target_url(BASE, "v1/x", "", {"key": "k"}) == BASE + "/v1/x?key=k"


PREFIX = "/api/integrations/int_1/proxy"


@pytest.mark.parametrize(
    ("raw_target", "expected"),
    [
        (PREFIX + "/v1/charges?limit=3", ("v1/charges", "limit=3")),
        (PREFIX + "/v1/%2e%2e/admin", ("v1/%2e%2e/admin", "")),
        (PREFIX + "/v1/x?a=1?b=2", ("v1/x", "a=1?b=2")),
        (PREFIX, ("", "")),
        (PREFIX + "/", ("", "")),
        (PREFIX + "?a=1", ("", "a=1")),
        ("http://hub.test" + PREFIX + "/v1/x?y=1", ("v1/x", "y=1")),
        ("HTTPS://hub.test:8443" + PREFIX + "/v1", ("v1", "")),
    ],
)
def test_the_provider_path_comes_from_the_raw_request_target(raw_target: str, expected: tuple[str, str]) -> None:
    assert proxied_target(raw_target, PREFIX) == expected


@pytest.mark.parametrize(
    "raw_target",
    [
        "/api/integrations/int%5F1/proxy/v1",
        "/api/integrations/int_1/./proxy/v1",
        "/api/integrations/other/../int_1/proxy/v1",
        "/api/integrations/int_1/proxyx/v1",
        "/api//integrations/int_1/proxy/v1",
        "*",
        "hub.test/api/integrations/int_1/proxy/v1",
    ],
)
def test_a_request_target_that_spells_the_route_differently_is_refused(raw_target: str) -> None:
    with pytest.raises(BadRequest):
        proxied_target(raw_target, PREFIX)


# Headers -----------------------------------------------------------------

NEVER_FORWARDED = [
    ("Authorization", "Bearer caller-token"),
    ("Proxy-Authorization", "Basic Zm9vOmJhcg=="),
    ("Cookie", "__Host-hub_session=abc"),
    ("Host", "evil.test"),
    ("Forwarded", "for=1.2.3.4;host=evil.test"),
    ("X-Forwarded-For", "1.2.3.4"),
    ("X-Forwarded-Host", "evil.test"),
    ("x-forwarded-proto", "http"),
    ("Via", "1.1 somewhere"),
    ("Content-Length", "999"),
    ("Transfer-Encoding", "chunked"),
    ("Expect", "100-continue"),
    ("Connection", "keep-alive, X-Named-Hop"),
    ("X-Named-Hop", "1"),
    ("Keep-Alive", "timeout=5"),
    ("Proxy-Connection", "keep-alive"),
    ("TE", "trailers"),
    ("Trailer", "X-Checksum"),
    ("Upgrade", "websocket"),
    ("Hub-Retries", "3"),
    ("hub-anything", "x"),
]
FORWARDED = [
    ("Content-Type", "application/json"),
    ("Accept", "application/json"),
    ("User-Agent", "host-app/1.0"),
    ("Idempotency-Key", "idem-1"),
    ("X-Custom", "kept"),
    ("Accept-Encoding", "gzip, br"),
]


def test_the_callers_credentials_routing_framing_and_hub_headers_never_reach_the_provider() -> None:
    out = outgoing_headers(NEVER_FORWARDED + FORWARDED, {"Authorization": "Bearer integration-token"})
    assert out == dict(FORWARDED) | {"Authorization": "Bearer integration-token"}


def test_headers_the_connector_sets_replace_the_callers_under_any_spelling() -> None:
    caller = [("stripe-account", "acct_someone_else"), ("STRIPE-ACCOUNT", "acct_other"), ("X-Kept", "1")]
    out = outgoing_headers(caller, {"Stripe-Account": "acct_own", "Authorization": "Bearer t"})
    assert out == {"X-Kept": "1", "Stripe-Account": "acct_own", "Authorization": "Bearer t", "Accept-Encoding": "identity"}


def test_headers_the_connector_reserves_without_setting_are_dropped() -> None:
    out = outgoing_headers([("Stripe-Account", "acct_other"), ("X-Kept", "1")], {}, connector_removes=["stripe-account"])
    assert out == {"X-Kept": "1", "Accept-Encoding": "identity"}


def test_accept_encoding_is_forwarded_and_identity_when_the_caller_sent_none() -> None:
    assert outgoing_headers([("accept-encoding", "gzip")], {})["accept-encoding"] == "gzip"
    assert outgoing_headers([], {}) == {"Accept-Encoding": "identity"}


def test_repeated_caller_headers_are_combined_into_one_list() -> None:
    assert outgoing_headers([("Accept", "a/b"), ("accept", "c/d")], {})["Accept"] == "a/b, c/d"


@pytest.mark.parametrize(
    "header", [("X-Bad", "a\r\nInjected: 1"), ("X-Bad", "a\nb"), ("X-Bad", "a\x00"), ("Bad Name", "x"), ("Bad:Name", "x"), ("X-Bad\n", "x"), ("", "x")]
)
def test_a_header_that_could_split_the_request_gives_400(header: tuple[str, str]) -> None:
    with pytest.raises(BadRequest) as refused:
        outgoing_headers([header], {})
    assert header[1] not in refused.value.detail


def test_what_the_provider_receives_is_exactly_the_filtered_headers(provider: RecordingServer) -> None:
    headers = outgoing_headers(NEVER_FORWARDED + FORWARDED, {"Authorization": "Bearer integration-token"})
    with requests.Session() as session:
        session.trust_env = False
        session.headers.clear()
        session.get(build_target_url(provider.url, "v1/x", ""), headers=headers, timeout=10)
    seen = {name.lower(): value for name, value in provider.requests[-1].headers}
    assert seen == {name.lower(): value for name, value in headers.items()} | {"host": provider.url.removeprefix("http://")}
    assert seen["authorization"] == "Bearer integration-token"


NEVER_RETURNED = [
    ("Set-Cookie", "provider_session=1; Secure"),
    ("set-cookie", "other=2"),
    ("Connection", "close, X-Provider-Hop"),
    ("X-Provider-Hop", "1"),
    ("Keep-Alive", "timeout=5"),
    ("Transfer-Encoding", "chunked"),
    ("Upgrade", "h2c"),
    ("Trailer", "X-Checksum"),
    ("Proxy-Authenticate", "Basic"),
    ("Access-Control-Allow-Origin", "*"),
    ("Access-Control-Allow-Credentials", "true"),
    ("access-control-expose-headers", "X-Secret"),
    ("Alt-Svc", 'h3=":443"'),
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload"),
    ("Hub-Proxy-Attempts", "99"),
]
RETURNED = [
    ("Content-Type", "application/json"),
    ("Content-Encoding", "gzip"),
    ("ETag", '"abc"'),
    ("Request-Id", "req_1"),
    ("Retry-After", "3"),
    ("Link", "<https://api.provider.test/v1?page=2>; rel=next"),
    ("WWW-Authenticate", "Bearer"),
]


def test_the_providers_cookies_connection_cors_and_transport_policies_never_come_back() -> None:
    assert returned_headers(NEVER_RETURNED + RETURNED) == RETURNED


def test_content_length_comes_back_when_it_is_the_raw_bodys_true_length() -> None:
    headers = [("Content-Encoding", "gzip"), ("Content-Length", "123")]
    assert returned_headers(headers) == headers
    assert returned_headers([("Content-Length", "10"), ("Content-Length", "10")]) == [("Content-Length", "10")]


@pytest.mark.parametrize(
    "headers",
    [
        [("Transfer-Encoding", "chunked"), ("Content-Length", "10")],
        [("Content-Length", "10"), ("Content-Length", "11")],
        [("Content-Length", "-1")],
        [("Content-Length", "ten")],
        [("Content-Length", "1\u0661")],
        [("Content-Length", "\u00b2")],
    ],
)
def test_a_content_length_that_may_not_be_true_is_dropped(headers: list[tuple[str, str]]) -> None:
    assert all(name.lower() != "content-length" for name, _ in returned_headers(headers))


# Hub-Retries and Retry-After ----------------------------------------------


@pytest.mark.parametrize(("value", "retries"), [(None, 0), ("0", 0), ("1", 1), ("9", 9), ("10", 10)])
def test_hub_retries_accepts_zero_to_ten(value: str | None, retries: int) -> None:
    assert parse_hub_retries(value) == retries


@pytest.mark.parametrize("value", ["", "-1", "11", "100", "1.0", "+1", " 1", "1 ", "01", "0x1", "1e1", "NaN", "inf", "three", "\u0663", "1\n", "10\n"])
def test_hub_retries_outside_zero_to_ten_gives_400(value: str) -> None:
    with pytest.raises(BadRequest):
        parse_hub_retries(value)


NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        (" 120 ", 120.0),
        (format_datetime(NOW + timedelta(seconds=30), usegmt=True), 30.0),
        ("Sunday, 01-Mar-26 12:00:05 GMT", 5.0),
        ("Sun Mar  1 12:00:09 2026", 9.0),
        (format_datetime(NOW - timedelta(hours=1), usegmt=True), 0.0),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    "value", [None, "", " ", "-1", "-0.5", "1.5", "NaN", "nan", "inf", "Infinity", "-inf", "1e3", "+5", "soon", "99999999999", "\u0663",
              "Sun, 32 Mar 2026 12:00:00 GMT", "Sun, 01 Mar 2026 25:00:00 GMT"]
)
def test_retry_after_that_cannot_be_read_is_ignored(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


# Any path at all ----------------------------------------------------------

_PIECES = [".", "..", "/", "\\", "%", "2", "e", "E", "f", "F", "5", "c", "C", "%2e", "%2F", "%25", "%5C", "%00", "%C0%AE",
           "%EF%BC%8E", "a", "v1", ";", "@", ":", "?", "#", " ", "~", "%7e", "\xe9", "\uff0e", "http:"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(_PIECES), max_size=12).map("".join))
def test_whatever_the_path_the_url_stays_under_the_base_and_no_decoding_of_it_traverses(raw_path: str) -> None:
    try:
        url = build_target_url("https://api.provider.test/base", raw_path, "")
    except BadRequest:
        return
    assert url.startswith("https://api.provider.test/base/")
    assert requests.Request("GET", url).prepare().url == url
    path = urlsplit(url).path
    for _ in range(6):
        for segment in unicodedata.normalize("NFKC", path).split("/"):
            assert segment.strip(". ") or "." not in segment
        path = unquote(path)
