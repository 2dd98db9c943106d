"""`hub metrics serve`: `/metrics` on a listener of its own, apart from the API.

An operator who keeps metrics off the public API names the listener in
`HUB_METRICS_LISTEN` (`host:port`, e.g. `127.0.0.1:9464`, or `[::1]:9464`);
the API then answers 404 at `/metrics` and this process serves it on that
address, reachable only where the operator's network allows. It answers
`GET /metrics` and nothing else, with the same figures and the same
optional token (`HUB_METRICS_TOKEN`) as the API would. Under gunicorn set
the same `PROMETHEUS_MULTIPROC_DIR` for both, so its counters are the API
workers' (and the consumers' on the same host).

The server is the standard library's WSGI server with a thread per scrape:
a scrape is one small request every few seconds, and the database figures
are cached, so nothing more is needed.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Iterable
from socketserver import ThreadingMixIn
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from flask import Flask

from hub.errors import ConfigurationError

# Set in the WSGI environ by this listener only (a client cannot send it: headers arrive as HTTP_*).
LISTENER_ENVIRON_KEY = "hub.metrics_listener"
NOT_FOUND = json.dumps(
    {"type": "https://hub.dev/problems/not-found", "title": "Not found", "status": 404, "detail": "Only /metrics is served here."}
).encode()


class _ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _ThreadingServerV6(_ThreadingServer):
    address_family = socket.AF_INET6


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002  (the base class's name)
        """Scrapes are not worth a log line each."""


def parse_listen(value: str) -> tuple[str, int]:
    """`host:port` or `[ipv6]:port`; a configuration error otherwise."""
    host, separator, port = value.strip().rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not separator or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigurationError("HUB_METRICS_LISTEN must be host:port, e.g. 127.0.0.1:9464")
    return host, int(port)


def metrics_only(app: Flask) -> Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]:
    """The hub's WSGI app restricted to `/metrics`, with each request marked as coming from this listener."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != "/metrics":
            start_response("404 Not Found", [("Content-Type", "application/problem+json"), ("Content-Length", str(len(NOT_FOUND)))])
            return [NOT_FOUND]
        environ[LISTENER_ENVIRON_KEY] = True
        return app(environ, start_response)

    return application


def metrics_server(app: Flask, listen: str) -> WSGIServer:
    """A server bound to `listen`, ready to `serve_forever()`."""
    host, port = parse_listen(listen)
    server_class = _ThreadingServerV6 if ":" in host else _ThreadingServer
    return make_server(host, port, metrics_only(app), server_class=server_class, handler_class=_QuietHandler)


def serve_metrics(app: Flask) -> None:
    listen = app.config.get("HUB_METRICS_LISTEN")
    if not listen:
        raise ConfigurationError("set HUB_METRICS_LISTEN (host:port) to serve metrics on their own listener")
    server = metrics_server(app, listen)
    try:
        server.serve_forever()
    finally:
        server.server_close()
