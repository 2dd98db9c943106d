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
SECRET_PATTERNS = [
    re.compile(r"hub_sk_[A-Za-z0-9_\-]{8,}"),
    re.compile(r"whk_[A-Za-z0-9_\-]{8,}"),
    re.compile(r"whsec_[A-Za-z0-9+/=_\-]{4,}"),
    re.compile(r"\b(?:sk|rk|pk)_(?:live|test)_[A-Za-z0-9]{4,}"),
    re.compile(r"\bxox[abposr]-[A-Za-z0-9\-]{4,}"),
    re.compile(r"\bya29\.[A-Za-z0-9_\-\.]{4,}"),
    re.compile(r"(?i)\bbearer\s+[A-Za-z0-9_\-\.=~+/]{6,}"),
    re.compile(r"(?i)\b(v0|v1)=[0-9a-f]{32,}"),
    re.compile(r"\beyJ[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]{6,}\.[A-Za-z0-9_\-]*"),
    re.compile(
        r"(?i)((?:access_token|refresh_token|id_token|client_secret|code_verifier|api_key|password|secret|token|code)"
        r"[\"']?\s*[:=]\s*[\"']?)([^\s\"'&,}]{4,})"
    ),
]


def redact(text: str) -> str:
    for pattern in SECRET_PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: m.group(1) + REDACTED, text)
        else:
            text = pattern.sub(REDACTED, text)
    return text


class RedactingFilter(logging.Filter):
    """Render the message, scrub it, and drop the raw arguments."""

    def filter(self, record: logging.LogRecord) -> bool:
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


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        entry.update({k: v for k, v in LOG_CONTEXT.get().items() if v})
        if has_request_context():
            for name in CONTEXT_FIELDS:
                value = getattr(g, name, None)
                if value and name not in entry:
                    entry[name] = value
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, default=str)


def bind(**fields: str | None) -> contextvars.Token:
    """Add ids to every log line of the current task (workers) until `unbind`."""
    merged = dict(LOG_CONTEXT.get())
    merged.update({k: v for k, v in fields.items() if v})
    return LOG_CONTEXT.set(merged)


def unbind(token: contextvars.Token) -> None:
    LOG_CONTEXT.reset(token)


def make_handler(stream: Any) -> logging.Handler:
    """A JSON handler that redacts secrets; the hub's only way of writing logs."""
    handler = logging.StreamHandler(stream)
    handler.hub_handler = True  # type: ignore[attr-defined]
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    return handler


def configure_logging(level: str) -> None:
    """Install one JSON handler with redaction on the root logger (idempotent)."""
    root = logging.getLogger()
    for handler in root.handlers:
        if getattr(handler, "hub_handler", False):
            handler.setLevel(level)
            return
    root.addHandler(make_handler(sys.stderr))
    root.setLevel(level)
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
        if access_log.isEnabledFor(logging.INFO):
            elapsed_ms = (time.perf_counter() - getattr(g, "request_started", time.perf_counter())) * 1000
            access_log.info("%s %s %s %.1fms", request.method, request.path, response.status_code, elapsed_ms)
        return response
