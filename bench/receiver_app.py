"""A host application's receiver that answers 200 at once, for the deliveries benchmark (under gunicorn)."""

from __future__ import annotations


def app(environ, start_response):  # type: ignore[no-untyped-def]
    environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]
