"""Run a WSGI app (a fake provider API, an OAuth server) on 127.0.0.1 for a test.

Tests talk to it over real HTTP, exactly as the hub talks to a provider.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from werkzeug.serving import make_server


@contextmanager
def serve_wsgi(app: Any, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` on a free port in a thread; yields its base URL (no trailing slash)."""
    server = make_server(host, 0, app, threaded=True)
    print_error = server.handle_error

    def handle_error(request: Any, client_address: Any) -> None:
        """Quiet about clients that hang up or time out mid-request: tests of timeouts make them do so."""
        if not isinstance(sys.exc_info()[1], OSError):
            print_error(request, client_address)

    server.handle_error = handle_error  # type: ignore[method-assign]
    # A short poll interval: shutting down waits for the loop to look, and tests start many servers.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-provider", daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_port}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
