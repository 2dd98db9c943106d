"""A provider API for the proxy's tests: checks credentials like a provider, records every request it sees.

Plain WSGI (no router), so the request target arrives exactly as the hub
sent it. Paths the tests use:

- `<anything>`: 200 JSON echo of the method, the raw target and the body size;
- `big?bytes=N`: N bytes, streamed in 64 KiB chunks with their Content-Length;
- `upload`: reads the body as a stream, answers its size and SHA-256;
- `slow?seconds=S`: answers after S seconds;
- `gzipped`: a gzip body with `Content-Encoding: gzip`;
- `cookies`: headers the hub must not return (Set-Cookie, CORS, HSTS, Alt-Svc);
- `redirect`: a 302 the hub must not follow.

`script[path]` queues answers (status, headers, body) given before any of
the above; `hold_refused` is a barrier every refused request waits at (two
callers refused at once).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug.wrappers import Request, Response

from hub.testkit.oauth_server import FakeOAuthProvider

CHUNK = 64 * 1024


@dataclass
class SeenRequest:
    method: str
    target: str
    headers: dict[str, str]
    body_size: int


@dataclass
class FakeProviderApi:
    """Accepts live tokens of `oauth`, or `Bearer <api_key>`; `required_headers` must be present as given."""

    oauth: FakeOAuthProvider | None = None
    api_key: str | None = None
    required_headers: dict[str, str] = field(default_factory=dict)
    base_url: str = ""
    seen: list[SeenRequest] = field(default_factory=list)
    script: dict[str, list[tuple[int, dict[str, str], bytes]]] = field(default_factory=dict)
    hold_refused: threading.Barrier | None = None

    def reset(self) -> None:
        self.seen.clear()
        self.script.clear()
        self.hold_refused = None

    def _authorized(self, request: Request) -> bool:
        authorization = request.headers.get("Authorization")
        if self.oauth is not None:
            accepted = self.oauth.accepts(authorization)
        else:
            accepted = authorization == f"Bearer {self.api_key}"
        return accepted and all(request.headers.get(name) == value for name, value in self.required_headers.items())

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        target = environ.get("REQUEST_URI") or environ.get("RAW_URI") or request.full_path
        path = request.path.rsplit("/", 1)[-1]
        headers = {name: value for name, value in request.headers.items()}
        if path == "upload":
            size, digest = self._read_streamed(request)
            self.seen.append(SeenRequest(request.method, target, headers, size))
            if not self._authorized(request):
                return self._refused()(environ, start_response)
            return _json({"bytes": size, "sha256": digest})(environ, start_response)
        body = request.get_data()
        self.seen.append(SeenRequest(request.method, target, headers, len(body)))
        queued = self.script.get(path)
        if queued:
            status, extra, content = queued.pop(0)
            return Response(content, status=status, headers=extra)(environ, start_response)
        if not self._authorized(request):
            return self._refused()(environ, start_response)
        return self._answer(request, path, target, body)(environ, start_response)

    def _refused(self) -> Response:
        if self.hold_refused is not None:
            self.hold_refused.wait(timeout=20)
        return _json({"error": "invalid_auth"}, status=401)

    @staticmethod
    def _read_streamed(request: Request) -> tuple[int, str]:
        digest = hashlib.sha256()
        size = 0
        stream = request.stream
        while True:
            chunk = stream.read(CHUNK)
            if not chunk:
                break
            size += len(chunk)
            digest.update(chunk)
        return size, digest.hexdigest()

    def _answer(self, request: Request, path: str, target: str, body: bytes) -> Response:
        query = {name: values[0] for name, values in parse_qs(request.query_string.decode()).items()}
        if path == "big":
            size = int(query["bytes"])
            return Response(_pattern(size), headers={"Content-Length": str(size), "Content-Type": "application/octet-stream"}, direct_passthrough=True)
        if path == "slow":
            time.sleep(float(query["seconds"]))
        if path == "gzipped":
            return Response(gzip.compress(b'{"compressed": true}'), headers={"Content-Encoding": "gzip", "Content-Type": "application/json"})
        if path == "cookies":
            return Response(
                b"{}",
                headers={
                    "Content-Type": "application/json",
                    "Set-Cookie": "session=provider-session; HttpOnly",
                    "Access-Control-Allow-Origin": "*",
                    "Strict-Transport-Security": "max-age=63072000",
                    "Alt-Svc": 'h3=":443"',
                    "Request-Id": "req_123",
                    "Hub-Proxy-Attempts": "99",
                },
            )
        if path == "redirect":
            return Response(b"", status=302, headers={"Location": "http://127.0.0.1:9/elsewhere"})
        return _json({"method": request.method, "target": target, "body_bytes": len(body)}, status=201 if request.method == "POST" else 200)


def _json(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status=status, mimetype="application/json")


def _pattern(size: int) -> Iterator[bytes]:
    block = bytes(range(256)) * (CHUNK // 256)
    sent = 0
    while sent < size:
        piece = block[: min(CHUNK, size - sent)]
        sent += len(piece)
        yield piece


def pattern_sha256(size: int) -> str:
    digest = hashlib.sha256()
    for piece in _pattern(size):
        digest.update(piece)
    return digest.hexdigest()
