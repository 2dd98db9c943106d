"""Destinations: delivery throughput against a bare POST loop, and ingest with and without a destination.

    .venv/bin/python bench/deliveries.py [--deliveries 2000] [--workers 2] [--seconds 10] [--no-ingest]

1. **Deliveries**: `--deliveries` deliveries to one destination are written
   through the hub's own fan-out (hub.queue.deliveries, as the worker writes
   them) and put on the `deliveries` queue; then one
   `hub worker --queue deliveries --workers N` (4 threads per worker, the
   per-destination cap raised to the same number so the receiver sees the
   same concurrency as the floor) sends them to a receiver under gunicorn
   that answers 200 at once. The rate is deliveries succeeded over the time
   from the first attempt to the last success.
   Floor: the same number of bodies, signed the same way (Standard Webhooks
   headers, HMAC-SHA256), POSTed by a thread pool of the same size, each
   thread with its own pooled `requests.Session`, to the same receiver.
   Goal: hub / floor >= 0.5.
2. **Ingest with a destination**: ingest.py's hub run twice, with one
   destination registered and with none (the worker is not running: ingest
   does no delivery work at all, which is the point). Goal: >= 0.95.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import os
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402
    VENV_BIN,
    free_port,
    gunicorn,
    hub_app,
    hub_env,
    machine,
    migrate_and_create_tenant,
    print_table,
    redis_prefix,
    scratch_database,
    stop,
    tail,
    write_results,
)

DELIVERY_THREADS_PER_WORKER = 4


def _sign(secret: str, webhook_id: str, timestamp: int, body: bytes) -> str:
    key = base64.b64decode(secret.removeprefix("whsec_"))
    digest = hmac.new(key, f"{webhook_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def _progress(database_url: str) -> tuple[int, int, float | None, float | None]:
    with psycopg.connect(database_url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT count(*) FILTER (WHERE status = 'succeeded'), count(*) FILTER (WHERE status <> 'succeeded'),"
            " extract(epoch FROM min(last_attempt_at)), extract(epoch FROM max(updated_at) FILTER (WHERE status = 'succeeded'))"
            " FROM deliveries"
        ).fetchone()
    return int(row[0]), int(row[1]), (float(row[2]) if row[2] is not None else None), (float(row[3]) if row[3] is not None else None)


def run_hub(deliveries: int, workers: int, receiver_url: str, timeout: float) -> dict:
    threads = workers * DELIVERY_THREADS_PER_WORKER
    with scratch_database() as database_url, redis_prefix() as prefix, tempfile.TemporaryDirectory(prefix="hubbench-") as folder:
        env = hub_env(
            database_url, prefix, folder, HUB_DESTINATIONS_ALLOW_PRIVATE="true",
            HUB_DELIVERY_CONCURRENCY_PER_DESTINATION=str(threads), HUB_LOG_LEVEL="WARNING",
        )
        tenant_id, _api_key = migrate_and_create_tenant(env)
        app = hub_app(env)
        with app.app_context():
            from hub.queue import deliveries as outbox
            from hub.queue.queues import current_queues
            from hub.storage.models import db
            from hub.tenancy.destinations import create_destination

            destination, _secret = create_destination(tenant_id, url=receiver_url + "/hooks", description="bench", filter_={})
            body = {"id": "evt_bench", "type": "charge.succeeded", "data": {"object": {"amount": 1000, "currency": "usd", "pad": "x" * 900}}}
            dispatches = []
            for start in range(0, deliveries, 500):
                dispatches += outbox.fan_out([
                    outbox.Announcement(tenant_id=tenant_id, type="charge.succeeded", data=body, timestamp="2026-01-01T00:00:00Z")
                    for _ in range(start, min(deliveries, start + 500))
                ])
                db.session.commit()
            current_queues().enqueue(dispatches)
        log_path = Path(folder) / "worker.log"
        with open(log_path, "wb") as log:
            worker = subprocess.Popen(
                [str(VENV_BIN / "python"), "-m", "hub", "worker", "--queue", "deliveries", "--workers", str(workers), "--no-periodic"],
                env=env, stdout=log, stderr=subprocess.STDOUT,
            )
        spy = None
        if os.environ.get("BENCH_DELIVERY_PROFILE"):
            spy = subprocess.Popen([str(VENV_BIN / "py-spy"), "record", "--pid", str(worker.pid), "--format", "raw", "--rate", "200",
                                    "--nonblocking", "--idle", "--duration", "4", "--output", os.environ["BENCH_DELIVERY_PROFILE"]],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                succeeded, other, _first, _last = _progress(database_url)
                if succeeded >= deliveries or worker.poll() is not None:
                    break
                time.sleep(0.5)
        finally:
            if spy is not None:
                spy.wait(timeout=30)
            stop(worker)
        succeeded, other, first, last = _progress(database_url)
    elapsed = (last - first) if first is not None and last is not None and last > first else None
    result = {
        "deliveries": deliveries, "succeeded": succeeded, "not_succeeded": other, "threads": threads,
        "deliveries_per_second": round(succeeded / elapsed, 1) if elapsed else None, "seconds": round(elapsed or 0, 2),
    }
    if succeeded < deliveries:
        result["worker_log_tail"] = tail(log_path)
    return result


def run_floor(deliveries: int, threads: int, receiver_url: str) -> dict:
    secret = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    body = b'{"type":"charge.succeeded","timestamp":"2026-01-01T00:00:00Z","data":{"id":"evt_bench","pad":"' + b"x" * 1000 + b'"}}'
    sessions: dict[int, requests.Session] = {}

    def post(n: int) -> int:
        import threading

        session = sessions.setdefault(threading.get_ident(), requests.Session())
        webhook_id = f"msg_{n}"
        timestamp = int(time.time())
        headers = {"content-type": "application/json", "webhook-id": webhook_id, "webhook-timestamp": str(timestamp),
                   "webhook-signature": _sign(secret, webhook_id, timestamp, body)}
        return session.post(receiver_url + "/hooks", data=body, headers=headers, timeout=15).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=threads) as pool:
        codes = list(pool.map(post, range(deliveries)))
    elapsed = time.monotonic() - started
    ok = sum(1 for code in codes if 200 <= code < 300)
    return {"deliveries": deliveries, "succeeded": ok, "threads": threads, "deliveries_per_second": round(ok / elapsed, 1), "seconds": round(elapsed, 2)}


def run_ingest(seconds: float, warmup: float, with_destination: bool) -> dict:
    from ingest import SIGNING_SECRET, checkpoint, hub_server, measured_run
    from loadgen import run_wrk

    with hub_server(HUB_DESTINATIONS_ALLOW_PRIVATE="true") as hub:
        if with_destination:
            response = requests.post(
                f"{hub.base}/api/destinations", json={"url": "http://127.0.0.1:9/hooks"},
                headers={"Authorization": f"Bearer {hub.api_key}"}, timeout=10,
            )
            response.raise_for_status()
        warm = run_wrk(hub.base, hub.path, SIGNING_SECRET, warmup)
        checkpoint(hub.database_url)
        result = measured_run(hub.base, hub.path, seconds, hub.server.pid, hub.database_url, warm["requests_per_second"])
    result["with_destination"] = with_destination
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deliveries", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=2, help="hub worker --workers (4 delivery threads each); the floor uses as many threads")
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--seconds", type=float, default=10, help="measured seconds per ingest run")
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--no-ingest", dest="ingest", action="store_false")
    args = parser.parse_args()
    threads = args.workers * DELIVERY_THREADS_PER_WORKER
    report: dict = {"benchmark": "deliveries", "machine": machine(), "settings": vars(args)}
    with tempfile.TemporaryDirectory(prefix="receiver-") as folder:
        port = free_port()
        with gunicorn("receiver_app:app", os.environ.copy(), port, Path(folder) / "receiver.log", ready_path="/"):
            receiver_url = f"http://127.0.0.1:{port}"
            report["floor"] = run_floor(args.deliveries, threads, receiver_url)
            report["hub"] = run_hub(args.deliveries, args.workers, receiver_url, args.timeout)
    if report["hub"]["deliveries_per_second"]:
        report["hub_over_floor"] = round(report["hub"]["deliveries_per_second"] / report["floor"]["deliveries_per_second"], 3)
    rows = [dict(run="hub worker", **report["hub"]), dict(run="floor (requests.Session loop)", **report["floor"])]
    print_table(f"Deliveries to one receiver, {threads} threads", rows, ["run", "deliveries", "succeeded", "threads", "seconds", "deliveries_per_second"])
    print(f"\nhub / floor = {report.get('hub_over_floor')}  (goal >= 0.5)")
    if args.ingest:
        without = run_ingest(args.seconds, args.warmup, with_destination=False)
        with_one = run_ingest(args.seconds, args.warmup, with_destination=True)
        report["ingest"] = {"without_destination": without, "with_destination": with_one}
        report["ingest_ratio"] = round(with_one["requests_per_second"] / without["requests_per_second"], 3)
        print_table("Ingest with and without a destination", [dict(run="none", **without), dict(run="one destination", **with_one)],
                    ["run", "requests", "requests_per_second", "p50_ms", "p99_ms", "errors", "service_cpu_ms"])
        print(f"\nwith / without = {report['ingest_ratio']}  (goal >= 0.95)")
    report["targets"] = {"hub_over_floor": ">= 0.5", "ingest_ratio": ">= 0.95"}
    write_results("deliveries", report)


if __name__ == "__main__":
    main()
