"""Two API processes refused (401) at the same moment spend the refresh token once.

Two app instances (as two gunicorn workers or machines would be) share the
database, and Redis when it is the lease store; the fake provider holds both
refusals until both callers are refused, so both want a refresh at once.
"""

from __future__ import annotations

import threading

import requests

from hub.testkit.http_server import serve_wsgi


def test_two_processes_refused_at_once_spend_the_refresh_token_once(make_connection, make_app, state_backend):
    connection = make_connection("gmail", **state_backend)
    second_app = make_app(**connection.settings)
    _, before = connection.stored()
    connection.oauth.tokens[before["access_token"]].expires_at = 0
    connection.oauth.token_response_delay = 0.3  # the second refresh would surely overlap the first
    connection.api.hold_refused = threading.Barrier(2)
    answers: list[requests.Response] = []

    with serve_wsgi(second_app) as second_url:
        def call(hub_url: str) -> None:
            answers.append(requests.get(f"{hub_url}{connection.prefix}/v1/things", headers=connection.tenant.headers, timeout=60))

        threads = [threading.Thread(target=call, args=(url,)) for url in (connection.hub_url, second_url)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)

    assert [answer.status_code for answer in answers] == [200, 200], [answer.text for answer in answers]
    assert sorted(answer.headers["Hub-Proxy-Attempts"] for answer in answers) == ["2", "2"]
    assert connection.oauth.refresh_token_uses == {before["refresh_token"]: 1}
    assert len(connection.oauth.refresh_requests) == 1
    _, after = connection.stored()
    refused, accepted = connection.api.seen[:2], connection.api.seen[2:]
    assert {seen.headers["Authorization"] for seen in refused} == {f"Bearer {before['access_token']}"}
    assert {seen.headers["Authorization"] for seen in accepted} == {f"Bearer {after['access_token']}"}
