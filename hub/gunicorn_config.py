"""gunicorn settings for serving the hub in production.

    gunicorn -c python:hub.gunicorn_config "hub:create_app()"

Command-line options (workers, bind address, `--access-logfile`) still apply
on top. What this adds: gunicorn's error and access logs go through the hub's
formatter and redaction (`hub.gunicorn_logging`), so a request line never
shows a webhook secret or a connect token; and each worker checks at boot
that ENCRYPTION_KEY opens the stored data (`hub.storage.key_check`), so a wrong key
stops the server instead of serving a 500 on every credential read.
"""

from __future__ import annotations

import sys
from typing import Any

from hub.gunicorn_logging import HubGunicornLogger

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
            verify_keys_at_start(current_hub().keyring)
    except ConfigurationError as error:
        worker.log.error("refusing to serve: %s", error)
        sys.exit(WORKER_BOOT_ERROR)
