"""Webhook ingest: the hub against the floor, dedupe at scale, and the gunicorn workers' memory.

    .venv/bin/python bench/ingest.py [--seconds 15] [--warmup 3] [--no-dedupe] [--repeat 1]

For each server under test: a scratch PostgreSQL database and a Redis
prefix of its own, gunicorn with the same settings (common.py), a warm-up,
then wrk (webhooks.lua) sending signed Stripe `charge.succeeded` events with
unique ids for `--seconds`. Figures: requests/s, p50/p90/p99 latency,
errors (non-2xx and socket errors), rows actually stored and jobs actually
queued (so a fast wrong answer cannot pass), and the peak RSS (VmHWM) of
each gunicorn worker after the run.

1. hub vs floor (floor_app.py: verify the signature, one INSERT, one LPUSH).
2. dedupe at scale: the hub again with 10^4 and with 10^6 events (and their
   done jobs) already stored for the integration, bulk-loaded with SQL (rows.py).

The hub runs with HUB_WEBHOOK_RATE_LIMIT=off (its default, 6000/minute per
integration, would answer 429 to most of this load) and otherwise its
defaults, HUB_LOG_LEVEL=INFO included.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import redis
import requests

from hub.testkit.http_server import serve_wsgi

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402
    GUNICORN_THREADS,
    GUNICORN_WORKERS,
    REDIS_URL,
    SIGNING_SECRET,
    CpuMeter,
    checkpoint,
    clean_environ,
    free_port,
    gunicorn,
    hub_env,
    machine,
    migrate_and_create_tenant,
    peak_rss_mib,
    postgres_counters,
    print_table,
    redis_prefix,
    scratch_database,
    service_groups,
    worker_pids,
    write_results,
)
from loadgen import WRK_CONNECTIONS, WRK_THREADS, run_wrk  # noqa: E402
from rows import load_history  # noqa: E402

HUB_APP_SPEC = "hub:create_app()"
FLOOR_SCHEMA = """
CREATE TABLE floor_events (
    event_id text PRIMARY KEY,
    payload json NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now()
)
"""


def stripe_account_api() -> Any:
    """Stripe's `GET /v1/account`, which the hub asks (with the key) which account a new API-key integration belongs to."""
    from flask import Flask, jsonify

    api = Flask("bench-stripe-account")

    @api.get("/v1/account")
    def account() -> Any:
        return jsonify({"id": "acct_bench", "object": "account"})

    return api


def create_stripe_integration(base: str, api_key: str) -> tuple[str, str]:
    """POST /api/integrations, as a host backend would; returns (integration id, webhook path)."""
    response = requests.post(
        f"{base}/api/integrations",
        json={"connector": "stripe", "name": "bench", "credentials": {"api_key": "rk_test_bench", "webhook_secret": SIGNING_SECRET}},
        headers={"Authorization": f"Bearer {api_key}"},
        timeout=10,
    )
    response.raise_for_status()
    body = response.json()
    return body["id"], "/api/webhooks/" + body["webhook_url"].split("/api/webhooks/", 1)[1]


def _count(database_url: str, query: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as connection:
        return int(connection.execute(query).fetchone()[0])


def _rss(master: int) -> dict:
    workers = worker_pids(master)
    figures = [peak_rss_mib(pid) for pid in workers]
    return {"worker_peak_rss_mib": max(figures) if figures else None, "workers_peak_rss_mib": figures}


@dataclass
class HubUnderTest:
    base: str
    path: str
    database_url: str
    prefix: str
    server: subprocess.Popen
    log_path: Path
    tenant_id: str
    integration_id: str
    preload_seconds: float
    api_key: str = ""


@contextmanager
def hub_server(preload: int = 0, log_level: str | None = None, **extra_env: str) -> Iterator[HubUnderTest]:
    """The hub under gunicorn on a scratch database and Redis prefix, with one Stripe integration."""
    with scratch_database() as database_url, redis_prefix() as prefix, tempfile.TemporaryDirectory(prefix="hubbench-") as folder:
        if log_level:
            extra_env["HUB_LOG_LEVEL"] = log_level
        env = hub_env(database_url, prefix, folder, **extra_env)
        tenant_id, api_key = migrate_and_create_tenant(env)
        port = free_port()
        log_path = Path(folder) / "gunicorn.log"
        base = f"http://127.0.0.1:{port}"
        with serve_wsgi(stripe_account_api()) as stripe_url, gunicorn(HUB_APP_SPEC, {**env, "STRIPE_API_BASE_URL": stripe_url}, port, log_path) as server:
            integration_id, path = create_stripe_integration(base, api_key)
            setup_seconds = load_history(database_url, tenant_id, integration_id, preload) if preload else 0.0
            yield HubUnderTest(base, path, database_url, prefix, server, log_path, tenant_id, integration_id, setup_seconds, api_key)


def measured_run(base: str, path: str, seconds: float, server_pid: int, database_url: str, expected_rps: float) -> dict:
    """One wrk run, with the CPU each process group spent per request.

    `other` is CPU the machine spent outside the server, PostgreSQL, Redis
    and wrk (anything else running on the machine): a large figure means the
    run was disturbed and its rate is not to be trusted.
    """
    counters = postgres_counters(database_url)
    meter = CpuMeter(service_groups(server_pid, database_url)).start()
    result = run_wrk(base, path, SIGNING_SECRET, seconds, expected_rps=expected_rps)
    cpu = meter.stop()
    after = postgres_counters(database_url)
    cpu["wrk"] = result.pop("wrk_cpu_seconds")
    busy, total = cpu.pop("machine_busy"), cpu.pop("machine_total")
    cpu["other"] = round(max(0.0, busy - sum(cpu.values())), 3)
    requests_done = max(1, result["requests"])
    result["cpu_ms_per_request"] = {name: round(1000 * value / requests_done, 3) for name, value in cpu.items()}
    # What one request costs the services (server, PostgreSQL, Redis): less disturbed by other load than a rate.
    result["service_cpu_ms"] = round(sum(result["cpu_ms_per_request"][k] for k in ("server", "postgres", "redis")), 3)
    result["machine_cpu_busy"] = round(busy / total, 2) if total else None
    # Per request. WAL is the whole cluster's (anything else writing to this PostgreSQL adds to it).
    result["postgres_per_request"] = {name: round((after[name] - counters[name]) / requests_done, 2) for name in after}
    return result


def server_problems(log_path: Path) -> list[str]:
    """Error-level records and tracebacks the server wrote during the run."""
    text = log_path.read_text(errors="replace") if log_path.exists() else ""
    return [line for line in text.splitlines() if '"level": "error"' in line or '"level": "critical"' in line or "Traceback" in line]


def run_hub(
    seconds: float, warmup: float, preload: int = 0, log_level: str | None = None,
    observe: Callable[[int], Callable[[], None]] | None = None, env: dict[str, str] | None = None,
    after: Callable[[HubUnderTest], dict] | None = None,
) -> dict:
    """`observe(server pid)`, if given, is called before the measured run (a profiler); what it returns, after it.

    `env`: extra environment for the hub. `after(hub)`, if given, runs once the figures are taken,
    with the server still up; what it returns joins the result.
    """
    with hub_server(preload, log_level, **(env or {})) as hub:
        warm = run_wrk(hub.base, hub.path, SIGNING_SECRET, warmup)
        checkpoint(hub.database_url)
        before = _count(hub.database_url, "SELECT count(*) FROM webhook_events")
        finish_observer = observe(hub.server.pid) if observe else None
        result = measured_run(hub.base, hub.path, seconds, hub.server.pid, hub.database_url, warm["requests_per_second"])
        if finish_observer:
            finish_observer()
        time.sleep(0.5)  # let the last in-flight requests finish
        result["stored_events"] = _count(hub.database_url, "SELECT count(*) FROM webhook_events") - before
        result["queued_jobs"] = redis.Redis.from_url(REDIS_URL).llen(f"huey.redis.{hub.prefix}:webhooks")
        result["queued_jobs_expected"] = warm["requests"] + result["stored_events"]
        result.update(_rss(hub.server.pid))
        problems = server_problems(hub.log_path)
        result["preload_seconds"] = hub.preload_seconds
        if after:
            result.update(after(hub))
    result["preloaded_events"] = preload
    result["server_errors_logged"] = len(problems)
    return result


def run_floor(seconds: float, warmup: float) -> dict:
    with scratch_database() as database_url, redis_prefix("floorbench") as prefix, tempfile.TemporaryDirectory(prefix="floorbench-") as folder:
        with psycopg.connect(database_url, autocommit=True) as connection:
            connection.execute(FLOOR_SCHEMA)
        env = clean_environ()
        queue_key = f"{prefix}:queue"
        env.update(
            FLOOR_WEBHOOK_SECRET=SIGNING_SECRET,
            FLOOR_DATABASE_URL=database_url,
            FLOOR_REDIS_URL=REDIS_URL,
            FLOOR_QUEUE_KEY=queue_key,
            FLOOR_POOL_SIZE=str(GUNICORN_THREADS),
        )
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with gunicorn("floor_app:app", env, port, Path(folder) / "gunicorn.log") as server:
            warm = run_wrk(base, "/webhook", SIGNING_SECRET, warmup)
            checkpoint(database_url)
            result = measured_run(base, "/webhook", seconds, server.pid, database_url, warm["requests_per_second"])
            time.sleep(0.5)
            result["stored_events"] = _count(database_url, "SELECT count(*) FROM floor_events") - warm["requests"]
            result["queued_jobs"] = redis.Redis.from_url(REDIS_URL).llen(queue_key)
            result["queued_jobs_expected"] = warm["requests"] + result["stored_events"]
            result.update(_rss(server.pid))
    result["preloaded_events"] = 0
    return result


def _median_run(runs: list[dict]) -> dict:
    """The run with the median rate (all runs are kept in the report too)."""
    ordered = sorted(runs, key=lambda r: r["requests_per_second"])
    chosen = dict(ordered[len(ordered) // 2])
    if len(runs) > 1:
        chosen["all_requests_per_second"] = [r["requests_per_second"] for r in runs]
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15, help="measured seconds per run (default 15)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per server (default 3)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per server, hub and floor interleaved; the median is reported")
    parser.add_argument("--no-dedupe", dest="dedupe", action="store_false", help="skip the 10^4 / 10^6 stored-events runs")
    parser.add_argument("--preloads", default="10000,1000000", help="stored events for the dedupe runs (default 10000,1000000)")
    parser.add_argument("--hub-log-level", default=None, help="HUB_LOG_LEVEL for the hub under test (default: the hub's default, INFO)")
    args = parser.parse_args()

    report: dict = {
        "benchmark": "ingest",
        "machine": machine(),
        "settings": {
            "seconds": args.seconds,
            "warmup_seconds": args.warmup,
            "gunicorn_workers": GUNICORN_WORKERS,
            "gunicorn_threads": GUNICORN_THREADS,
            "load_generator": f"wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS} (webhooks.lua)",
            "hub_env": {"HUB_WEBHOOK_RATE_LIMIT": "off", "HUB_LOG_LEVEL": args.hub_log_level or "INFO (default)"},
        },
    }
    hub_runs, floor_runs = [], []
    for _ in range(args.repeat):
        hub_runs.append(run_hub(args.seconds, args.warmup, log_level=args.hub_log_level))
        floor_runs.append(run_floor(args.seconds, args.warmup))
    report["hub"] = _median_run(hub_runs)
    report["floor"] = _median_run(floor_runs)
    report["hub_over_floor"] = round(report["hub"]["requests_per_second"] / report["floor"]["requests_per_second"], 3)
    report["hub_over_floor_by_cpu"] = round(report["floor"]["service_cpu_ms"] / report["hub"]["service_cpu_ms"], 3)
    rows = [dict(server="hub", **report["hub"]), dict(server="floor", **report["floor"])]

    if args.dedupe:
        preloads = [int(n) for n in args.preloads.split(",")]
        report["dedupe"] = {}
        for preload in preloads:
            runs = [run_hub(args.seconds, args.warmup, preload=preload, log_level=args.hub_log_level) for _ in range(args.repeat)]
            report["dedupe"][str(preload)] = _median_run(runs)
            rows.append(dict(server=f"hub, {preload:,} stored", **report["dedupe"][str(preload)]))
        if len(preloads) >= 2:
            first, last = (report["dedupe"][str(n)]["requests_per_second"] for n in (preloads[0], preloads[-1]))
            report["dedupe_ratio"] = round(last / first, 3)
            first_cpu, last_cpu = (report["dedupe"][str(n)]["service_cpu_ms"] for n in (preloads[0], preloads[-1]))
            report["dedupe_ratio_by_cpu"] = round(first_cpu / last_cpu, 3)

    report["targets"] = {"hub_over_floor": ">= 0.7", "dedupe_ratio": ">= 0.9"}
    print_table(
        f"Webhook ingest, {args.seconds:g} s per run, wrk -t{WRK_THREADS} -c{WRK_CONNECTIONS}, gunicorn {GUNICORN_WORKERS}x{GUNICORN_THREADS} gthread",
        rows,
        ["server", "requests", "requests_per_second", "p50_ms", "p90_ms", "p99_ms", "errors", "stored_events", "queued_jobs", "service_cpu_ms", "machine_cpu_busy", "worker_peak_rss_mib", "preload_seconds"],
    )
    print(f"\nhub / floor = {report['hub_over_floor']}  (target >= 0.7); by service CPU per request: {report['hub_over_floor_by_cpu']}")
    if "dedupe_ratio" in report:
        print(f"dedupe: rate with {preloads[-1]:,} stored / rate with {preloads[0]:,} stored = {report['dedupe_ratio']}  (target >= 0.9); by service CPU per request: {report['dedupe_ratio_by_cpu']}")
    spread = [r["requests_per_second"] for r in hub_runs]
    if len(spread) > 1:
        print(f"hub runs: {spread} (stdev {statistics.pstdev(spread):.1f})")
    write_results("ingest", report)


if __name__ == "__main__":
    main()
