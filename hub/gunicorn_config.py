"""gunicorn settings for serving the hub in production.

    gunicorn -c python:hub.gunicorn_config "hub:create_app()"

Command-line options (workers, bind address, `--access-logfile`) still apply
on top. What this adds: gunicorn's error and access logs go through the hub's
formatter and redaction (`hub.gunicorn_logging`), so a request line never
shows a webhook secret or a connect token.
"""

from __future__ import annotations

from hub.gunicorn_logging import HubGunicornLogger

logger_class = HubGunicornLogger
