"""The fake provider API base that connector tests build on: records, checks tokens, pages, rate-limits, over real HTTP."""

from __future__ import annotations

import time

import pytest
import requests

from hub.kit import next_page_url, rate_limit_delay
from hub.testing import FakeProviderAPI, quota_exhausted_headers


class FakeItems(FakeProviderAPI):
    def __init__(self) -> None:
        self.items = [{"id": number} for number in range(1, 8)]
        super().__init__(tokens={"good-token"}, public_paths={"/health"}, per_page=3)

    def routes(self, app):
        @app.get("/items")
        def items():
            return self.link_paginated(self.items)

        @app.get("/health")
        def health():
            return {"ok": True}


@pytest.fixture(scope="module")
def served():
    fake = FakeItems()
    with fake.serve():
        yield fake


@pytest.fixture
def fake(served):
    served.reset()
    return served


def get(url, token="good-token", scheme="Bearer"):
    return requests.get(url, headers={"Authorization": f"{scheme} {token}"} if token else {}, timeout=5)


def test_pages_follow_the_link_header_to_the_end(fake):
    seen, url = [], fake.base_url + "/items"
    while url:
        response = get(url)
        seen += [item["id"] for item in response.json()]
        url = next_page_url(response.headers.get("Link"), current_url=response.url)
    assert seen == list(range(1, 8))
    assert [recorded.args.get("page") for recorded in fake.requests_to("/items")] == [None, "2", "3"]


def test_the_last_and_the_previous_page_are_linked_too(fake):
    links = get(fake.base_url + "/items?page=2").headers["Link"]
    assert 'rel="prev"' in links and 'rel="next"' in links and 'rel="last"' in links


def test_a_call_without_a_known_token_is_refused(fake):
    assert get(fake.base_url + "/items", token=None).status_code == 401
    assert get(fake.base_url + "/items", token="forged").status_code == 401
    assert get(fake.base_url + "/items", scheme="token").status_code == 200
    assert get(fake.base_url + "/health", token=None).status_code == 200


def test_every_request_is_recorded_with_its_token(fake):
    get(fake.base_url + "/items?per_page=2")
    [recorded] = fake.requests
    assert (recorded.method, recorded.path, recorded.args, recorded.token) == ("GET", "/items", {"per_page": "2"}, "good-token")


def test_a_rate_limit_answers_until_lifted(fake):
    fake.rate_limit(30)
    limited = get(fake.base_url + "/items")
    assert limited.status_code == 429 and rate_limit_delay(429, limited.headers, now=time.time()) == 30.0
    fake.lift_rate_limit()
    assert get(fake.base_url + "/items").status_code == 200


def test_a_quota_style_rate_limit_for_a_few_calls(fake):
    fake.rate_limit(status=403, headers=quota_exhausted_headers(60, now=1_700_000_000), calls=2)
    answers = [get(fake.base_url + "/items") for _ in range(3)]
    assert [answer.status_code for answer in answers] == [403, 403, 200]
    assert rate_limit_delay(403, answers[0].headers, now=1_700_000_000) == 60.0


def test_a_page_out_of_range_is_a_bad_request(fake):
    assert get(fake.base_url + "/items?per_page=0").status_code == 400
    assert get(fake.base_url + "/items?page=x").status_code == 400
