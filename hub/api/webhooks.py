"""Webhook ingestion endpoint: size limit, raw body, then `hub.webhooks.ingest`."""

from __future__ import annotations

import json
import time

from flask import Blueprint, Response, current_app, g, request

from hub.api.request_body import read_body
from hub.errors import HubError
from hub.metrics import INGEST_SECONDS, WEBHOOKS_RECEIVED
from hub.runtime import current_hub
from hub.types import WebhookRequest
from hub.webhooks.ingest import receive_webhook

blueprint = Blueprint("webhooks", __name__)
# The two answers to a stored delivery, encoded once.
RECEIPT_BODIES = {status: json.dumps({"status": status}).encode() for status in ("accepted", "duplicate")}


def _lowercase_headers(environ: dict) -> dict[str, str]:
    """The request headers with lower-case names, read straight from the WSGI environ (as werkzeug does, minus its title-casing)."""
    headers = {key[5:].replace("_", "-").lower(): value for key, value in environ.items() if key.startswith("HTTP_")}
    for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        if environ.get(key):
            headers[key.replace("_", "-").lower()] = environ[key]
    return headers


@blueprint.post("/api/webhooks/<connector>/<webhook_secret>")
def receive(connector: str, webhook_secret: str):  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    g.connector = connector
    outcome = "error"
    try:
        body = read_body(request, int(current_app.config["HUB_MAX_WEBHOOK_BYTES"]))
        delivery = WebhookRequest(
            headers=_lowercase_headers(request.environ),
            body=body,
            query=request.args.to_dict(),
            content_type=request.content_type or "",
        )
        receipt = receive_webhook(connector, webhook_secret, delivery)
        if receipt.handshake is not None:
            outcome = "handshake"
            reply = receipt.handshake
            return Response(reply.body, status=reply.status, content_type=reply.content_type)
        outcome = receipt.status
        return Response(RECEIPT_BODIES[receipt.status], content_type="application/json")
    except HubError as error:
        outcome = error.slug
        raise
    finally:
        label = connector if connector in current_hub().plugins.connectors else "unknown"
        WEBHOOKS_RECEIVED.labels(connector=label, outcome=outcome).inc()
        INGEST_SECONDS.labels(connector=label).observe(time.perf_counter() - started)
