"""One delivery attempt: claim, check the address again, sign, POST, record the outcome.

The address check runs before every attempt, not only at registration: a
name that resolved to a public address then may resolve to a private one
now, and the transport connects only to the addresses this check returned.
Each attempt is signed at its own time (`webhook-timestamp`) over the
stored body, always with the delivery's id as `webhook-id`.

Success is a 2xx within `HUB_DELIVERY_TIMEOUT_SECONDS`. Everything else is
a failed attempt: a redirect (never followed), a 410 (which also disables
the destination), a 429 or a timeout (the next attempt waits at least a
minute), a refused address, a connection that could not be made. Nothing
of the secret or the body reaches a log line.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import requests

from hub.delivery.addresses import DestinationRefused, check_destination
from hub.delivery.retry_schedule import parse_retry_after
from hub.delivery.signing import webhook_headers
from hub.delivery.transport import delivery_session, post
from hub.logs import bind, unbind
from hub.metrics import DELIVERIES, DELIVERY_SECONDS
from hub.queue import deliveries
from hub.queue.deliveries import AttemptFailure, DeliveryClaim
from hub.queue.outbox import Dispatch
from hub.queue.queues import enqueue
from hub.runtime import current_hub
from hub.storage.models import db

log = logging.getLogger(__name__)

_sessions = threading.local()


def _session() -> requests.Session:
    """One pooled session per consumer thread (requests promises no more)."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = delivery_session()
    return session


def deliver(delivery_id: str) -> str:
    """Answer one doorbell of the `deliveries` queue; returns the outcome of its delivery (for metrics and tests).

    The claim may bring more due deliveries to the same destination; they
    are attempted in a row while the receiver answers 2xx and a full
    attempt still fits in the batch's lease, and their successes recorded in
    one statement. A failure, or a slow receiver, ends the batch: the rest
    go back to the queue with no attempt spent. The doorbells of the
    deliveries a batch took find them finished or held, and do nothing (a
    delivery id comes back for a replay or a retry, so no memory of
    finished ids may answer them instead of the database).
    """
    claimed = deliveries.claim_batch(delivery_id)
    if claimed is None:
        return "skipped"
    if isinstance(claimed, Dispatch):
        enqueue([claimed])
        return "held"
    deadline = time.monotonic() + deliveries.lease_seconds(len(claimed)) - deliveries.attempt_seconds()
    successes: list[tuple[DeliveryClaim, int, bytes]] = []
    outcome = "skipped"
    settings = current_hub().settings
    try:
        for index, item in enumerate(claimed):
            if index and time.monotonic() > deadline:
                enqueue(deliveries.release(claimed[index:]))
                break
            result = _attempt(item, settings)
            if isinstance(result, AttemptFailure):
                first_outcome = _record_failure(item, result)
                outcome = first_outcome if index == 0 else outcome
                enqueue(deliveries.release(claimed[index + 1:]))
                break
            successes.append((item, result.status_code, result.body))
            outcome = "succeeded" if index == 0 else outcome
    finally:
        held = deliveries.record_successes(successes)
        DELIVERIES.labels(outcome="succeeded").inc(held)
        if held < len(successes):
            DELIVERIES.labels(outcome="lost").inc(len(successes) - held)
            outcome = "lost" if outcome == "succeeded" and held == 0 else outcome
    return outcome


def _attempt(claimed: DeliveryClaim, settings: Any) -> Any:
    """One attempt, timed and logged with the delivery's ids; the receiver's 2xx response, or how it failed."""
    context = bind(delivery_id=claimed.delivery_id, destination_id=claimed.destination_id, tenant_id=claimed.tenant_id)
    started = time.monotonic()
    try:
        return _send(claimed, settings)
    finally:
        DELIVERY_SECONDS.observe(time.monotonic() - started)
        unbind(context)


def _record_failure(claimed: DeliveryClaim, failure: AttemptFailure) -> str:
    outcome, retry = deliveries.record_failure(claimed, failure)
    log.info("delivery %s attempt %d failed: %s", claimed.delivery_id, claimed.attempts, failure.error)
    if retry is not None:
        enqueue([retry])
    DELIVERIES.labels(outcome=outcome).inc()
    return outcome


def _send(claimed: DeliveryClaim, settings: Any) -> Any:
    """The receiver's 2xx response, or how the attempt failed."""
    timeout = float(settings["HUB_DELIVERY_TIMEOUT_SECONDS"])
    try:
        destination = check_destination(
            claimed.url, production=settings["HUB_ENV"] == "production", allow_private=bool(settings["HUB_DESTINATIONS_ALLOW_PRIVATE"]),
        )
    except DestinationRefused as refused:
        return AttemptFailure(f"refused: {refused.detail}")
    body = claimed.body.encode("utf-8")
    headers = webhook_headers(claimed.signing_secrets, claimed.delivery_id, int(time.time()), body)
    headers["Content-Type"] = "application/json"
    db.session.remove()  # no connection is held while the receiver takes its time
    try:
        response = post(_session(), destination, body, headers, timeout=timeout)
    except requests.Timeout:
        return AttemptFailure(f"no answer within {timeout:g} s", overloaded=True)
    except requests.ConnectionError:
        return AttemptFailure("could not connect to the receiver")
    except requests.RequestException as error:
        return AttemptFailure(f"the request failed ({type(error).__name__})")
    code = response.status_code
    if 200 <= code < 300:
        return response
    if 300 <= code < 400:
        return AttemptFailure(f"the receiver answered {code}, a redirect (not followed)", code, response.body)
    if code == 410:
        return AttemptFailure("the receiver answered 410 Gone; the destination is disabled", code, response.body, gone=True)
    if code == 429:
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return AttemptFailure("the receiver answered 429", code, response.body, overloaded=True, retry_after=retry_after)
    retry_after = parse_retry_after(response.headers.get("Retry-After")) if code == 503 else None
    return AttemptFailure(f"the receiver answered {code}", code, response.body, retry_after=retry_after)
