"""hub.kit: the helpers connector packages use for signatures, rate limits, paging, settings and bodies.

Known-answer vectors come from the providers' own documentation (GitHub,
Slack) or from openssl; Standard Webhooks is checked against the official
`standardwebhooks` package as the other side. Paging and rate-limit
headers are also read from real HTTP responses of a fake API on loopback.
"""

from __future__ import annotations

import ast
import base64
import doctest
import hashlib
import hmac
import importlib
import inspect
import json
import math
import pkgutil
import sys
import time
from datetime import UTC, datetime

import pytest
import requests
from flask import Flask, request
from hypothesis import given, settings
from hypothesis import strategies as st
from requests.structures import CaseInsensitiveDict
from standardwebhooks import Webhook, WebhookVerificationError

import hub.kit as kit
from hub.kit import (
    HmacScheme,
    SettingError,
    bool_setting,
    choice_setting,
    constant_time_equal,
    decode_cursor,
    encode_cursor,
    float_setting,
    hmac_digest,
    int_setting,
    list_setting,
    next_page_url,
    parse_json_object,
    parse_link_header,
    parse_retry_after,
    parse_signature_fields,
    quota_reset_wait,
    rate_limit_delay,
    retry_after_seconds,
    standard_webhook_headers,
    standard_webhook_key,
    url_setting,
    verify_standard_webhook,
)
from hub.testkit.http_server import serve_wsgi

NOW = 1_700_000_000
SECRET = "whsec_SigningSecretNeverShown0123"
BODY = b'{"id":"evt_1","type":"charge.succeeded"}'
GITHUB = HmacScheme(prefix="sha256=")
STRIPE = HmacScheme(payload="{timestamp}.{body}")
SLACK = HmacScheme(payload="v0:{timestamp}:{body}", prefix="v0=")
SW_SECRET = "whsec_" + base64.b64encode(b"standard-webhooks-test-key-32-by").decode()

SECRET_LOOKING = "sk_live_51SecretValueThatMustNotLeak"
KIT_MODULES = sorted(module.name for module in pkgutil.iter_modules(kit.__path__))


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


_JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)


# --- the public face -------------------------------------------------------------------------


@pytest.mark.parametrize("module", KIT_MODULES)
def test_docstring_examples_run_as_written(module):
    results = doctest.testmod(importlib.import_module(f"hub.kit.{module}"), optionflags=doctest.ELLIPSIS)
    assert results.attempted > 0
    assert results.failed == 0


@pytest.mark.parametrize("name", [n for n in kit.__all__ if inspect.isfunction(getattr(kit, n))])
def test_every_public_function_is_typed_and_shows_an_example(name):
    function = getattr(kit, name)
    signature = inspect.signature(function)
    assert signature.return_annotation is not inspect.Signature.empty
    assert all(p.annotation is not inspect.Parameter.empty for p in signature.parameters.values())
    assert ">>> " in (function.__doc__ or "")


def test_the_kit_imports_nothing_but_the_standard_library():
    """A connector package can use the kit without pulling in the hub's server dependencies."""
    for module in ["__init__", *KIT_MODULES]:
        tree = ast.parse(inspect.getsource(importlib.import_module("hub.kit" if module == "__init__" else f"hub.kit.{module}")))
        imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
        imported |= {node.module or "" for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        outside = {name for name in imported if name.split(".")[0] not in sys.stdlib_module_names and not name.startswith("hub.kit.")}
        assert outside == set(), module


# --- settings --------------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("50", 50), (" 7 ", 7), ("+3", 3), ("1", 1), ("100", 100), (42, 42), (None, 100), ("", 100), ("   ", 100)])
def test_an_integer_setting_within_bounds_is_read(raw, expected):
    assert int_setting({"PAGE_SIZE": raw}, "PAGE_SIZE", default=100, minimum=1, maximum=100) == expected


@pytest.mark.parametrize(
    "raw",
    ["0", "101", "-5", "nan", "NaN", "inf", "-inf", "1e2", "1_0", "5.0", "0x10", "١٢", "１２", "ten", "9" * 30,
     SECRET_LOOKING, True, False, 5.0, math.nan, math.inf, [5], {"n": 5}],
)
def test_an_integer_setting_out_of_bounds_or_not_an_integer_is_refused_by_name_without_its_value(raw):
    with pytest.raises(SettingError) as refused:
        int_setting({"PAGE_SIZE": raw}, "PAGE_SIZE", default=100, minimum=1, maximum=100)
    assert isinstance(refused.value, ValueError)
    assert str(refused.value) == "PAGE_SIZE must be an integer from 1 to 100"
    assert refused.value.setting == "PAGE_SIZE"


@pytest.mark.parametrize(
    ("minimum", "maximum", "message"),
    [(None, None, "N must be an integer"), (0, None, "N must be an integer of at least 0"), (None, 9, "N must be an integer of at most 9")],
)
def test_the_refusal_says_what_the_setting_must_be(minimum, maximum, message):
    with pytest.raises(SettingError, match=f"^{message}$"):
        int_setting({"N": "x"}, "N", default=1, minimum=minimum, maximum=maximum)


@pytest.mark.parametrize(("raw", "expected"), [("300", 300.0), ("0.5", 0.5), (".5", 0.5), ("5.", 5.0), (10, 10.0), (2.5, 2.5), ("", 300.0)])
def test_a_number_setting_is_read(raw, expected):
    assert float_setting({"TOLERANCE": raw}, "TOLERANCE", default=300.0, minimum=0, maximum=3600) == expected


@pytest.mark.parametrize("raw", ["nan", "NaN", "inf", "Infinity", "-1", "3601", "1e3", "1,5", ".", SECRET_LOOKING, math.nan, math.inf, -math.inf, True])
def test_a_number_setting_that_is_not_finite_or_out_of_bounds_is_refused(raw):
    with pytest.raises(SettingError) as refused:
        float_setting({"TOLERANCE": raw}, "TOLERANCE", default=300.0, minimum=0, maximum=3600)
    assert SECRET_LOOKING not in str(refused.value)
    assert str(refused.value) == "TOLERANCE must be a number from 0 to 3600"


@pytest.mark.parametrize(
    ("raw", "separators", "expected"),
    [
        ("a,b,c", ",", ("a", "b", "c")),
        (" a , b ,, c ,", ",", ("a", "b", "c")),
        ("a b,c", ",", ("a b", "c")),
        ("a b,c\td\n e", ", ", ("a", "b", "c", "d", "e")),
        ("a;b", ";", ("a", "b")),
        ("a,a", ",", ("a", "a")),
        (["x", " y "], ",", ("x", "y")),
        ("", ",", ("default",)),
        (" , , ", ",", ("default",)),
        (None, ",", ("default",)),
    ],
)
def test_a_list_setting_is_split_trimmed_and_blank_items_dropped(raw, separators, expected):
    assert list_setting({"SCOPES": raw}, "SCOPES", default=("default",), separators=separators) == expected


@pytest.mark.parametrize("raw", [5, True, ["a", 5], {"a": "b"}])
def test_a_list_setting_that_is_not_text_is_refused(raw):
    with pytest.raises(SettingError, match="^SCOPES must be a list of text items$"):
        list_setting({"SCOPES": raw}, "SCOPES")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("true", True), ("TRUE", True), ("1", True), ("yes", True), ("on", True), (" Yes ", True), (True, True),
     ("false", False), ("0", False), ("no", False), ("off", False), ("False", False), (False, False),
     (None, None), ("", None)],
)
def test_a_boolean_setting_is_read(raw, expected):
    assert bool_setting({"LIVEMODE": raw}, "LIVEMODE", default=None) is expected


@pytest.mark.parametrize("raw", ["maybe", "2", "-1", "t", "y", "nan", SECRET_LOOKING, 1, 0, 1.0])
def test_a_boolean_setting_that_is_not_a_yes_or_no_is_refused(raw):
    with pytest.raises(SettingError) as refused:
        bool_setting({"LIVEMODE": raw}, "LIVEMODE")
    assert str(refused.value) == "LIVEMODE must be true or false"


def test_a_boolean_setting_defaults_to_false():
    assert bool_setting({}, "LIVEMODE") is False


def test_a_choice_setting_maps_words_case_insensitively():
    choices = {"live": True, "test": False}
    assert choice_setting({"MODE": "LIVE"}, "MODE", choices, default=None) is True
    assert choice_setting({"MODE": " test "}, "MODE", choices, default=None) is False
    assert choice_setting({}, "MODE", choices, default=None) is None
    with pytest.raises(SettingError, match="^MODE must be one of live, test$") as refused:
        choice_setting({"MODE": SECRET_LOOKING}, "MODE", choices, default=None)
    assert SECRET_LOOKING not in str(refused.value)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("https://api.github.com", "https://api.github.com"),
        ("https://api.github.com/", "https://api.github.com"),
        ("http://127.0.0.1:8080/api/v3/", "http://127.0.0.1:8080/api/v3"),
        ("HTTPS://Example.COM/path?x=1", "HTTPS://Example.COM/path?x=1"),
        (" https://api.github.com ", "https://api.github.com"),
        ("", "https://default.test"),
        (None, "https://default.test"),
    ],
)
def test_a_url_setting_is_an_http_base_url_without_trailing_slash(raw, expected):
    assert url_setting({"API_BASE_URL": raw}, "API_BASE_URL", default="https://default.test/") == expected


@pytest.mark.parametrize(
    "raw",
    [
        "ftp://files.test", "javascript:alert(1)", "file:///etc/passwd", "api.github.com", "//api.github.com",
        "http://", "https:///path", f"https://user:{SECRET_LOOKING}@api.test", f"https://{SECRET_LOOKING}@api.test",
        "https://api.test/#frag", "https://api.test#", "https://api .test", "https://api.test/\x00", "http://api.test:99999",
        "http://api.test:port", "http://[::1", 42,
    ],
)
def test_a_url_setting_that_is_not_a_plain_http_url_is_refused_without_its_value(raw):
    with pytest.raises(SettingError) as refused:
        url_setting({"API_BASE_URL": raw}, "API_BASE_URL")
    assert SECRET_LOOKING not in str(refused.value)
    assert str(refused.value).startswith("API_BASE_URL must be an http or https URL")


def test_an_https_only_url_setting_refuses_http():
    with pytest.raises(SettingError, match="must be an https URL"):
        url_setting({"API_BASE_URL": "http://api.test"}, "API_BASE_URL", https_only=True)
    assert url_setting({"API_BASE_URL": "https://api.test"}, "API_BASE_URL", https_only=True) == "https://api.test"
    assert url_setting({}, "API_BASE_URL") is None


# --- JSON object bodies ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"id": "evt_1"}', {"id": "evt_1"}),
        (b' \n{"a": [1, 2.5, -3e2, true, null]}\n', {"a": [1, 2.5, -300.0, True, None]}),
        (b"{}", {}),
        (b'{"emoji": "\\ud83d\\ude00"}', {"emoji": "\U0001f600"}),
        (b'{"text": "\\\\ud800"}', {"text": "\\ud800"}),
        ('{"ünï": "cödé"}'.encode(), {"ünï": "cödé"}),
        (b'{"nul": "\\u0000"}', {"nul": "\x00"}),
        (b'{"big": 123456789012345678901234567890}', {"big": 123456789012345678901234567890}),
        (b'{"a":' * 63 + b"{}" + b"}" * 63, json.loads(b'{"a":' * 63 + b"{}" + b"}" * 63)),
        ('{"id": "evt_1"}', {"id": "evt_1"}),
    ],
)
def test_a_json_object_body_is_read(body, expected):
    assert parse_json_object(body) == expected


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"", "is not JSON"),
        (b"   ", "is not JSON"),
        (b"not json", "is not JSON"),
        (b'{"a": 1} trailing', "is not JSON"),
        (b"{'a': 1}", "is not JSON"),
        (b'{"a": 1,}', "is not JSON"),
        (b"\xff\xfe{}", "is not UTF-8"),
        ('{"a": 1}'.encode("utf-16"), "is not UTF-8"),
        (b"\xef\xbb\xbf{}", "is not JSON"),
        (b"null", "is not a JSON object"),
        (b"[]", "is not a JSON object"),
        (b'"text"', "is not a JSON object"),
        (b"42", "is not a JSON object"),
        (b'{"n": NaN}', "NaN or an infinite number"),
        (b'{"n": Infinity}', "NaN or an infinite number"),
        (b'{"n": -Infinity}', "NaN or an infinite number"),
        (b'{"n": 1e999}', "NaN or an infinite number"),
        (b'{"n": -1e999}', "NaN or an infinite number"),
        (b'{"n": ' + b"9" * 5000 + b"}", "is not JSON"),
        (b'{"s": "\\ud800"}', "lone surrogate"),
        (b'{"s": "\\udc00x"}', "lone surrogate"),
        (b'{"\\ud800": 1}', "lone surrogate"),
        (b'{"s": ["ok", {"deep": "\\uDBFF"}]}', "lone surrogate"),
        (b'{"a":' * 64 + b"{}" + b"}" * 64, "nested more than 64 levels deep"),
        (b'{"a":' + b"[" * 100 + b"]" * 100 + b"}", "nested more than 64 levels deep"),
        (b'{"a":' + b"[" * 200_000 + b"]" * 200_000 + b"}", "nested too deeply"),
        (b'{"a":' + b"[" * 200_000, "nested too deeply"),
    ],
)
def test_a_body_that_is_not_a_plain_json_object_is_refused_with_a_value_error(body, problem):
    with pytest.raises(ValueError) as refused:
        parse_json_object(body)
    assert problem in str(refused.value)
    assert str(refused.value).startswith("the body ")


def test_the_refusal_names_the_input_and_quotes_nothing_of_it():
    with pytest.raises(ValueError) as refused:
        parse_json_object(b'{"secret": "' + SECRET_LOOKING.encode() + b'", oops}', what="the Pub/Sub message data")
    assert str(refused.value) == "the Pub/Sub message data is not JSON"
    assert parse_json_object(b'{"a":[[[1]]]}', max_depth=4) == {"a": [[[1]]]}
    with pytest.raises(ValueError, match="nested more than 3 levels deep"):
        parse_json_object(b'{"a":[[[1]]]}', max_depth=3)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=10), _JSON_VALUES, max_size=5))
def test_every_json_object_without_nan_or_surrogates_is_read_back(document):
    assert parse_json_object(json.dumps(document).encode()) == document
    assert parse_json_object(json.dumps(document, ensure_ascii=False).encode()) == document


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=200), st.text(alphabet=st.sampled_from('{}[]":,0123456789.eE+-\\u dDnNaIfity'), max_size=200).map(str.encode)))
def test_any_bytes_give_an_object_or_a_value_error(body):
    try:
        parsed = parse_json_object(body)
    except ValueError:
        return
    assert isinstance(parsed, dict)
    json.dumps(parsed, allow_nan=False).encode("utf-8")


# --- HMAC schemes ----------------------------------------------------------------------------


def test_githubs_documented_example_verifies():
    """docs.github.com, "Validating webhook deliveries": secret, payload and signature as published."""
    signature = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert GITHUB.verify("It's a Secret to Everybody", b"Hello, World!", signature) is True


def test_slacks_documented_example_verifies():
    """api.slack.com, "Verifying requests from Slack": the published signing secret, request and signature."""
    body = (
        b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V"
        b"&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text="
        b"&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
        b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
    )
    signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
    secret = "8f742231b10e8888abcd99yyyzzz85a5"
    assert SLACK.verify(secret, body, signature, timestamp="1531420618", now=1531420618 + 60) is True


def test_a_stripe_vector_computed_with_openssl_verifies():
    """`printf '1614556800.{"id":"evt_test"}' | openssl dgst -sha256 -hmac whsec_test_secret`."""
    fields = parse_signature_fields("t=1614556800,v1=8d7e36959f35255aff1c2cc6a906fedf5d8f34dc74004f274f68dbde50ff6d16")
    assert STRIPE.verify("whsec_test_secret", b'{"id":"evt_test"}', fields.all("v1"), timestamp=fields.one("t"), now=1614556810)


@pytest.mark.parametrize("algorithm", ["sha1", "sha256", "sha512"])
@pytest.mark.parametrize("encoding", ["hex", "base64", "base64url"])
def test_every_algorithm_and_encoding_matches_the_hmac_module(algorithm, encoding):
    digest = hmac.new(SECRET.encode(), b"1700000000." + BODY, getattr(hashlib, algorithm)).digest()
    expected = {
        "hex": digest.hex(),
        "base64": base64.b64encode(digest).decode(),
        "base64url": base64.urlsafe_b64encode(digest).decode(),
    }[encoding]
    scheme = HmacScheme(payload="{timestamp}.{body}", algorithm=algorithm, encoding=encoding, prefix="x=")
    assert hmac_digest(SECRET, b"1700000000." + BODY, algorithm=algorithm, encoding=encoding) == expected
    assert scheme.sign(SECRET, BODY, timestamp=NOW) == "x=" + expected
    assert scheme.verify(SECRET, BODY, "x=" + expected, timestamp=str(NOW), now=NOW) is True


def _github(body: bytes = BODY) -> str:
    return GITHUB.sign(SECRET, body)


@pytest.mark.parametrize(
    ("secret", "body", "signature"),
    [
        pytest.param("whsec_another_secret", BODY, _github(), id="wrong secret"),
        pytest.param(SECRET, BODY + b" ", _github(), id="tampered body"),
        pytest.param(SECRET, b"", _github(), id="empty body"),
        pytest.param("", BODY, _github(), id="empty secret"),
        pytest.param(b"", BODY, _github(), id="empty secret bytes"),
        pytest.param(SECRET, BODY, None, id="no header"),
        pytest.param(SECRET, BODY, "", id="empty header"),
        pytest.param(SECRET, BODY, [], id="no candidates"),
        pytest.param(SECRET, BODY, "sha256=", id="prefix only"),
        pytest.param(SECRET, BODY, _github()[len("sha256="):], id="prefix missing"),
        pytest.param(SECRET, BODY, "sha1=" + _github()[len("sha256="):], id="other prefix"),
        pytest.param(SECRET, BODY, _github().upper(), id="upper case"),
        pytest.param(SECRET, BODY, _github()[:-1], id="truncated"),
        pytest.param(SECRET, BODY, _github() + "0", id="extended"),
        pytest.param(SECRET, BODY, " " + _github(), id="leading space"),
        pytest.param(SECRET, BODY, _github() + "\x00", id="trailing NUL"),
        pytest.param(SECRET, BODY, "sha256=" + "é" * 64, id="non-ASCII"),
        pytest.param(SECRET, BODY, "sha256=\udcff" + "0" * 63, id="lone surrogate"),
        pytest.param(SECRET, BODY, _github() * 200, id="giant header"),
        pytest.param(SECRET, BODY, ["sha256=" + "0" * 64] * 16 + [_github()], id="more than 16 candidates"),
        pytest.param(SECRET, BODY, [None, _github()], id="candidate that is not text"),
    ],
)
def test_a_signature_that_was_not_made_over_this_body_with_this_secret_is_refused(secret, body, signature):
    assert GITHUB.verify(secret, body, signature) is False


def test_any_of_several_signatures_may_match():
    """While a secret is rolled the provider signs with each active secret."""
    old, new = GITHUB.sign("old-secret", BODY), GITHUB.sign("new-secret", BODY)
    assert GITHUB.verify("new-secret", BODY, [old, new]) is True
    assert GITHUB.verify("old-secret", BODY, [old, new]) is True
    assert GITHUB.verify("third-secret", BODY, [old, new]) is False


def _stripe_header(timestamp: int | str = NOW, secret: str = SECRET, body: bytes = BODY) -> str:
    return f"t={timestamp},v1={STRIPE.sign(secret, body, timestamp=timestamp)}"


def _stripe_verify(header: str | None, now: float = NOW, body: bytes = BODY, tolerance: float | None = None) -> bool:
    fields = parse_signature_fields(header)
    return STRIPE.verify(SECRET, body, fields.all("v1"), timestamp=fields.one("t"), now=now, tolerance=tolerance)


def test_a_fresh_stripe_style_delivery_verifies():
    assert _stripe_verify(_stripe_header()) is True


@pytest.mark.parametrize(
    ("header", "now"),
    [
        pytest.param(_stripe_header(NOW - 301), NOW, id="stale by 301 s"),
        pytest.param(_stripe_header(NOW + 301), NOW, id="future by 301 s"),
        pytest.param(_stripe_header(0), NOW, id="epoch zero"),
        pytest.param(_stripe_header(NOW), math.nan, id="now is NaN"),
        pytest.param(_stripe_header(NOW), math.inf, id="now is inf"),
        pytest.param(_stripe_header(secret="whsec_other"), NOW, id="wrong secret"),
        pytest.param(_stripe_header(body=BODY + b"x"), NOW, id="tampered body"),
        pytest.param(f"t={NOW + 1},v1={STRIPE.sign(SECRET, BODY, timestamp=NOW)}", NOW, id="timestamp swapped after signing"),
        pytest.param(f"t={NOW},t={NOW},v1={STRIPE.sign(SECRET, BODY, timestamp=NOW)}", NOW, id="two timestamps"),
        pytest.param(f"v1={STRIPE.sign(SECRET, BODY, timestamp=NOW)}", NOW, id="no timestamp"),
        pytest.param(f"t={NOW}", NOW, id="no signature"),
        pytest.param(f"t={NOW},v0={STRIPE.sign(SECRET, BODY, timestamp=NOW)}", NOW, id="only another scheme"),
        pytest.param(_stripe_header() + ",garbage", NOW, id="item without equals sign"),
        pytest.param(_stripe_header().replace(f"t={NOW}", "t=-1"), NOW, id="negative timestamp"),
        pytest.param(_stripe_header().replace(f"t={NOW}", "t=1.7e9"), NOW, id="exponent timestamp"),
        pytest.param(_stripe_header().replace(f"t={NOW}", "t=" + "１７００００００００"), NOW, id="full-width digits"),
        pytest.param(_stripe_header().replace(f"t={NOW}", "t=0001700000000"), NOW, id="thirteen digits"),
        pytest.param(_stripe_header().replace(f"t={NOW}", "t= 1700000000"), NOW, id="space in timestamp"),
        pytest.param(_stripe_header() + ",v1=" + "a" * 9000, NOW, id="giant header"),
        pytest.param("", NOW, id="empty header"),
        pytest.param(None, NOW, id="no header"),
    ],
)
def test_a_stripe_style_delivery_that_is_stale_future_or_forged_is_refused(header, now):
    assert _stripe_verify(header, now=now) is False


def test_the_timestamp_window_is_inclusive_and_can_be_overridden():
    assert _stripe_verify(_stripe_header(NOW - 300)) is True
    assert _stripe_verify(_stripe_header(NOW + 300)) is True
    assert _stripe_verify(_stripe_header(NOW - 30), tolerance=10) is False
    assert _stripe_verify(_stripe_header(NOW - 30), tolerance=60) is True


def test_a_timestamp_is_signed_as_sent():
    """Stripe and Slack sign the header's text: a re-spelled number must not verify."""
    signature = STRIPE.sign(SECRET, BODY, timestamp="01700000000")
    assert STRIPE.verify(SECRET, BODY, signature, timestamp="01700000000", now=NOW) is True
    assert STRIPE.verify(SECRET, BODY, signature, timestamp="1700000000", now=NOW) is False


def test_signature_fields_keep_every_value_and_refuse_malformed_headers():
    fields = parse_signature_fields(" t=1 , v1=a==, v1=b ,v0=c")
    assert fields.all("v1") == ("a==", "b")
    assert fields.one("t") == "1"
    assert fields.one("v1") is None
    assert fields.one("missing") is None
    for malformed in [None, "", "t=1,,v1=a", "t=1,v1", "=x", "x" * 8193]:
        assert parse_signature_fields(malformed).items == ()


@pytest.mark.parametrize(
    "options",
    [
        {"payload": "{timestamp}.body"},
        {"payload": "{body}.{timestamp}"},
        {"payload": "{body}{body}"},
        {"payload": "{secret}.{body}"},
        {"payload": "{timestamp:>12}.{body}"},
        {"payload": "{timestamp!r}.{body}"},
        {"algorithm": "md5"},
        {"encoding": "base32"},
        {"tolerance_seconds": -1},
        {"tolerance_seconds": math.nan},
        {"tolerance_seconds": math.inf},
    ],
)
def test_a_scheme_that_cannot_be_checked_safely_is_refused_when_declared(options):
    with pytest.raises(ValueError):
        HmacScheme(**options)


def test_mistakes_in_the_connector_code_fail_loudly():
    with pytest.raises(TypeError):
        STRIPE.verify(SECRET, BODY, "x", timestamp=str(NOW))  # no now
    with pytest.raises(TypeError):
        GITHUB.verify(SECRET, BODY, "x", timestamp=str(NOW), now=NOW)  # GitHub signs no timestamp
    with pytest.raises(TypeError):
        STRIPE.verify(SECRET, BODY, "x", timestamp=NOW, now=NOW)  # the header's text, not a number
    with pytest.raises(TypeError):
        GITHUB.verify(SECRET, BODY, "x", message_id="msg_1")
    with pytest.raises(TypeError):
        STRIPE.sign(SECRET, BODY)
    with pytest.raises(ValueError, match="empty"):
        GITHUB.sign("", BODY)
    with pytest.raises(ValueError, match="empty"):
        hmac_digest(b"", BODY)
    with pytest.raises(ValueError):
        STRIPE.verify(SECRET, BODY, "x", timestamp=str(NOW), now=NOW, tolerance=math.nan)


def test_constant_time_equal_handles_any_text():
    assert constant_time_equal("token", "token") is True
    assert constant_time_equal("token", "tokeN") is False
    assert constant_time_equal("é", "e") is False
    assert constant_time_equal(b"\xff", "\xff") is False
    assert constant_time_equal("\udcff", "x") is False


@settings(max_examples=200, deadline=None)
@given(secret=st.binary(min_size=1, max_size=64), body=st.binary(max_size=512), timestamp=st.integers(0, 10**12 - 1))
def test_every_signature_verifies_and_no_other_body_does(secret, body, timestamp):
    signature = STRIPE.sign(secret, body, timestamp=timestamp)
    assert STRIPE.verify(secret, body, signature, timestamp=str(timestamp), now=timestamp) is True
    assert STRIPE.verify(secret, body + b"\x00", signature, timestamp=str(timestamp), now=timestamp) is False
    other_secret = bytes([secret[0] ^ 1]) + secret[1:]  # not `secret + b"\0"`: HMAC pads short keys with zeros
    assert STRIPE.verify(other_secret, body, signature, timestamp=str(timestamp), now=timestamp) is False


@settings(max_examples=300, deadline=None)
@given(header=st.text(max_size=300), timestamp=st.one_of(st.none(), st.text(max_size=20)), now=st.floats())
def test_verification_answers_false_for_anything_a_sender_can_send(header, timestamp, now):
    assert STRIPE.verify(SECRET, BODY, header, timestamp=timestamp, now=now) is False
    fields = parse_signature_fields(header)
    assert STRIPE.verify(SECRET, BODY, fields.all("v1"), timestamp=fields.one("t"), now=now) is False
    assert GITHUB.verify(SECRET, BODY, header) is False


# --- Standard Webhooks ------------------------------------------------------------------------


def _official_headers(secret: str, body: bytes, message_id: str, timestamp: int) -> dict[str, str]:
    signature = Webhook(secret).sign(message_id, datetime.fromtimestamp(timestamp, tz=UTC), body.decode())
    return {"webhook-id": message_id, "webhook-timestamp": str(timestamp), "webhook-signature": signature}


def test_a_delivery_signed_by_the_official_library_verifies():
    headers = _official_headers(SW_SECRET, BODY, "msg_2Lh9KRb0pzN4LePd3XiA4dy4mT8", NOW)
    assert verify_standard_webhook(SW_SECRET, BODY, headers, now=NOW) is True


def test_the_official_library_verifies_what_the_kit_signs():
    now = int(time.time())  # the official verifier reads the system clock
    headers = standard_webhook_headers(SW_SECRET, BODY, message_id="msg_1", timestamp=now)
    assert Webhook(SW_SECRET).verify(BODY, headers) == json.loads(BODY)
    with pytest.raises(WebhookVerificationError):
        Webhook(SW_SECRET).verify(BODY + b" ", headers)


@settings(max_examples=100, deadline=None)
@given(
    key=st.binary(min_size=1, max_size=64),
    text=st.text(max_size=300).filter(lambda s: "\x00" not in s),
    message_id=st.from_regex(r"[!-~]{1,64}", fullmatch=True),
    timestamp=st.integers(1, 4_000_000_000),
)
def test_the_kit_and_the_official_library_agree_on_every_message(key, text, message_id, timestamp):
    secret = "whsec_" + base64.b64encode(key).decode()
    body = text.encode()
    official = _official_headers(secret, body, message_id, timestamp)
    assert standard_webhook_headers(secret, body, message_id=message_id, timestamp=timestamp) == official
    assert verify_standard_webhook(secret, body, official, now=timestamp) is True
    assert verify_standard_webhook(secret, body + b"!", official, now=timestamp) is False


def test_a_rotation_header_with_several_signatures_verifies_with_either_secret():
    new_secret = "whsec_" + base64.b64encode(b"a-newer-key-after-the-rotation!").decode()
    old = _official_headers(SW_SECRET, BODY, "msg_1", NOW)
    new = _official_headers(new_secret, BODY, "msg_1", NOW)
    headers = dict(old, **{"webhook-signature": f"v1a,c29tZXRoaW5n {old['webhook-signature']} {new['webhook-signature']}"})
    assert verify_standard_webhook(SW_SECRET, BODY, headers, now=NOW) is True
    assert verify_standard_webhook(new_secret, BODY, headers, now=NOW) is True
    assert verify_standard_webhook("whsec_" + base64.b64encode(b"unrelated").decode(), BODY, headers, now=NOW) is False


def test_standard_webhook_headers_are_found_in_any_case():
    headers = _official_headers(SW_SECRET, BODY, "msg_1", NOW)
    assert verify_standard_webhook(SW_SECRET, BODY, {k.title(): v for k, v in headers.items()}, now=NOW) is True
    assert verify_standard_webhook(SW_SECRET, BODY, CaseInsensitiveDict(headers), now=NOW) is True


def _sw(**changes: str | None) -> dict[str, str]:
    headers = _official_headers(SW_SECRET, BODY, "msg_1", NOW)
    for name, value in changes.items():
        header = "webhook-" + name
        if value is None:
            del headers[header]
        else:
            headers[header] = value
    return headers


_SIGNED = _sw()["webhook-signature"]


@pytest.mark.parametrize(
    ("secret", "body", "headers", "now"),
    [
        pytest.param("whsec_" + base64.b64encode(b"another-key").decode(), BODY, _sw(), NOW, id="wrong secret"),
        pytest.param(SW_SECRET, BODY + b"\n", _sw(), NOW, id="tampered body"),
        pytest.param(SW_SECRET, BODY, _sw(id="msg_2"), NOW, id="tampered id"),
        pytest.param(SW_SECRET, BODY, _sw(timestamp=str(NOW + 1)), NOW, id="tampered timestamp"),
        pytest.param(SW_SECRET, BODY, _sw(), NOW + 301, id="stale"),
        pytest.param(SW_SECRET, BODY, _sw(), NOW - 301, id="from the future"),
        pytest.param(SW_SECRET, BODY, _sw(id=None), NOW, id="no id"),
        pytest.param(SW_SECRET, BODY, _sw(timestamp=None), NOW, id="no timestamp"),
        pytest.param(SW_SECRET, BODY, _sw(signature=None), NOW, id="no signature"),
        pytest.param(SW_SECRET, BODY, _sw(id=""), NOW, id="empty id"),
        pytest.param(SW_SECRET, BODY, _sw(id="msg 1"), NOW, id="id with a space"),
        pytest.param(SW_SECRET, BODY, _sw(timestamp=f"{NOW}.5"), NOW, id="fractional timestamp"),
        pytest.param(SW_SECRET, BODY, _sw(signature=_SIGNED.replace("v1,", "v2,")), NOW, id="unknown version"),
        pytest.param(SW_SECRET, BODY, _sw(signature=_SIGNED.replace("v1,", "")), NOW, id="no version"),
        pytest.param(SW_SECRET, BODY, _sw(signature=_SIGNED.rstrip("=")), NOW, id="unpadded base64"),
        pytest.param(SW_SECRET, BODY, _sw(signature=" ".join([_SIGNED] * 600)), NOW, id="giant header"),
        pytest.param(SW_SECRET, BODY, _sw(signature=" ".join(["v1,AAAA"] * 16 + [_SIGNED])), NOW, id="17 signatures"),
        pytest.param("", BODY, _sw(), NOW, id="empty secret"),
        pytest.param("whsec_", BODY, _sw(), NOW, id="prefix-only secret"),
        pytest.param("whsec_not*base64", BODY, _sw(), NOW, id="secret that is not base64"),
    ],
)
def test_a_standard_webhook_that_is_forged_stale_or_malformed_is_refused(secret, body, headers, now):
    assert verify_standard_webhook(secret, body, headers, now=now) is False


def test_the_five_minute_window_is_inclusive():
    assert verify_standard_webhook(SW_SECRET, BODY, _sw(), now=NOW + 300) is True
    assert verify_standard_webhook(SW_SECRET, BODY, _sw(), now=NOW - 300) is True


def test_a_secret_is_read_with_or_without_its_prefix_and_never_quoted_when_refused():
    key = standard_webhook_key(SW_SECRET)
    assert key == b"standard-webhooks-test-key-32-by"
    assert standard_webhook_key(SW_SECRET.removeprefix("whsec_")) == key
    for bad in ["whsec_", "", "whsec_TopSecret*Value", "whsec_Top Secret"]:
        with pytest.raises(ValueError) as refused:
            standard_webhook_key(bad)
        assert "TopSecret" not in str(refused.value) and "Top Secret" not in str(refused.value)


# --- Retry-After and rate-limit headers --------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 7 ", 7.0),
        ("0", 0.0),
        ("1.5", 1.5),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 80.0),  # NOW for these: 1445412400
        ("Wednesday, 21-Oct-15 07:28:00 GMT", 80.0),
        ("Wed Oct 21 07:28:00 2015", 80.0),
        ("Wed, 21 Oct 2015 09:28:00 +0200", 80.0),
        ("Wed, 21 Oct 2015 07:00:00 GMT", 0.0),
        (None, None),
        ("", None),
        ("   ", None),
        ("-1", None),
        ("-0.5", None),
        ("+5", None),
        ("nan", None),
        ("NaN", None),
        ("inf", None),
        ("Infinity", None),
        ("1e3", None),
        ("0x10", None),
        ("1_000", None),
        ("１２", None),
        ("9" * 400, None),
        ("5, 5", None),
        ("soon", None),
        ("Wed, 21 Oct 99999 07:28:00 GMT", None),
        ("Wed, 32 Oct 2015 07:28:00 GMT", None),
        ("Wed, 21 Oct 2015 25:28:00 GMT", None),
        ("\x00", None),
    ],
)
def test_retry_after_is_delta_seconds_or_an_http_date_and_nothing_else(value, expected):
    assert parse_retry_after(value, now=1445412400) == expected


def test_retry_after_needs_a_finite_now_for_dates():
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=math.nan) is None
    assert parse_retry_after("5", now=math.inf) is None


@settings(max_examples=500, deadline=None)
@given(value=st.one_of(st.text(max_size=80), st.from_regex(r"[A-Za-z]{3}, [0-9]{1,2} [A-Za-z]{3} [0-9]{1,6} [0-9:]{5,9} [A-Z+0-9-]{1,5}", fullmatch=True)))
def test_retry_after_never_raises_and_answers_only_waits_from_zero_to_a_day(value):
    waited = parse_retry_after(value, now=NOW)
    assert waited is None or 0 <= waited <= 86400


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(NOW + 60)}, 60.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW - 60)}, 0.0),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "45"}, 45.0),  # a delay, as Reddit sends it
        ({"RateLimit-Remaining": "0", "RateLimit-Reset": "30"}, 30.0),
        ({"ratelimit-remaining": "0", "ratelimit-reset": str(NOW + 90)}, 90.0),  # a time, as GitLab sends it
        ({"x-ratelimit-remaining": "1", "x-ratelimit-reset": str(NOW + 60)}, None),
        ({"x-ratelimit-reset": str(NOW + 60)}, None),
        ({"x-ratelimit-remaining": "0"}, None),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "nan"}, None),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "inf"}, None),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "-5"}, None),
        ({"x-ratelimit-remaining": "0", "x-ratelimit-reset": "soon"}, None),
        ({"x-ratelimit-remaining": "nan", "x-ratelimit-reset": str(NOW + 60)}, None),
        ({"x-ratelimit-remaining": "-0", "x-ratelimit-reset": str(NOW + 60)}, None),
        ({}, None),
    ],
)
def test_an_exhausted_quota_waits_until_its_reset(headers, expected):
    assert quota_reset_wait(headers, now=NOW) == expected


@pytest.mark.parametrize(
    ("headers", "default", "expected"),
    [
        ({"Retry-After": "30", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW + 60)}, 1.0, 30.0),
        ({"Retry-After": "garbage", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW + 60)}, 1.0, 60.0),
        ({"Retry-After": "nan"}, 5.0, 5.0),
        ({"Retry-After": "-3"}, 5.0, 5.0),
        ({}, 1.0, 1.0),
        ({}, 0, 0),
    ],
)
def test_a_known_rate_limit_waits_for_retry_after_then_the_quota_then_the_default(headers, default, expected):
    assert retry_after_seconds(headers, now=NOW, default=default) == expected


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (429, {}, 1.0),
        (429, {"Retry-After": "12"}, 12.0),
        (429, {"Retry-After": "inf"}, 1.0),
        (429, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW + 7)}, 7.0),
        (403, {"x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW + 7)}, 7.0),
        (403, {"Retry-After": "60"}, 60.0),
        (403, {"x-ratelimit-remaining": "12", "x-ratelimit-reset": str(NOW + 7)}, None),
        (403, {}, None),
        (503, {"Retry-After": "120"}, 120.0),
        (503, {}, None),
        (503, {"Retry-After": "nan"}, None),
        (200, {"Retry-After": "5", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(NOW + 7)}, None),
        (500, {"Retry-After": "5"}, None),
        (404, {}, None),
    ],
)
def test_a_response_asks_for_a_pause_only_when_its_status_says_so(status, headers, expected):
    assert rate_limit_delay(status, headers, now=NOW) == expected


def test_no_header_parks_a_sync_for_longer_than_the_maximum():
    """A wait of years would also overflow the date the next attempt is scheduled at."""
    far = {"Retry-After": "9" * 15, "x-ratelimit-remaining": "0", "x-ratelimit-reset": "9" * 15}
    assert parse_retry_after("9" * 15, now=NOW) == 86400.0
    assert parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now=NOW) == 86400.0
    assert quota_reset_wait(far, now=NOW) == 86400.0
    assert retry_after_seconds(far, now=NOW) == 86400.0
    assert rate_limit_delay(429, far, now=NOW, maximum=3600) == 3600.0
    assert rate_limit_delay(503, far, now=NOW, maximum=60) == 60.0
    assert retry_after_seconds({}, now=NOW, default=120, maximum=60) == 60


@pytest.mark.parametrize("bad", [math.nan, math.inf, -1.0, True, "1"])
def test_an_unusable_default_or_maximum_is_a_mistake_in_the_connector(bad):
    with pytest.raises(ValueError):
        retry_after_seconds({}, now=NOW, default=bad)
    with pytest.raises(ValueError):
        rate_limit_delay(429, {}, now=NOW, default=bad)
    with pytest.raises(ValueError):
        rate_limit_delay(429, {}, now=NOW, maximum=bad)
    with pytest.raises(ValueError):
        parse_retry_after("5", now=NOW, maximum=bad)


# --- Link headers and cursors ----------------------------------------------------------------


GITHUB_LINKS = (
    '<https://api.github.com/repositories/1300192/issues?page=2>; rel="prev", '
    '<https://api.github.com/repositories/1300192/issues?page=4>; rel="next", '
    '<https://api.github.com/repositories/1300192/issues?page=515>; rel="last", '
    '<https://api.github.com/repositories/1300192/issues?page=1>; rel="first"'
)


def test_githubs_link_header_is_read_in_order():
    links = parse_link_header(GITHUB_LINKS)
    assert [(link.url.rsplit("=", 1)[1], link.rel) for link in links] == [
        ("2", ("prev",)), ("4", ("next",)), ("515", ("last",)), ("1", ("first",)),
    ]
    assert next_page_url(GITHUB_LINKS, current_url="https://api.github.com/repositories/1300192/issues?page=3") == (
        "https://api.github.com/repositories/1300192/issues?page=4"
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<https://x.test/a?q=1,2>; rel="next"', [("https://x.test/a?q=1,2", ("next",), {})]),
        ('<https://x.test/a>; rel="next"; title="a, b; c"', [("https://x.test/a", ("next",), {"title": "a, b; c"})]),
        (r'<https://x.test/a>; title="say \"hi\""; rel=next', [("https://x.test/a", ("next",), {"title": 'say "hi"'})]),
        ('<https://x.test/a>; rel="next last"', [("https://x.test/a", ("next", "last"), {})]),
        ("<https://x.test/a>; REL=NEXT", [("https://x.test/a", ("next",), {})]),
        ('<https://x.test/a>; rel="next"; rel="prev"', [("https://x.test/a", ("next",), {})]),
        ("<https://x.test/a>;rel=next,<https://x.test/b>;rel=prev", [("https://x.test/a", ("next",), {}), ("https://x.test/b", ("prev",), {})]),
        ("<https://x.test/a>; crossorigin", [("https://x.test/a", (), {"crossorigin": ""})]),
        (", , <https://x.test/a>; rel=next, ,", [("https://x.test/a", ("next",), {})]),
        ("garbage, <https://x.test/b>; rel=next", [("https://x.test/b", ("next",), {})]),
        ('<https://x.test/a> rel="next", <https://x.test/b>; rel=next', [("https://x.test/b", ("next",), {})]),
        ('<https://x.test/a>; rel=, <https://x.test/b>; rel=next', [("https://x.test/b", ("next",), {})]),
        ('<https://x.test/a>; ="next", <https://x.test/b>; rel=next', [("https://x.test/b", ("next",), {})]),
        ('<https://x.test/a>; title="unterminated, <https://x.test/b>; rel=next', []),
        ("<https://x.test/a; rel=next", []),
        ("<>; rel=next", []),
        ("", []),
        (None, []),
    ],
)
def test_link_headers_follow_rfc_8288_and_skip_what_does_not_parse(header, expected):
    assert [(link.url, link.rel, dict(link.params)) for link in parse_link_header(header)] == expected


def test_a_giant_link_header_is_read_whole():
    header = ", ".join(f'<https://x.test/items?page={n}>; rel="item"; title="n, {n}"' for n in range(50_000))
    links = parse_link_header(header)
    assert len(links) == 50_000
    assert links[-1].params["title"] == "n, 49999"


@pytest.mark.parametrize("header", ['"' * 100_000, "<" * 100_000, "<a>;" * 50_000, '<a>; t="\\' * 30_000, ";=" * 100_000])
def test_a_hostile_link_header_yields_nothing_usable_without_raising(header):
    assert all(link.url for link in parse_link_header(header))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from('<>;,="\\ \tabcnextrl/:'), max_size=200))
def test_link_parsing_never_raises(header):
    for link in parse_link_header(header):
        assert link.url and all(r == r.lower() for r in link.rel)


_URL_CHARS = st.text(alphabet=st.sampled_from("abcdefghij0123456789/?&=,;%-._~"), min_size=1, max_size=30)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(_URL_CHARS, st.sampled_from(["next", "prev", "last", "first"]), st.text(max_size=20)), max_size=6))
def test_link_headers_round_trip(links):
    def quoted(text: str) -> str:
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'

    header = ", ".join(f"<https://x.test/{url}>; rel={rel}; title={quoted(title)}" for url, rel, title in links)
    parsed = parse_link_header(header)
    assert [(link.url, link.rel, link.params["title"]) for link in parsed] == [
        (f"https://x.test/{url}", (rel,), title) for url, rel, title in links
    ]


@pytest.mark.parametrize(
    ("link", "current", "expected"),
    [
        ('</items?page=3>; rel="next"', "https://api.x.test/items?page=2", "https://api.x.test/items?page=3"),
        ('<?page=3>; rel="next"', "https://api.x.test/items?page=2", "https://api.x.test/items?page=3"),
        ('<https://API.x.test:443/items?page=3>; rel="next"', "https://api.x.test/items", "https://API.x.test:443/items?page=3"),
        ('<http://127.0.0.1:8080/p/2>; rel="next"', "http://127.0.0.1:8080/p/1", "http://127.0.0.1:8080/p/2"),
        ('<https://api.x.test/items?page=1>; rel="prev"', "https://api.x.test/items?page=2", None),
        ('<https://api.x.test/other>; rel="next"; anchor="#comments"', "https://api.x.test/items", None),
        (None, "https://api.x.test/items", None),
    ],
)
def test_the_next_page_is_resolved_against_the_page_just_read(link, current, expected):
    assert next_page_url(link, current_url=current) == expected


@pytest.mark.parametrize(
    "link",
    [
        '<https://evil.test/items?page=3>; rel="next"',
        '<//evil.test/items?page=3>; rel="next"',
        '<http://api.x.test/items?page=3>; rel="next"',
        '<https://api.x.test:8443/items?page=3>; rel="next"',
        '<https://user:pass@api.x.test/items?page=3>; rel="next"',
        '<https://api.x.test@evil.test/items>; rel="next"',
        '<javascript:alert(1)>; rel="next"',
        '<file:///etc/passwd>; rel="next"',
        '<https://api.x.test:99999/items>; rel="next"',
    ],
)
def test_a_next_page_on_another_origin_is_refused_because_the_session_carries_a_token(link):
    with pytest.raises(ValueError, match="origin"):
        next_page_url(link, current_url="https://api.x.test/items?page=2")


@pytest.fixture
def paged_api():
    """A fake API listing 25 items, 10 per page, with Link headers and a rate limit after the second page."""
    app = Flask(__name__)
    state = {"calls": 0}

    @app.get("/items")
    def items():
        state["calls"] += 1
        if state["calls"] == 3 and request.args.get("limited") is not None:
            return {"error": "slow down"}, 429, {"Retry-After": "7", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(NOW + 60)}
        page = int(request.args.get("page", "1"))
        headers = {"X-RateLimit-Remaining": "4999", "X-RateLimit-Reset": str(NOW + 3600)}
        if page < 3:
            extra = "&limited" if request.args.get("limited") is not None else ""
            headers["Link"] = f'</items?page={page + 1}{extra}>; rel="next", </items?page=3>; rel="last"'
        return {"items": list(range((page - 1) * 10, min(page * 10, 25)))}, 200, headers

    with serve_wsgi(app) as base_url:
        yield base_url


def test_pages_are_walked_over_real_http_until_no_next_link(paged_api):
    url: str | None = f"{paged_api}/items"
    items: list[int] = []
    with requests.Session() as session:
        while url is not None:
            response = session.get(url)
            assert rate_limit_delay(response.status_code, response.headers, now=NOW) is None
            items += response.json()["items"]
            url = next_page_url(response.headers.get("Link"), current_url=response.url)
    assert items == list(range(25))


def test_a_rate_limited_page_says_how_long_to_wait_over_real_http(paged_api):
    with requests.Session() as session:
        first = session.get(f"{paged_api}/items?limited")
        second = session.get(next_page_url(first.headers.get("Link"), current_url=first.url))
        limited = session.get(next_page_url(second.headers.get("Link"), current_url=second.url))
    assert limited.status_code == 429
    assert rate_limit_delay(limited.status_code, limited.headers, now=NOW) == 7.0
    assert quota_reset_wait(limited.headers, now=NOW) == 60.0
    assert quota_reset_wait(second.headers, now=NOW) is None


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=10), _JSON_VALUES, max_size=5))
def test_a_cursor_gives_back_the_position_it_was_made_from(position):
    cursor = encode_cursor(position, max_length=100_000)
    assert cursor.isascii() and all(c.isalnum() or c in "-_" for c in cursor)
    assert decode_cursor(cursor, max_length=100_000) == position


def test_one_position_has_one_cursor():
    assert encode_cursor({"a": 1, "b": [1, 2]}) == encode_cursor({"b": [1, 2], "a": 1})
    assert decode_cursor(None) == {} and decode_cursor("") == {}


VALID_CURSOR = encode_cursor({"page": "abc"})
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
# The same bytes with an unused low bit of the last character set: lenient decoders accept it.
NON_CANONICAL_CURSOR = VALID_CURSOR[:-1] + _ALPHABET[_ALPHABET.index(VALID_CURSOR[-1]) ^ 1]


@pytest.mark.parametrize(
    "cursor",
    [
        pytest.param(VALID_CURSOR + "=", id="padding"),
        pytest.param(NON_CANONICAL_CURSOR, id="non-canonical trailing bits"),
        pytest.param(VALID_CURSOR[:-1], id="truncated"),
        pytest.param(VALID_CURSOR + "A", id="one character too many"),
        pytest.param(VALID_CURSOR.replace("-", "+").replace("_", "/") + "+/", id="standard alphabet"),
        pytest.param(" " + VALID_CURSOR, id="leading space"),
        pytest.param(VALID_CURSOR + "\n", id="newline"),
        pytest.param("é" + VALID_CURSOR, id="non-ASCII"),
        pytest.param(_b64(b"not json"), id="not JSON"),
        pytest.param(_b64(b"[1,2]"), id="an array"),
        pytest.param(_b64(b'"text"'), id="a string"),
        pytest.param(_b64(b'{"n":NaN}'), id="NaN"),
        pytest.param(_b64(b'{"n":1e999}'), id="infinite number"),
        pytest.param(_b64(b'{"s":"\\udc00"}'), id="lone surrogate"),
        pytest.param(_b64(b"\xff\xfe{}"), id="not UTF-8"),
        pytest.param(_b64(b'{"a":' * 100 + b"1" + b"}" * 100), id="nested 100 deep"),
        pytest.param(_b64(json.dumps({"pad": "x" * 4000}).encode()), id="too long"),
        pytest.param("A" * 1_000_000, id="giant"),
    ],
)
def test_a_cursor_the_connector_did_not_write_is_refused(cursor):
    assert len(VALID_CURSOR) % 4 != 0, "the non-canonical case needs unused bits"
    with pytest.raises(ValueError):
        decode_cursor(cursor)


def test_a_position_too_large_for_a_cursor_is_refused_when_encoded():
    with pytest.raises(ValueError, match="longer than 4096"):
        encode_cursor({"queue": ["C0123456789"] * 400})
    assert decode_cursor(encode_cursor({"queue": ["C0123456789"] * 400}, max_length=10_000), max_length=10_000)


@pytest.mark.parametrize(("position", "error"), [({"n": math.nan}, ValueError), ({"n": math.inf}, ValueError),
                                                 ({"s": "\ud800"}, ValueError), ({"when": datetime.now(UTC)}, TypeError),
                                                 (["not", "a", "mapping"], TypeError)])
def test_a_position_that_is_not_plain_json_is_refused_when_encoded(position, error):
    with pytest.raises(error):
        encode_cursor(position)


# --- nothing echoed ------------------------------------------------------------------------


def test_a_hostile_tenant_cannot_make_the_kit_echo_a_secret():
    """Every refusal above names a problem; none repeats the input that caused it."""
    inputs = [
        lambda: int_setting({"S": SECRET_LOOKING}, "S", default=1),
        lambda: float_setting({"S": SECRET_LOOKING}, "S", default=1.0),
        lambda: bool_setting({"S": SECRET_LOOKING}, "S"),
        lambda: url_setting({"S": "https://x.test/?token=" + SECRET_LOOKING + "#"}, "S"),
        lambda: decode_cursor(SECRET_LOOKING + "!"),
        lambda: decode_cursor(_b64(SECRET_LOOKING.encode())),
        lambda: parse_json_object(SECRET_LOOKING.encode()),
        lambda: standard_webhook_key("whsec_" + SECRET_LOOKING + "!"),
        lambda: next_page_url(f"<https://evil.test/?t={SECRET_LOOKING}>; rel=next", current_url="https://api.test/"),
    ]
    for call in inputs:
        with pytest.raises(ValueError) as refused:
            call()
        assert SECRET_LOOKING not in str(refused.value)
        assert "51Secret" not in repr(refused.value)
