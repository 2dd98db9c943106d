"""A host application's webhook receiver for the destinations tests: a real HTTP server on 127.0.0.1.

It records every request (path, headers, exact body bytes) and answers
from a script per path: a status code, a `(status, headers, body)` tuple,
or a callable that may block (a hanging receiver) before answering. Paths
without a script answer 200.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Request, Response

from hub.testkit.http_server import serve_wsgi


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_headers(self) -> dict[str, str]:
        return {name: self.headers[name] for name in ("webhook-id", "webhook-timestamp", "webhook-signature")}


@dataclass
class Receiver:
    url: str = ""
    received: list[Received] = field(default_factory=list)
    scripts: dict[str, list[Any]] = field(default_factory=dict)
    arrived: threading.Condition = field(default_factory=threading.Condition)

    def answer(self, path: str, *answers: Any) -> str:
        """Script the answers of `path`, in order (the last one repeats); returns the path's full URL."""
        self.scripts[path] = list(answers)
        return self.url + path

    def at(self, path: str) -> list[Received]:
        return [item for item in self.received if item.path == path]

    def wait_for(self, path: str, count: int, timeout: float = 60.0) -> list[Received]:
        """Wait until `path` has received `count` requests (or the timeout passes); returns what it received."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.at(path)) >= count, timeout=timeout)
        return self.at(path)

    def _script(self, path: str) -> Any:
        answers = self.scripts.get(path)
        if not answers:
            return 200
        return answers.pop(0) if len(answers) > 1 else answers[0]

    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        item = Received(request.path, {k.lower(): v for k, v in request.headers.items()}, request.get_data())
        with self.arrived:
            self.received.append(item)
            answer = self._script(request.path)
            self.arrived.notify_all()
        if callable(answer):
            answer = answer(item)
        if isinstance(answer, int):
            answer = (answer, {}, b"ok")
        status, headers, body = answer
        return Response(body, status=status, headers=headers)(environ, start_response)


@contextmanager
def running_receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    with serve_wsgi(receiver.wsgi) as url:
        receiver.url = url
        yield receiver
