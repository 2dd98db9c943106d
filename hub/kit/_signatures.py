"""HMAC signature schemes: how most providers sign a webhook's raw body.

A provider computes an HMAC over the raw body with a secret it shares with
the receiver, often with a timestamp signed in front of the body so that a
captured request cannot be replayed later, and sends it hex or base64
encoded, sometimes behind a prefix (`sha256=`), sometimes several at once
(while a secret is being rolled). `HmacScheme` describes one provider's
variant once; `verify` then checks a delivery:

- always over the raw bytes, before anything parses them;
- in constant time (`hmac.compare_digest`, every candidate compared);
- never raising on what the sender controls: a missing, garbled, oversized,
  stale or future header is simply not valid;
- refusing an empty secret, which would make every signature forgeable.

Schemes without a timestamp (GitHub's `X-Hub-Signature-256`) cannot tell a
replay from a redelivery: there the dedupe id is the replay defence.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
import string
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

Algorithm = Literal["sha1", "sha256", "sha512"]
Encoding = Literal["hex", "base64", "base64url"]

DEFAULT_TOLERANCE_SECONDS = 300.0
# No honest signature header comes near these; anything larger is refused unread.
MAX_SIGNATURE_HEADER_LENGTH = 8192
MAX_SIGNATURES = 16

_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "sha512": hashlib.sha512}
_ENCODINGS = ("hex", "base64", "base64url")
_PLACEHOLDERS = {"timestamp", "message_id", "body"}
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_MESSAGE_ID = re.compile(r"[!-~]{1,256}")  # printable ASCII, no spaces


def _secret_bytes(secret: str | bytes) -> bytes:
    return secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)


def hmac_digest(secret: str | bytes, message: bytes, *, algorithm: Algorithm = "sha256", encoding: Encoding = "hex") -> str:
    """The HMAC of `message` keyed with `secret` (text keys are UTF-8), encoded as the provider sends it.

    The building block for schemes `HmacScheme` does not describe (Twilio
    signs the URL and sorted form fields with SHA-1, for example). An empty
    secret is refused with ValueError.

    >>> hmac_digest("secret", b"hello")
    '88aab3ede8d3adf94d26ab90d3bafd4a2083070c3bcce9c014ee04a443847c0b'
    >>> hmac_digest(b"secret", b"hello", algorithm="sha1", encoding="base64")
    'URIFXAX5RPhXVe/FzYlw4ZTp9Fs='
    """
    key = _secret_bytes(secret)
    if not key:
        raise ValueError("the signing secret is empty")
    if algorithm not in _ALGORITHMS:
        raise ValueError(f"unknown HMAC algorithm {algorithm!r}")
    digest = hmac.new(key, message, _ALGORITHMS[algorithm]).digest()
    if encoding == "hex":
        return digest.hex()
    if encoding == "base64":
        return base64.b64encode(digest).decode("ascii")
    if encoding == "base64url":
        return base64.urlsafe_b64encode(digest).decode("ascii")
    raise ValueError(f"unknown signature encoding {encoding!r}")


def constant_time_equal(given: str | bytes, expected: str | bytes) -> bool:
    """`given == expected`, in time that does not depend on where they differ.

    Safe for any text (`hmac.compare_digest` raises TypeError on non-ASCII
    `str`): both sides are compared as UTF-8 bytes.

    >>> constant_time_equal("abc", "abc"), constant_time_equal("abc", "abd"), constant_time_equal("é", "e")
    (True, False, False)
    """
    left = given.encode("utf-8", "surrogatepass") if isinstance(given, str) else bytes(given)
    right = expected.encode("utf-8", "surrogatepass") if isinstance(expected, str) else bytes(expected)
    return hmac.compare_digest(left, right)


def _candidates(signatures: str | Iterable[str] | None) -> list[str] | None:
    """The signatures to try, or None when there are none or too many or too long ones."""
    if signatures is None:
        return None
    found = [signatures] if isinstance(signatures, str) else list(signatures)
    if not found or len(found) > MAX_SIGNATURES:
        return None
    if not all(isinstance(item, str) and 0 < len(item) <= MAX_SIGNATURE_HEADER_LENGTH for item in found):
        return None
    return found


@dataclass(frozen=True)
class HmacScheme:
    """One provider's HMAC signature: what is signed, with which hash, how it is written.

    payload: the signed bytes as a template ending in `{body}` (the raw
    body); `{timestamp}` and `{message_id}` stand for the values the
    provider sends beside the signature, exactly as sent. Stripe signs
    `"{timestamp}.{body}"`, Slack `"v0:{timestamp}:{body}"`, GitHub just
    `"{body}"`.
    prefix: written before every signature (`"sha256="`, `"v0="`).
    tolerance_seconds: how far a signed timestamp may be from now, either
    way (the default five minutes is what Stripe, Slack and Standard
    Webhooks use).

    >>> GITHUB = HmacScheme(prefix="sha256=")
    >>> signature = GITHUB.sign("It's a Secret to Everybody", b"Hello, World!")
    >>> signature
    'sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17'
    >>> GITHUB.verify("It's a Secret to Everybody", b"Hello, World!", signature)
    True
    >>> GITHUB.verify("It's a Secret to Everybody", b"Hello, World?", signature)
    False
    """

    payload: str = "{body}"
    algorithm: Algorithm = "sha256"
    encoding: Encoding = "hex"
    prefix: str = ""
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS
    _signed_fields: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.algorithm not in _ALGORITHMS:
            raise ValueError(f"unknown HMAC algorithm {self.algorithm!r}")
        if self.encoding not in _ENCODINGS:
            raise ValueError(f"unknown signature encoding {self.encoding!r}")
        parsed = string.Formatter().parse(self.payload)
        fields = [(name, spec, conversion) for _, name, spec, conversion in parsed if name is not None]
        names = [name for name, _, _ in fields]
        if any(spec or conversion for _, spec, conversion in fields):
            raise ValueError("payload placeholders take no format spec or conversion")
        if not set(names) <= _PLACEHOLDERS or names.count("body") != 1 or not self.payload.endswith("{body}"):
            raise ValueError("payload must end in {body} and may hold only {timestamp} and {message_id} before it")
        if not math.isfinite(self.tolerance_seconds) or self.tolerance_seconds < 0:
            raise ValueError("tolerance_seconds must be a finite, non-negative number")
        object.__setattr__(self, "_signed_fields", frozenset(names))

    @property
    def signs_timestamp(self) -> bool:
        return "timestamp" in self._signed_fields

    @property
    def signs_message_id(self) -> bool:
        return "message_id" in self._signed_fields

    def _signed_bytes(self, body: bytes, timestamp: str | None, message_id: str | None) -> bytes:
        head = self.payload[: -len("{body}")].format(timestamp=timestamp, message_id=message_id)
        return head.encode("utf-8") + body

    def sign(self, secret: str | bytes, body: bytes, *, timestamp: int | str | None = None, message_id: str | None = None) -> str:
        """The signature a provider would send for `body` (prefix included): for fake providers and tests.

        >>> SLACK = HmacScheme(payload="v0:{timestamp}:{body}", prefix="v0=")
        >>> SLACK.sign("8f742231b10e8888abcd99yyyzzz85a5", b"x", timestamp=1531420618)
        'v0=edfae967b80f33520975bd7e759517e672520c7fff6c81aa6dc225970515ef90'
        """
        if self.signs_timestamp != (timestamp is not None):
            raise TypeError("pass a timestamp exactly when the payload signs one")
        if self.signs_message_id != (message_id is not None):
            raise TypeError("pass a message_id exactly when the payload signs one")
        stamp = str(timestamp) if timestamp is not None else None
        if stamp is not None and not _TIMESTAMP.fullmatch(stamp):
            raise ValueError("the timestamp must be whole seconds since the epoch")
        signed = self._signed_bytes(body, stamp, message_id)
        return self.prefix + hmac_digest(secret, signed, algorithm=self.algorithm, encoding=self.encoding)

    def verify(
        self,
        secret: str | bytes,
        body: bytes,
        signatures: str | Iterable[str] | None,
        *,
        timestamp: str | None = None,
        message_id: str | None = None,
        now: float | None = None,
        tolerance: float | None = None,
    ) -> bool:
        """True when one of `signatures` was made over `body` with `secret`, and the timestamp is recent.

        signatures: the header's value, or several candidates (Stripe's
        `v1` values, Standard Webhooks' entries); up to 16, prefix included.
        timestamp, message_id: the values sent beside the signature (as
        text, exactly as received), required when the payload signs them;
        `now` is then required too, and `tolerance` overrides the scheme's.
        Everything the sender controls only ever makes this False.

        >>> STRIPE = HmacScheme(payload="{timestamp}.{body}")
        >>> v1 = STRIPE.sign("whsec_test", b"{}", timestamp=1700000000)
        >>> STRIPE.verify("whsec_test", b"{}", [v1], timestamp="1700000000", now=1700000100)
        True
        >>> STRIPE.verify("whsec_test", b"{}", [v1], timestamp="1700000000", now=1700000400)
        False
        """
        if self.signs_timestamp:
            if now is None:
                raise TypeError("verifying a timestamped scheme needs now")
        elif timestamp is not None:
            raise TypeError("this scheme signs no timestamp; checking one would prove nothing")
        if not self.signs_message_id and message_id is not None:
            raise TypeError("this scheme signs no message id")
        if not isinstance(timestamp, str | None) or not isinstance(message_id, str | None):
            raise TypeError("pass the timestamp and message id as the text the sender sent")
        window = self.tolerance_seconds if tolerance is None else tolerance
        if not math.isfinite(window) or window < 0:
            raise ValueError("tolerance must be a finite, non-negative number")
        candidates = _candidates(signatures)
        if candidates is None or not _secret_bytes(secret):
            return False
        if self.signs_timestamp:
            if timestamp is None or not _TIMESTAMP.fullmatch(timestamp):
                return False
            assert now is not None
            if not abs(now - int(timestamp)) <= window:
                return False
        if self.signs_message_id and (message_id is None or not _MESSAGE_ID.fullmatch(message_id)):
            return False
        expected = self.sign(secret, body, timestamp=timestamp, message_id=message_id).encode("ascii")
        matched = False
        for candidate in candidates:
            matched |= hmac.compare_digest(expected, candidate.encode("utf-8", "surrogatepass"))
        return matched


@dataclass(frozen=True)
class SignatureFields:
    """The `key=value` items of a signature header such as Stripe's `t=1492774577,v1=5257a8...,v0=6ffbb5...`.

    >>> fields = parse_signature_fields("t=1492774577,v1=abc,v1=def,v0=old")
    >>> fields.one("t"), fields.all("v1"), fields.one("v1")
    ('1492774577', ('abc', 'def'), None)
    """

    items: tuple[tuple[str, str], ...] = ()

    def all(self, key: str) -> tuple[str, ...]:
        """Every value of `key`, in order."""
        return tuple(value for name, value in self.items if name == key)

    def one(self, key: str) -> str | None:
        """The value of `key` when it occurs exactly once; None when absent or repeated (two timestamps is a forgery)."""
        values = self.all(key)
        return values[0] if len(values) == 1 else None


def parse_signature_fields(header: str | None, *, separator: str = ",") -> SignatureFields:
    """The items of a `key=value` signature header; no items at all when the header is absent or malformed.

    Malformed: longer than 8 KiB, or an item without `=` (a value may
    itself contain `=`, as base64 does). Keys are compared as sent.

    >>> parse_signature_fields("ts=1671552777;h1=eb4d0dc8", separator=";").one("h1")
    'eb4d0dc8'
    >>> parse_signature_fields("t=1,garbage").items
    ()
    """
    if not header or len(header) > MAX_SIGNATURE_HEADER_LENGTH:
        return SignatureFields()
    items: list[tuple[str, str]] = []
    for item in header.split(separator):
        key, equals, value = item.strip().partition("=")
        if not equals or not key:
            return SignatureFields()
        items.append((key, value))
    return SignatureFields(tuple(items))
