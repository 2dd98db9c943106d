"""A real HTTP(S) server on 127.0.0.1 that records exactly what reached it.

Tests of what goes out on the wire (the proxy's request target, a delivery's
destination address) need the bytes a server saw, not what a client meant to
send: the request line is kept as received, before any decoding.
"""

from __future__ import annotations

import socket
import sys
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class SeenRequest:
    request_line: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    server_name: str | None = None


@dataclass
class RecordingServer:
    url: str
    port: int
    requests: list[SeenRequest] = field(default_factory=list)
    status: int = 200
    reply_headers: list[tuple[str, str]] = field(default_factory=list)
    reply_body: bytes = b"ok"
    # Set: the reply body never ends (up to this many bytes, then the server
    # closes); `endless_reply_cut_short` tells whether the client left first.
    endless_reply_limit: int | None = None
    endless_reply_cut_short: bool = False
    endless_reply_over: threading.Event = field(default_factory=threading.Event)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def _record_and_reply(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        recording = self.server.recording
        recording.requests.append(
            SeenRequest(
                request_line=self.requestline,
                target=self.path,
                headers=list(self.headers.items()),
                body=body,
                server_name=getattr(self.connection, "hub_server_name", None),
            )
        )
        self.send_response(recording.status)
        for name, value in recording.reply_headers:
            self.send_header(name, value)
        if recording.endless_reply_limit is not None:
            self._reply_endlessly(recording)
            return
        reply = b"" if self.command == "HEAD" else recording.reply_body
        self.send_header("Content-Length", str(len(recording.reply_body)))
        self.end_headers()
        self.wfile.write(reply)

    def _reply_endlessly(self, recording: RecordingServer) -> None:
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        chunk = b"x" * 65536
        try:
            for _ in range(0, recording.endless_reply_limit or 0, len(chunk)):
                self.wfile.write(chunk)
        except OSError:
            recording.endless_reply_cut_short = True
        finally:
            recording.endless_reply_over.set()

    do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _record_and_reply

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base class's name
        """Quiet: the test reads `requests`, not stderr."""


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    recording: RecordingServer

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet about clients that hang up or time out mid-request: several tests make them do so on purpose."""
        if not isinstance(sys.exc_info()[1], OSError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class _Server6(_Server):
    address_family = socket.AF_INET6


@contextmanager
def recording_server(tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> Iterator[RecordingServer]:
    """Serve on a free port of `host` (a loopback address) in a thread; `tls` makes it HTTPS and records SNI."""
    server_class = _Server6 if ":" in host else _Server
    server = server_class((host, 0), _Handler)
    port = server.server_address[1]
    scheme = "http"
    if tls is not None:
        scheme = "https"

        def remember_server_name(sock: ssl.SSLObject | ssl.SSLSocket, name: str | None, _: ssl.SSLContext) -> None:
            sock.hub_server_name = name  # type: ignore[union-attr]

        tls.sni_callback = remember_server_name
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    literal = f"[{host}]" if ":" in host else host
    server.recording = RecordingServer(url=f"{scheme}://{literal}:{port}", port=port)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="recording-server", daemon=True)
    thread.start()
    try:
        yield server.recording
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
