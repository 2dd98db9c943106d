"""The floor: the least a webhook receiver can do, under the same gunicorn settings as the hub.

It verifies the same Stripe signature (HMAC-SHA256 over "{t}.{body}", with
the same 300 s tolerance), reads the event id, does one INSERT into
PostgreSQL (unique on the event id, the payload as JSON, committed) and one
Redis LPUSH, and nothing else. Its table (created by ingest.py,
FLOOR_SCHEMA) is unique on the event id, as the hub's is on (integration,
event id). The hub's ingest rate is reported as a ratio of this one.

    FLOOR_WEBHOOK_SECRET=whsec_... FLOOR_DATABASE_URL=postgresql://... FLOOR_REDIS_URL=redis://... \
        gunicorn floor_app:app
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import time

import psycopg_pool
import redis
from flask import Flask, Response, request

SECRET = os.environ["FLOOR_WEBHOOK_SECRET"].encode()
TOLERANCE = 300
QUEUE_KEY = os.environ.get("FLOOR_QUEUE_KEY", "floor:queue")
THREADS = int(os.environ.get("FLOOR_POOL_SIZE", "4"))

app = Flask("floor")
pool = psycopg_pool.ConnectionPool(os.environ["FLOOR_DATABASE_URL"], min_size=1, max_size=THREADS, open=True)
queue = redis.Redis.from_url(os.environ["FLOOR_REDIS_URL"])


def _verified(header: str, body: bytes) -> bool:
    timestamp = None
    signatures = []
    for item in header.split(","):
        key, _, value = item.strip().partition("=")
        if key == "t":
            timestamp = value
        elif key == "v1":
            signatures.append(value)
    if not timestamp or not timestamp.isdigit() or abs(time.time() - int(timestamp)) > TOLERANCE:
        return False
    expected = hmac.new(SECRET, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, signature) for signature in signatures)


@app.get("/healthz")
def healthz() -> Response:
    return Response("ok")


@app.post("/webhook")
def webhook() -> Response:
    body = request.get_data()
    if not _verified(request.headers.get("Stripe-Signature", ""), body):
        return Response('{"error":"bad signature"}', status=401, mimetype="application/json")
    event_id = json.loads(body)["id"]
    with pool.connection() as connection:
        connection.execute("INSERT INTO floor_events (event_id, payload) VALUES (%s, %s)", (event_id, body.decode()))
    queue.lpush(QUEUE_KEY, event_id)
    return Response('{"status":"accepted"}', mimetype="application/json")
