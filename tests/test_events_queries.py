"""Queries of `GET /api/events` the hub cannot answer are 400 problems on both databases, never a 5xx."""

from __future__ import annotations

import base64
import json

import pytest


def cursor_of(value) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def assert_bad_query(response):
    assert response.status_code == 400, response.get_data(as_text=True)[:500]
    assert response.mimetype == "application/problem+json"
    assert response.json["status"] == 400


@pytest.mark.parametrize("limit", ["²", "³", "١", "٣", "¹⁰", " 5", "5 ", "+5", "-1", "1e3", "0x10", "9" * 5000])
def test_a_limit_that_is_not_plain_ascii_digits_in_range_is_400(client, tenant, limit):
    assert_bad_query(client.get("/api/events", query_string={"limit": limit}, headers=tenant.headers))


def test_a_plain_limit_is_honoured(client, tenant):
    response = client.get("/api/events", query_string={"limit": "7"}, headers=tenant.headers)
    assert response.status_code == 200
    assert response.json == {"events": [], "next_cursor": None}


BAD_CURSORS = {
    "datetime without a timezone": ["2026-01-01T00:00:00", "0190e0c4-0000-7000-8000-000000000000"],
    "time past the calendar once in UTC": ["9999-12-31T23:59:59-23:59", "0190e0c4-0000-7000-8000-000000000000"],
    "time before the calendar once in UTC": ["0001-01-01T00:00:00+23:59", "0190e0c4-0000-7000-8000-000000000000"],
    "NUL in the id": ["2026-01-01T00:00:00+00:00", "0190e0c4\u0000"],
    "lone surrogate in the id": ["2026-01-01T00:00:00+00:00", "\ud800"],
    "id that is not a string": ["2026-01-01T00:00:00+00:00", {"a": 1}],
    "id that is too long": ["2026-01-01T00:00:00+00:00", "a" * 5000],
    "time that is not a string": [1767225600, "0190e0c4-0000-7000-8000-000000000000"],
    "three parts": ["2026-01-01T00:00:00+00:00", "x", "y"],
    "an object": {"received": "2026-01-01T00:00:00+00:00", "id": "x"},
    "NaN": float("nan"),
}


@pytest.mark.parametrize("value", list(BAD_CURSORS.values()), ids=list(BAD_CURSORS))
def test_a_cursor_the_api_did_not_return_is_400(client, tenant, value):
    assert_bad_query(client.get("/api/events", query_string={"cursor": cursor_of(value)}, headers=tenant.headers))


@pytest.mark.parametrize(
    "raw",
    [b"[" * 3000 + b"]" * 3000, b"\xff\xfe", b'["2026-01-01T00:00:00+00:00", "\\ud800"]', b""],
    ids=["nested past the recursion limit", "not utf-8", "escaped lone surrogate", "empty"],
)
def test_a_cursor_that_is_not_readable_json_is_400(client, tenant, raw):
    response = client.get("/api/events", query_string={"cursor": cursor_of(raw) or "="}, headers=tenant.headers)
    assert_bad_query(response)


@pytest.mark.parametrize("param", ["integration_id", "connector", "status"])
def test_a_nul_in_a_filter_is_400_on_both_databases(client, tenant, param):
    assert_bad_query(client.get("/api/events", query_string={param: "a\u0000b"}, headers=tenant.headers))
