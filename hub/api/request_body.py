"""Reading a request body without ever holding more than its limit.

A Content-Length past the limit is refused before anything is read; a body
without one (chunked, where the server terminates the input) is read at most
one byte past the limit, which is how "too large" is told from "exactly the
limit". The app-wide `MAX_CONTENT_LENGTH` (HUB_MAX_REQUEST_BYTES) bounds
every other reader the same way, but werkzeug's `get_data` stops at that
limit without saying the body went on (a truncated body would then read as
malformed), so the routes that take a body read it through here.
"""

from __future__ import annotations

from flask import Request

from hub.errors import PayloadTooLarge


def read_body(request: Request, limit: int) -> bytes:
    """The body as sent; 413 past `limit` bytes, having read at most one byte more."""
    if request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    request.max_content_length = limit + 1  # werkzeug ends the stream there, for this request only
    body = request.stream.read(limit + 1)
    if len(body) > limit:
        raise PayloadTooLarge(f"The body is larger than {limit} bytes.")
    return body
