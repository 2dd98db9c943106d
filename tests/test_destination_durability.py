"""Deliveries survive a consumer killed mid-attempt, and a hanging receiver does not hold up a healthy one.

Both run a real `hub worker --queue deliveries` process beside real
receivers on 127.0.0.1, on both databases and both queue backends.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from tests.support.receiver import running_receiver
from tests.test_destination_deliveries import DELIVERY_SETTINGS, deliveries_of, register, signed_event, verified

WAIT_SECONDS = 60


@pytest.fixture
def hub(pipeline):
    pipeline.app.extensions["hub"].settings.update(DELIVERY_SETTINGS)
    return pipeline


@pytest.fixture
def receiver():
    with running_receiver() as running:
        yield running


def stored(hub, integration, *events):
    """Ingest and process events in this process, leaving their deliveries on the `deliveries` queue."""
    from hub.queue.queues import current_queues

    for event in events:
        assert hub.deliver(integration["path"], event, secret=integration["signing_secret"]).status_code == 200
    with hub.app.app_context():
        current_queues().run_pending(["webhooks", "automation"])


def start_worker(hub, **settings: str) -> subprocess.Popen:
    env = hub.worker_env()
    env.update({"HUB_DESTINATIONS_ALLOW_PRIVATE": "true", "HUB_DELIVERY_SCHEDULE": "0,0,0", "HUB_DELIVERY_TIMEOUT_SECONDS": "30"})
    env.update(settings)
    return subprocess.Popen([sys.executable, "-m", "hub", "worker", "--queue", "deliveries", "--no-periodic"], env=env)


def stop(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.send_signal(signal.SIGTERM)
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def test_a_hanging_receiver_does_not_hold_up_a_healthy_one(hub, receiver):
    released = threading.Event()
    integration = hub.create_integration()
    register(hub, receiver.answer("/hanging", lambda _item: (released.wait(WAIT_SECONDS), 200)[1]))
    healthy = register(hub, receiver.answer("/healthy", 200))
    stored(hub, integration, *(signed_event(f"evt_{n}") for n in range(6)))
    worker = start_worker(hub)
    try:
        arrived = receiver.wait_for("/healthy", 6, timeout=WAIT_SECONDS)
        still_hanging = not released.is_set() and len(receiver.at("/hanging")) >= 1
        released.set()
    finally:
        released.set()
        stop(worker)
    assert len(arrived) == 6 and still_hanging
    assert all(verified(healthy["secret"], item) for item in arrived)
    assert len({item.headers["webhook-id"] for item in arrived}) == 6


def test_a_consumer_killed_mid_delivery_loses_nothing_and_the_retry_keeps_the_webhook_id(hub, receiver):
    arrived, released = threading.Event(), threading.Event()

    def first_attempt(_item):
        arrived.set()
        released.wait(WAIT_SECONDS)
        return 200

    integration = hub.create_integration()
    destination = register(hub, receiver.answer("/killed", first_attempt, 200))
    stored(hub, integration, signed_event("evt_killed"))
    worker = start_worker(hub, HUB_DELIVERY_TIMEOUT_SECONDS="2")
    try:
        assert arrived.wait(WAIT_SECONDS)
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
    finally:
        released.set()
        stop(worker)
    hub.app.extensions["hub"].settings["HUB_DELIVERY_TIMEOUT_SECONDS"] = 2.0
    deadline = time.monotonic() + WAIT_SECONDS
    while hub.relay() == 0 and time.monotonic() < deadline:  # the dead consumer's lease runs out
        time.sleep(0.5)
    hub.run_queues()
    first, second = receiver.at("/killed")
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert verified(destination["secret"], second)["type"] == "order.created"
    [delivery] = deliveries_of(hub, destination)
    assert (delivery["status"], delivery["attempts"]) == ("succeeded", 2)
