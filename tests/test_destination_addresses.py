"""Destination addresses: SSRF refusals, and delivery to the very address that was checked.

Name resolution is answered by a fake resolver patched in at the socket
layer (`socket.getaddrinfo`), the one thing these tests replace: it decides
what a name resolves to at check time and at connect time. Every request
goes over real HTTP(S) to servers on the loopback interface.
"""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hub.delivery.addresses import (
    CheckedDestination,
    DestinationRefused,
    DestinationUnresolvable,
    check_destination,
    is_blocked,
)
from hub.delivery.transport import RESPONSE_BODY_LIMIT, delivery_session, post
from hub.errors import ConfigurationError
from tests.support.recording_server import RecordingServer, recording_server

# The design's block list, written out again so the module cannot drift from it.
DESIGN_BLOCK_LIST = [
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12", "192.0.0.0/24",
    "192.168.0.0/16", "198.18.0.0/15", "192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4",
    "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "64:ff9b::/96", "64:ff9b:1::/48", "2002::/16", "2001::/32",
    "2001:db8::/32",
]  # fmt: skip


def addresses_of(network: str) -> list[str]:
    """The first, second, middle and last address of a network."""
    net = ipaddress.ip_network(network)
    first = int(net.network_address)
    return sorted({str(ipaddress.ip_address(first + offset)) for offset in (0, min(1, net.num_addresses - 1), net.num_addresses // 2, net.num_addresses - 1)})


BLOCKED_ADDRESSES = [address for network in DESIGN_BLOCK_LIST for address in addresses_of(network)]
PUBLIC_ADDRESSES = [
    "93.184.215.14", "8.8.8.8", "1.1.1.1", "9.255.255.255", "11.0.0.0", "100.63.255.255", "100.128.0.0", "126.255.255.255",
    "128.0.0.0", "169.253.255.255", "169.255.0.0", "172.15.255.255", "172.32.0.0", "191.255.255.255", "192.0.1.0",
    "192.0.3.0", "192.167.255.255", "192.169.0.0", "198.17.255.255", "198.20.0.0", "223.255.255.255",
    "2606:4700:4700::1111", "2001:4860:4860::8888", "2001:1::1", "2003::1", "64:ff9b:2::1", "::ffff:8.8.8.8",
]  # fmt: skip


class FakeResolver:
    """Answers `socket.getaddrinfo` per host name; IP literals go to the real resolver, which parses them."""

    def __init__(self, real: Callable[..., Any]) -> None:
        self.real = real
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []

    def answer(self, name: str, *per_lookup: list[str]) -> None:
        """What `name` resolves to at each lookup; the last answer repeats."""
        self.answers[name] = list(per_lookup)

    def __call__(self, host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0, flags: int = 0) -> Any:  # noqa: A002
        name = host.decode() if isinstance(host, bytes) else host
        self.lookups.append(name)
        if name not in self.answers:
            return self.real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)
        queue = self.answers[name]
        addresses = queue.pop(0) if len(queue) > 1 else queue[0]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        port_number = int(port or 0)
        results: list[tuple[Any, ...]] = []
        for address in addresses:
            if ":" in address:
                if family in (0, socket.AF_INET6):
                    results.append((socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port_number, 0, 0)))
            elif family in (0, socket.AF_INET):
                results.append((socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port_number)))
        return results


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeResolver:
    resolver = FakeResolver(socket.getaddrinfo)
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    return resolver


@pytest.fixture
def receiver() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with delivery_session() as session:
        yield session


def deliver(session: requests.Session, checked: CheckedDestination, **kwargs: Any) -> Any:
    return post(session, checked, b'{"type":"hub.ping"}', {"Content-Type": "application/json"}, timeout=5, **kwargs)


# Refusals ------------------------------------------------------------------


@pytest.mark.parametrize("address", BLOCKED_ADDRESSES)
def test_every_blocked_range_is_refused_when_a_name_resolves_into_it(dns: FakeResolver, address: str) -> None:
    dns.answer("hooks.example.com", [address])
    with pytest.raises(DestinationRefused) as refused:
        check_destination("https://hooks.example.com/in")
    assert refused.value.status == 400
    assert address not in refused.value.detail


@pytest.mark.parametrize("address", BLOCKED_ADDRESSES)
def test_every_blocked_range_is_refused_as_a_literal_address(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    with pytest.raises(DestinationRefused):
        check_destination(f"http://{host}:8080/in")


@pytest.mark.parametrize("network", DESIGN_BLOCK_LIST)
def test_the_block_list_is_explicit_and_holds_the_designs_networks(network: str) -> None:
    for address in addresses_of(network):
        assert is_blocked(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "host",
    [
        "2130706433", "0177.0.0.1", "127.1", "0", "0x7f.1", "0x7f000001", "017700000001", "127.0.1", "0177.1", "localhost",
        "[::1]", "[::]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[0:0:0:0:0:ffff:7f00:1]",
        "[::ffff:10.0.0.1]", "[::ffff:169.254.169.254]", "[::127.0.0.1]", "[64:ff9b::7f00:1]", "[64:ff9b::a9fe:a9fe]",
        "[2002:7f00:1::1]", "[2001:0:4136:e378:8000:63bf:80ff:fffe]", "169.254.169.254", "[fd00:ec2::254]",
        "100.100.100.200", "0.0.0.0", "255.255.255.255",
    ],
)  # fmt: skip
def test_alternative_spellings_of_private_addresses_are_refused(host: str) -> None:
    with pytest.raises(DestinationRefused):
        check_destination(f"http://{host}/latest/meta-data/")


def test_a_name_with_one_private_answer_among_public_ones_is_refused(dns: FakeResolver) -> None:
    dns.answer("hooks.example.com", ["93.184.215.14", "2606:4700:4700::1111", "10.0.0.7"])
    with pytest.raises(DestinationRefused):
        check_destination("https://hooks.example.com/in")


@pytest.mark.parametrize("address", PUBLIC_ADDRESSES)
def test_public_addresses_are_accepted(dns: FakeResolver, address: str) -> None:
    dns.answer("hooks.example.com", [address])
    checked = check_destination("https://hooks.example.com/in?x=1")
    assert checked.addresses == (address,)
    assert checked.url.target == "/in?x=1"


def test_ipv4_mapped_addresses_are_judged_as_ipv4() -> None:
    assert not is_blocked(ipaddress.ip_address("::ffff:8.8.8.8"))
    assert is_blocked(ipaddress.ip_address("::ffff:192.168.1.1"))
    assert is_blocked(ipaddress.ip_address("::ffff:100.64.0.1"))


@pytest.mark.parametrize(
    "url",
    [
        "ftp://hooks.example.com/in", "file:///etc/passwd", "gopher://hooks.example.com/", "javascript:alert(1)",
        "http://user:pass@hooks.example.com/in", "https://user@hooks.example.com/", "https://@hooks.example.com/",
        "https://hooks.example.com@127.0.0.1/", "https://hooks.example.com\\@127.0.0.1/", "https://hooks.example.com:0/",
        "https://hooks.example.com:99999/", "https://hooks.example.com:abc/", "http:///in", "https://", "//hooks.example.com/in",
        "hooks.example.com/in", "https://hooks.example.com/in#frag", "https://hooks example.com/", "https://hooks.example.com/\x00",
        "https://hooks.example.com/\r\nX: 1", " https://hooks.example.com/", "https://b\u00fccher.example/in",
        "https://[fe80::1%25eth0]/", "https://[::1/", "https://hooks..example.com/", "https://.hooks.example.com/",
        "https://hooks.example.com" + "/a" * 1100, "", "http:/hooks.example.com/in", "https:hooks.example.com/in",
    ],
)  # fmt: skip
def test_urls_that_are_not_plain_http_or_https_to_a_host_are_refused(url: str) -> None:
    with pytest.raises(DestinationRefused) as refused:
        check_destination(url)
    assert refused.value.status == 400


def test_production_takes_https_only(dns: FakeResolver) -> None:
    dns.answer("hooks.example.com", ["93.184.215.14"])
    with pytest.raises(DestinationRefused):
        check_destination("http://hooks.example.com/in", production=True)
    assert check_destination("https://hooks.example.com/in", production=True).addresses == ("93.184.215.14",)


def test_private_addresses_cannot_be_allowed_in_production() -> None:
    with pytest.raises(ConfigurationError):
        check_destination("https://hooks.example.com/in", production=True, allow_private=True)


def test_a_name_that_does_not_resolve_is_refused(dns: FakeResolver) -> None:
    dns.answer("nowhere.example.com", [])
    with pytest.raises(DestinationUnresolvable) as refused:
        check_destination("https://nowhere.example.com/in")
    assert refused.value.status == 400


def test_a_name_that_turns_private_is_refused_at_the_next_check(dns: FakeResolver) -> None:
    dns.answer("hooks.example.com", ["93.184.215.14"], ["127.0.0.1"])
    check_destination("https://hooks.example.com/in")
    with pytest.raises(DestinationRefused):
        check_destination("https://hooks.example.com/in")


# Delivery to the checked address --------------------------------------------


def test_with_allow_private_a_delivery_reaches_a_local_receiver(receiver: RecordingServer, session: requests.Session) -> None:
    checked = check_destination(receiver.url + "/hooks?tenant=1", allow_private=True)
    response = deliver(session, checked)
    assert response.status_code == 200
    assert response.body == b"ok"
    [seen] = receiver.requests
    assert seen.request_line == "POST /hooks?tenant=1 HTTP/1.1"
    assert seen.body == b'{"type":"hub.ping"}'
    assert dict(seen.headers)["Host"] == f"127.0.0.1:{receiver.port}"


def test_the_host_header_always_names_the_checked_destination(
    dns: FakeResolver, receiver: RecordingServer, session: requests.Session
) -> None:
    dns.answer("receiver.example.com", ["127.0.0.1"])
    checked = check_destination(f"http://receiver.example.com:{receiver.port}/in", allow_private=True)
    post(session, checked, b"{}", {"host": "other.example.com", "HOST": "evil.example.com"}, timeout=5)
    assert [value for name, value in receiver.requests[0].headers if name.lower() == "host"] == [
        f"receiver.example.com:{receiver.port}"
    ]


def test_without_allow_private_a_local_receiver_is_refused_before_any_connection(receiver: RecordingServer) -> None:
    with pytest.raises(DestinationRefused):
        check_destination(receiver.url + "/hooks")
    assert receiver.requests == []


def test_the_connection_goes_to_the_checked_address_not_to_a_new_dns_answer(
    dns: FakeResolver, receiver: RecordingServer, session: requests.Session
) -> None:
    """Checked at 127.0.0.1; resolving again would give 127.0.0.2, where nothing listens."""
    dns.answer("receiver.example.com", ["127.0.0.1"], ["127.0.0.2"])
    checked = check_destination(f"http://receiver.example.com:{receiver.port}/in", allow_private=True)
    assert deliver(session, checked).status_code == 200
    assert dns.lookups.count("receiver.example.com") == 1
    assert dict(receiver.requests[0].headers)["Host"] == f"receiver.example.com:{receiver.port}"


def test_a_dns_answer_that_turns_to_loopback_after_the_check_never_reaches_loopback(
    dns: FakeResolver, receiver: RecordingServer, session: requests.Session
) -> None:
    """DNS rebinding: public at check time, 127.0.0.1 at connect time."""
    public = "192.88.99.1"
    dns.answer("rebind.example.com", [public], ["127.0.0.1"])
    checked = check_destination(f"http://rebind.example.com:{receiver.port}/in")
    assert checked.addresses == (public,)
    try:
        post(session, checked, b"{}", {}, timeout=2)
    except requests.RequestException:
        pass  # whatever answers at the public address, if anything, is not the point
    assert receiver.requests == []
    assert dns.lookups.count("rebind.example.com") == 1
    assert public in dns.lookups


def test_the_adapter_refuses_a_url_that_names_a_host_instead_of_an_address(
    receiver: RecordingServer, session: requests.Session
) -> None:
    with pytest.raises(requests.exceptions.InvalidURL):
        session.post(f"http://localhost:{receiver.port}/in", data=b"{}", timeout=5)
    assert receiver.requests == []


def test_addresses_that_refuse_the_connection_are_skipped_in_order(
    dns: FakeResolver, receiver: RecordingServer, session: requests.Session
) -> None:
    dns.answer("receiver.example.com", ["127.0.0.2", "127.0.0.1"])
    checked = check_destination(f"http://receiver.example.com:{receiver.port}/in", allow_private=True)
    assert deliver(session, checked).status_code == 200
    assert len(receiver.requests) == 1


def _has_ipv6_loopback() -> bool:
    try:
        with socket.socket(socket.AF_INET6) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
def test_an_ipv6_receiver_is_reached_at_its_checked_address(session: requests.Session) -> None:
    with recording_server(host="::1") as receiver:
        checked = check_destination(receiver.url + "/in", allow_private=True)
        assert checked.addresses == ("::1",)
        assert deliver(session, checked).status_code == 200
        assert dict(receiver.requests[0].headers)["Host"] == f"[::1]:{receiver.port}"


def test_redirects_are_not_followed(receiver: RecordingServer, session: requests.Session) -> None:
    receiver.status = 307
    receiver.reply_headers = [("Location", receiver.url + "/elsewhere")]
    response = deliver(session, check_destination(receiver.url + "/in", allow_private=True))
    assert response.status_code == 307
    assert [seen.target for seen in receiver.requests] == ["/in"]


def test_no_proxy_from_the_environment_is_used(
    monkeypatch: pytest.MonkeyPatch, receiver: RecordingServer, session: requests.Session
) -> None:
    with recording_server() as proxy:
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
            monkeypatch.setenv(name, proxy.url)
        monkeypatch.delenv("NO_PROXY", raising=False)
        monkeypatch.delenv("no_proxy", raising=False)
        assert deliver(session, check_destination(receiver.url + "/in", allow_private=True)).status_code == 200
        assert proxy.requests == []
    assert len(receiver.requests) == 1


def test_cookies_a_receiver_sets_are_never_sent_back(receiver: RecordingServer, session: requests.Session) -> None:
    receiver.reply_headers = [("Set-Cookie", "session=abc; Path=/")]
    checked = check_destination(receiver.url + "/in", allow_private=True)
    deliver(session, checked)
    deliver(session, checked)
    assert all(name.lower() != "cookie" for name, _ in receiver.requests[1].headers)


@pytest.mark.parametrize("status", [200, 302, 307, 500])
def test_an_endless_response_body_is_not_read_past_one_kib(
    receiver: RecordingServer, session: requests.Session, status: int
) -> None:
    receiver.status = status
    receiver.reply_headers = [("Location", receiver.url + "/elsewhere")]
    receiver.endless_reply_limit = 256 * 1024 * 1024
    response = deliver(session, check_destination(receiver.url + "/in", allow_private=True))
    assert (response.status_code, response.body) == (status, b"x" * RESPONSE_BODY_LIMIT)
    assert receiver.endless_reply_over.wait(timeout=60)
    assert receiver.endless_reply_cut_short
    assert [seen.target for seen in receiver.requests] == ["/in"]


def test_at_most_one_kib_of_the_response_body_is_kept(receiver: RecordingServer, session: requests.Session) -> None:
    receiver.reply_body = b"x" * (RESPONSE_BODY_LIMIT * 50)
    checked = check_destination(receiver.url + "/in", allow_private=True)
    assert deliver(session, checked).body == b"x" * RESPONSE_BODY_LIMIT
    receiver.reply_body = b"short"
    assert deliver(session, checked).body == b"short"


# TLS to a checked address ----------------------------------------------------


def issue_certificate(directory: Path, name: str) -> tuple[Path, ssl.SSLContext]:
    """A throwaway CA (its PEM path, for the client) and a server context holding a certificate for `name`."""
    now = datetime.datetime.now(datetime.timezone.utc)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "hub test CA")])
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(True, False, False, False, False, False, False, False, False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    ca_path = directory / f"ca-{name}.pem"
    ca_path.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    chain_path = directory / f"{name}.pem"
    chain_path.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        + cert.public_bytes(serialization.Encoding.PEM)
    )
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain_path)
    return ca_path, context


def test_https_to_a_checked_address_verifies_the_host_name(
    tmp_path: Path, dns: FakeResolver, session: requests.Session
) -> None:
    ca_path, context = issue_certificate(tmp_path, "receiver.example.com")
    with recording_server(tls=context) as receiver:
        dns.answer("receiver.example.com", ["127.0.0.1"], ["127.0.0.2"])
        checked = check_destination(f"https://receiver.example.com:{receiver.port}/in", allow_private=True)
        response = deliver(session, checked, verify=str(ca_path))
        assert response.status_code == 200
        [seen] = receiver.requests
        assert seen.server_name == "receiver.example.com"
        assert dict(seen.headers)["Host"] == f"receiver.example.com:{receiver.port}"


def test_https_refuses_a_certificate_for_another_name(tmp_path: Path, dns: FakeResolver, session: requests.Session) -> None:
    ca_path, context = issue_certificate(tmp_path, "other.example.com")
    with recording_server(tls=context) as receiver:
        dns.answer("receiver.example.com", ["127.0.0.1"])
        checked = check_destination(f"https://receiver.example.com:{receiver.port}/in", allow_private=True)
        with pytest.raises(requests.exceptions.SSLError):
            deliver(session, checked, verify=str(ca_path))
        assert receiver.requests == []


def test_https_by_address_needs_a_certificate_for_the_address(tmp_path: Path, session: requests.Session) -> None:
    ca_path, context = issue_certificate(tmp_path, "receiver.example.com")
    with recording_server(tls=context) as receiver:
        checked = check_destination(receiver.url + "/in", allow_private=True)
        with pytest.raises(requests.exceptions.SSLError):
            deliver(session, checked, verify=str(ca_path))
        assert receiver.requests == []


def test_https_verifies_certificates_by_default(tmp_path: Path, dns: FakeResolver, session: requests.Session) -> None:
    _, context = issue_certificate(tmp_path, "receiver.example.com")
    with recording_server(tls=context) as receiver:
        dns.answer("receiver.example.com", ["127.0.0.1"])
        checked = check_destination(f"https://receiver.example.com:{receiver.port}/in", allow_private=True)
        with pytest.raises(requests.exceptions.SSLError):
            deliver(session, checked)
        assert receiver.requests == []
