"""A base for fake provider APIs: the parts every connector's tests otherwise write again.

A subclass adds the provider's routes in `routes(app)`; the base records
every request, refuses calls without a token it issued, answers with a rate
limit when a test switches one on, and pages lists the way most APIs do
(page numbers and a `Link` header). It runs on 127.0.0.1 over real HTTP
(`with fake.serve() as base_url:`), so the connector's own HTTP code runs
exactly as against the provider.

    class FakeAcme(FakeProviderAPI):
        def routes(self, app):
            @app.get("/items")
            def items():
                return self.link_paginated(self.items)

    acme = FakeAcme(tokens={"at-1"})
    with acme.serve() as base_url:
        ...
        acme.rate_limit(30)               # every call now answers 429, Retry-After: 30
        assert acme.requests[-1].path == "/items"
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from flask import Flask, Response, abort, jsonify, request

from hub.testkit.http_server import serve_wsgi


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it (headers with lower-case names)."""

    method: str
    path: str
    args: Mapping[str, str]
    headers: Mapping[str, str]
    body: bytes

    @property
    def token(self) -> str | None:
        scheme, _, value = self.headers.get("authorization", "").partition(" ")
        return value.strip() if scheme.lower() in ("bearer", "token") and value.strip() else None

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class RateLimit:
    """What the fake answers while rate limited: `status` with `headers`, for the next `calls` calls (None: until lifted)."""

    status: int
    headers: dict[str, str]
    calls: int | None


class FakeProviderAPI:
    """A provider's API on 127.0.0.1; subclasses add routes in `routes(app)`.

    tokens: the access tokens the fake accepts (`Authorization: Bearer` or
    `token`); a request without one of them gets `unauthorized()`, 401.
    public_paths: paths that need no token (a health route, OAuth endpoints).
    per_page: the default page size of `link_paginated` (`?per_page=` overrides).
    """

    def __init__(self, *, tokens: Iterable[str] = ("test-access-token",), public_paths: Iterable[str] = (), per_page: int = 30) -> None:
        self.tokens: set[str] = set(tokens)
        self.public_paths = set(public_paths)
        self.per_page = per_page
        self.base_url = ""
        self.requests: list[RecordedRequest] = []
        self._rate_limit: RateLimit | None = None
        self._lock = threading.Lock()
        self.app = Flask(type(self).__name__)
        self.app.before_request(self._before_request)
        self.routes(self.app)

    # for subclasses -------------------------------------------------------

    def routes(self, app: Flask) -> None:
        """Add the provider's routes to `app` (the base has none)."""

    def accepts(self, token: str | None) -> bool:
        """Whether a call with this token is let through; override to accept tokens issued elsewhere (a `FakeOAuthProvider`'s)."""
        return token is not None and token in self.tokens

    def unauthorized(self) -> Response | tuple[Any, int]:
        """The answer to a call without a valid token; override to match the provider's."""
        return jsonify(message="Bad credentials"), 401

    # what tests do ------------------------------------------------------

    @contextmanager
    def serve(self) -> Iterator[str]:
        """Serve the fake; yields its base URL (also kept in `base_url`)."""
        with serve_wsgi(self.app) as base_url:
            self.base_url = base_url
            yield base_url

    @contextmanager
    def running(self) -> Iterator[FakeProviderAPI]:
        """Serve the fake; yields the fake itself (what `ConnectorContract.sync_api` returns)."""
        with self.serve():
            yield self

    def reset(self) -> None:
        """Forget recorded requests and lift any rate limit (for a fake shared by a module's tests)."""
        with self._lock:
            self.requests.clear()
            self._rate_limit = None

    def rate_limit(self, seconds: float = 60, *, status: int = 429, headers: Mapping[str, str] | None = None, calls: int | None = None) -> None:
        """Answer the next `calls` calls (every call when None) with `status`, `Retry-After: seconds` unless `headers` say otherwise.

        GitHub's primary limit, for instance: `rate_limit(status=403, headers=quota_exhausted_headers(60))`.
        """
        sent = dict(headers) if headers is not None else {"Retry-After": _number(seconds)}
        with self._lock:
            self._rate_limit = RateLimit(status=status, headers=sent, calls=calls)

    def lift_rate_limit(self) -> None:
        with self._lock:
            self._rate_limit = None

    def requests_to(self, path: str) -> list[RecordedRequest]:
        return [recorded for recorded in self.requests if recorded.path == path]

    # paging ------------------------------------------------------------------

    def page_number(self) -> tuple[int, int]:
        """The requested `page` (from 1) and `per_page` (1-100) of the current request; 400 for anything else."""
        try:
            page = int(request.args.get("page", "1"))
            per_page = int(request.args.get("per_page", str(self.per_page)))
        except ValueError:
            page = per_page = 0
        if page < 1 or not 1 <= per_page <= 100:
            abort(400)
        return page, per_page

    def link_paginated(self, items: Sequence[Any]) -> Response:
        """A JSON list of the requested page of `items`, with a `Link` header (`next`, `last`, `prev`, `first`) as GitHub sends it."""
        page, per_page = self.page_number()
        last = max(1, -(-len(items) // per_page))
        response = jsonify(list(items[(page - 1) * per_page : page * per_page]))
        links = []
        for rel, number in (("prev", page - 1), ("next", page + 1), ("last", last), ("first", 1)):
            if 1 <= number <= last and not (rel in ("last", "first") and number == page):
                links.append(f'<{self._page_url(number, per_page)}>; rel="{rel}"')
        if links:
            response.headers["Link"] = ", ".join(links)
        return response

    def _page_url(self, page: int, per_page: int) -> str:
        params = {**request.args.to_dict(), "page": str(page), "per_page": str(per_page)}
        return f"{request.base_url}?{urlencode(params)}"

    # the request pipeline -------------------------------------------------

    def _before_request(self) -> Any:
        recorded = RecordedRequest(
            method=request.method,
            path=request.path,
            args=request.args.to_dict(),
            headers={name.lower(): value for name, value in request.headers.items()},
            body=request.get_data(),
        )
        with self._lock:
            self.requests.append(recorded)
            limit = self._rate_limit
            if limit is not None and limit.calls is not None:
                limit.calls -= 1
                if limit.calls <= 0:
                    self._rate_limit = None
        if request.path in self.public_paths:
            return None
        if limit is not None:
            response = jsonify(message="rate limited")
            response.status_code = limit.status
            response.headers.update(limit.headers)
            return response
        if not self.accepts(recorded.token):
            return self.unauthorized()
        return None


def quota_exhausted_headers(reset_in: float, *, now: float | None = None) -> dict[str, str]:
    """`x-ratelimit-*` headers of a spent quota that resets in `reset_in` seconds (GitHub's primary rate limit)."""
    reset = int((time.time() if now is None else now) + reset_in)
    return {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0", "x-ratelimit-reset": str(reset)}


def _number(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else str(seconds)
