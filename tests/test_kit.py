"""hub.kit: the helpers connector packages use for settings and request bodies."""

from __future__ import annotations

import ast
import doctest
import importlib
import inspect
import json
import math
import pkgutil
import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import hub.kit as kit
from hub.kit import (
    SettingError,
    bool_setting,
    choice_setting,
    float_setting,
    int_setting,
    list_setting,
    parse_json_object,
    url_setting,
)

SECRET_LOOKING = "sk_live_51SecretValueThatMustNotLeak"
KIT_MODULES = sorted(module.name for module in pkgutil.iter_modules(kit.__path__))


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
