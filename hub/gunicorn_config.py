"""gunicorn settings for serving the hub in production.

    gunicorn -c python:hub.gunicorn_config "hub:create_app()"

Command-line options (workers, bind address, `--access-logfile`) still apply
on top. What this adds:

- gunicorn's own logs go through the hub's formatter and redaction. gunicorn
  keeps an error log and, with `--access-logfile`, an access line per request
  built from "atoms": the request line with its query string, any header or
  environ value the format names. Those carry webhook URL secrets, connect
  tokens, OAuth codes and bearer keys. `HubGunicornLogger` gives gunicorn's
  handlers the hub's formatter, puts the redaction filter on both of
  gunicorn's loggers (logger filters apply whatever handlers a log
  configuration adds) and builds every atom from scrubbed values: the path as
  the app itself logged it (route secrets replaced, see
  `hub.logs.loggable_path`), query values and secret-bearing headers
  replaced, everything else redacted.
- each worker checks at boot that KMS_KEY and ENCRYPTION_KEY open the stored data
  (`hub.storage.key_check`), so a wrong key stops the server instead of
  serving a 500 on every credential read.

gunicorn reads the settings it knows from this module's names
(`logger_class`, `post_worker_init`) and passes over the others.
"""

from __future__ import annotations

import datetime
import os
import sys
from typing import Any
from urllib.parse import urlsplit

from gunicorn import glogging

from hub.logs import LOGGABLE_PATH_KEY, REDACTED, RedactingFilter, formatter_for, redact, scrub_path

SECRET_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
SECRET_HEADER_WORDS = ("signature", "secret", "token", "key", "auth", "cookie", "session")
# Environ entries that hold the request target, whole or in part.
TARGET_ENVIRON = {"raw_uri", "request_uri"}


def scrub_query(query: str) -> str:
    """Parameter names kept, every value replaced: any of them may be a token, a code or a state."""
    if not query:
        return ""
    return "&".join(part.split("=", 1)[0] + ("=" + REDACTED if "=" in part else "") for part in query.split("&"))


def scrub_url(url: str) -> str:
    """A URL (a Referer) with its path scrubbed like a request's and its query values replaced."""
    if not url or url == "-":
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return REDACTED
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}" if parts.scheme and parts.netloc else ""
    query = scrub_query(parts.query)
    return origin + scrub_path(parts.path) + ("?" + query if query else "")


def _secret_header(name: str) -> bool:
    return name in SECRET_HEADERS or any(word in name for word in SECRET_HEADER_WORDS)


class HubGunicornLogger(glogging.Logger):
    """gunicorn's Logger with the hub's formatting and every secret removed."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        log_format = os.environ.get("HUB_LOG_FORMAT") or "auto"
        for log in (self.error_log, self.access_log):
            if not any(isinstance(existing, RedactingFilter) for existing in log.filters):
                log.addFilter(RedactingFilter())
            for handler in log.handlers:
                if getattr(handler, "_gunicorn", False):
                    handler.setFormatter(formatter_for(getattr(handler, "stream", None), log_format))

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: datetime.timedelta) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        path = environ.get(LOGGABLE_PATH_KEY) or scrub_path(environ.get("PATH_INFO") or "")
        query = scrub_query(environ.get("QUERY_STRING") or "")
        target = path + ("?" + query if query else "")
        atoms["r"] = f"{environ.get('REQUEST_METHOD', '-')} {target} {environ.get('SERVER_PROTOCOL', '-')}"
        atoms["U"] = path
        atoms["q"] = query
        atoms["f"] = scrub_url(environ.get("HTTP_REFERER", "-"))
        scrubbed = {"path_info": path, "query_string": query, "http_referer": atoms["f"]}
        for key in [key for key in atoms if key.startswith("{")]:
            name, kind = key[1:-2], key[-1]
            if kind == "e":
                if name in TARGET_ENVIRON:
                    atoms[key] = target
                elif name in scrubbed:
                    atoms[key] = scrubbed[name]
                elif name.startswith("http_") and _secret_header(name[5:].replace("_", "-")):
                    atoms[key] = REDACTED
                else:
                    atoms[key] = redact(str(atoms[key]))
            elif name == "referer":
                atoms[key] = atoms["f"]
            elif _secret_header(name):
                atoms[key] = REDACTED
            else:
                atoms[key] = redact(str(atoms[key]))
        return atoms


logger_class = HubGunicornLogger
WORKER_BOOT_ERROR = 3  # gunicorn's exit code for a worker that cannot boot: the master stops, not respawns


def post_worker_init(worker: Any) -> None:
    from flask import Flask

    from hub.errors import ConfigurationError
    from hub.runtime import current_hub
    from hub.storage.key_check import verify_keys_at_start

    app = worker.wsgi
    if not isinstance(app, Flask):
        return
    try:
        with app.app_context():
            verify_keys_at_start(current_hub().envelope)
    except ConfigurationError as error:
        worker.log.error("refusing to serve: %s", error)
        sys.exit(WORKER_BOOT_ERROR)
