"""Structured JSON logs with request context and secret redaction.

Every record is one JSON object carrying the request id and, when known,
the tenant, connector, integration and event ids. A redaction filter runs
on every handler the hub installs and scrubs anything shaped like a
credential (API keys, bearer tokens, signing secrets, provider tokens,
webhook URL secrets, signature headers) from the message and its
arguments, so a careless log call cannot leak one.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import secrets
import sys
import time
from typing import Any

from flask import Flask, g, has_request_context, request

LOG_CONTEXT: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("hub_log_context", default={})
CONTEXT_FIELDS = ("request_id", "tenant_id", "connector", "integration_id", "event_id", "job_id")

REDACTED = "[redacted]"
# Everything shaped like a credential, as one pattern so a message is scanned once.
# The last alternative keeps the name of a `name=value` pair and scrubs the value.
#
# Every alternative runs in linear time, whatever the input (log lines carry
# attacker-chosen text such as request paths): repetitions are possessive
# (`++`, `*+`, `{n,}+`), so a failed attempt never backtracks through a run it
# consumed, and an alternative that can fail after a long run (the JWT's first
# segment) may only start where such a run starts, never inside one, so no
# run is scanned again from each of its positions.
SECRET_PATTERN = re.compile(
    "|".join(
        [
            r"hub_sk_[A-Za-z0-9_\-]{8,}+",
            r"whk_[A-Za-z0-9_\-]{8,}+",
            r"whsec_[A-Za-z0-9+/=_\-]{4,}+",
            r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{4,}+",
            r"\bxox[abposr]-[A-Za-z0-9\-]{4,}+",
            r"\bya29\.[A-Za-z0-9_\-\.]{4,}+",
            r"(?i:\bbearer\s++[A-Za-z0-9_\-\.=~+/]{6,}+)",
            r"(?i:\b(?:v0|v1)=[0-9a-f]{32,}+)",
            r"(?<![A-Za-z0-9_\-])eyJ[A-Za-z0-9_\-]{6,}+\.[A-Za-z0-9_\-]{6,}+\.[A-Za-z0-9_\-]*+",
            r"(?P<name>(?i:(?:access_token|refresh_token|id_token|client_secret|code_verifier|api_key|password|secret|token|code)"
            r"[\"']?+\s*+[:=]\s*+[\"']?+))[^\s\"'&,}]{4,}+",
        ]
    )
)


def _redacted(match: re.Match[str]) -> str:
    name = match.group("name")
    return REDACTED if name is None else name + REDACTED


def redact(text: str) -> str:
    return SECRET_PATTERN.sub(_redacted, text)


# A failure is told in a line, not a page: the start of the message names it.
ERROR_TEXT_LIMIT = 500


def describe_error(error: BaseException) -> str:
    """A short, secret-free account of a failure, for logs and a job's `last_error`."""
    text = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
    return redact(text)[:ERROR_TEXT_LIMIT]


class RedactingFilter(logging.Filter):
    """Render the message, scrub it, and drop the raw arguments.

    Records built from nothing but values the hub scrubbed itself (the access
    line, see `loggable_path`) carry `redacted=True` and are passed as they are.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.__dict__.get("redacted") is True and not record.exc_info:
            return True
        try:
            message = record.getMessage()
        except Exception:
            message = str(record.msg)
        record.msg = redact(message)
        record.args = None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        return True


_ENCODER = json.JSONEncoder(default=str)
# Terminal colour sequences (werkzeug colours its request lines); linear like SECRET_PATTERN.
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*+[ -/]*+[@-~]")
# A text line must stay one line: control characters are shown, not obeyed.
CONTROL_ESCAPES = {code: f"\\x{code:02x}" for code in (*range(32), 0x7F)} | {10: "\\n", 13: "\\r", 9: "\\t"}
LOG_FORMATS = ("auto", "json", "text")


def _plain_message(record: logging.LogRecord) -> str:
    message = record.getMessage()
    if "\x1b" in message:
        message = ANSI_ESCAPE.sub("", message)
    return message


class JsonFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message and the ids of the request or task."""

    _second: int = -1
    _second_text: str = ""

    def _time(self, created: float) -> str:
        second = int(created)
        if second != self._second:  # one strftime per second, not per line
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
            self._second = second
        return f"{self._second_text}.{int((created - second) * 1000):03d}Z"

    def fields(self, record: logging.LogRecord) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "time": self._time(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": _plain_message(record),
        }
        for name, value in LOG_CONTEXT.get().items():
            if value:
                entry[name] = value
        if has_request_context():
            request_values = vars(g._get_current_object())
            for name in CONTEXT_FIELDS:
                value = request_values.get(name)
                if value and name not in entry:
                    entry[name] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        return entry

    def format(self, record: logging.LogRecord) -> str:
        return _ENCODER.encode(self.fields(record))


class TextFormatter(JsonFormatter):
    """The same fields as one line of plain text, for a person at a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        entry = self.fields(record)
        exception = entry.pop("exception", None)
        line = f"{entry.pop('time')} {entry.pop('level')} {entry.pop('logger')}: {entry.pop('message')}"
        line += "".join(f" {name}={value}" for name, value in entry.items())
        line = line.translate(CONTROL_ESCAPES)
        if exception:
            line += "\n" + "\n".join(part.translate(CONTROL_ESCAPES) for part in exception.splitlines())
        return line


def bind(**fields: str | None) -> contextvars.Token:
    """Add ids to every log line of the current task (workers) until `unbind`."""
    merged = dict(LOG_CONTEXT.get())
    merged.update({k: v for k, v in fields.items() if v})
    return LOG_CONTEXT.set(merged)


def unbind(token: contextvars.Token) -> None:
    LOG_CONTEXT.reset(token)


def formatter_for(stream: Any, log_format: str = "auto") -> logging.Formatter:
    """JSON for machines (files, pipes, log collectors), plain text for a terminal unless told otherwise."""
    if log_format == "text" or (log_format == "auto" and _is_terminal(stream)):
        return TextFormatter()
    return JsonFormatter()


def _is_terminal(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def make_handler(stream: Any, log_format: str = "auto") -> logging.Handler:
    """A handler that redacts secrets; the hub's only way of writing logs."""
    handler = logging.StreamHandler(stream)
    handler.hub_handler = True  # type: ignore[attr-defined]
    handler.setFormatter(formatter_for(stream, log_format))
    handler.addFilter(RedactingFilter())
    return handler


def configure_logging(level: str, log_format: str = "auto") -> None:
    """Install one handler with redaction on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "hub_handler", False):
            handler.setLevel(level)
            handler.setFormatter(formatter_for(getattr(handler, "stream", None), log_format))
            return
    root.addHandler(make_handler(sys.stderr, log_format))
    root.setLevel(level)
    # The hub's lines carry no caller or multiprocessing fields, so records need
    # not compute them (each is a cost on every request's access line). The
    # process and thread ids stay: other handlers in the process (gunicorn's
    # own) format them with %d, which fails on a record that left them out.
    logging._srcfile = None  # type: ignore[attr-defined]
    logging.logMultiprocessing = False
    # werkzeug's access log prints full paths, which include webhook secrets.
    logging.getLogger("werkzeug").addFilter(RedactingFilter())
    # Huey logs two lines per task at INFO; the hub logs each job's failures itself.
    if logging.getLevelName(level) != logging.DEBUG:
        logging.getLogger("huey").setLevel(logging.WARNING)


def init_request_ids(app: Flask) -> None:
    access_log = logging.getLogger("hub.access")

    @app.before_request
    def _assign_request_id() -> None:
        incoming = request.headers.get("X-Request-Id", "")
        g.request_id = incoming if re.fullmatch(r"[A-Za-z0-9._\-]{8,64}", incoming) else secrets.token_hex(8)
        g.request_started = time.perf_counter()

    @app.after_request
    def _echo_request_id(response: Any) -> Any:
        request_id = getattr(g, "request_id", None)
        if request_id:
            response.headers["X-Request-Id"] = request_id
        path = loggable_path()
        # The server's own access log (gunicorn, see hub.gunicorn_config) reads the scrubbed path from here.
        request.environ[LOGGABLE_PATH_KEY] = path
        if access_log.isEnabledFor(logging.INFO):
            elapsed_ms = (time.perf_counter() - getattr(g, "request_started", time.perf_counter())) * 1000
            access_log.info("%s %s %s %.1fms", request.method, path, response.status_code, elapsed_ms, extra=SCRUBBED)
        return response


# Route arguments that are secrets (the webhook URL's); the access line shows them redacted.
SECRET_ROUTE_ARGUMENTS = ("webhook_secret",)
SCRUBBED = {"redacted": True}
LOGGABLE_PATH_KEY = "hub.loggable_path"
# The webhook route's secret segment, for paths the app did not route (or never saw).
WEBHOOK_SECRET_SEGMENT = re.compile(r"^(/api/webhooks/[^/]++/)[^/]++")


def scrub_path(path: str) -> str:
    """A path that matched no route: the webhook secret's segment and anything secret-shaped removed."""
    return redact(WEBHOOK_SECRET_SEGMENT.sub(r"\1" + REDACTED, path))


def loggable_path() -> str:
    """The request path with every secret removed.

    A matched route's secret arguments are replaced where they stand; a path
    that matched no route (anything a client sent) goes through `redact`.
    """
    path = request.path
    arguments = request.view_args
    if request.url_rule is None or arguments is None:
        return scrub_path(path)
    for name in SECRET_ROUTE_ARGUMENTS:
        value = arguments.get(name)
        if value:
            path = path.replace(str(value), REDACTED)
    return path
