"""The provider API the proxy benchmark calls: as little work as a provider answer can be.

Served by gunicorn like the hub. `GET /v1/account` answers the hub's question
when the benchmark creates its Stripe integration; `GET /big?bytes=N` streams
N bytes; anything else is a small JSON body. Every call must carry the
integration's key, as a provider would insist.

`?latency_ms=N` on that small-body path makes the answer wait N ms first
(time.sleep, no CPU), as a real provider's API does; the benchmark gives
the provider enough threads that the wait, not its thread count, bounds it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

API_KEY = "rk_test_bench_proxy"
CHUNK = 64 * 1024
_BODY = b'{"object": "list", "data": [{"id": "ch_1", "amount": 1000, "currency": "eur"}], "has_more": false}'


def _pattern(size: int) -> Iterator[bytes]:
    block = bytes(range(256)) * (CHUNK // 256)
    sent = 0
    while sent < size:
        piece = block[: min(CHUNK, size - sent)]
        sent += len(piece)
        yield piece


def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
    if environ.get("PATH_INFO") == "/healthz":
        start_response("200 OK", [("Content-Length", "0")])
        return [b""]
    if environ.get("HTTP_AUTHORIZATION") != f"Bearer {API_KEY}":
        start_response("401 Unauthorized", [("Content-Type", "application/json"), ("Content-Length", "2")])
        return [b"{}"]
    path = environ.get("PATH_INFO", "")
    if path == "/v1/account":
        body = b'{"id": "acct_bench_proxy", "object": "account"}'
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]
    if path == "/big":
        size = int(environ.get("QUERY_STRING", "bytes=0").partition("=")[2] or 0)
        start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(size))])
        return _pattern(size)
    query = environ.get("QUERY_STRING", "")
    if query.startswith("latency_ms="):
        time.sleep(int(query.partition("=")[2] or 0) / 1000)
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(_BODY)))])
    return [_BODY]
