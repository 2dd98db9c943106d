"""Processing: events/s through one `hub worker`, against a bare Huey consumer on the same Redis.

    .venv/bin/python bench/processing.py [--events 4000] [--bare-tasks 20000] [--workers 2]

Hub: a scratch PostgreSQL database and a Redis prefix of its own; `--events`
pending events with their pending jobs are written straight into the tables
(rows.py, exactly the rows ingestion writes) and their job ids put on the
webhooks queue, as ingestion does after its commit. Then one
`hub worker --queue webhooks --workers N` (its defaults otherwise, periodic
maintenance included) with a `process_event` plugin that does nothing
(bench_processor.py) takes every event from pending to processed: claim
under a lease, load the event, run the processors, finish (the hub does
this in batches). The rate is the events finished after the first finish
over the time from the first finish to the last (processed_at), so the
worker's start-up is not counted; the run is bounded by --timeout.

Floor: bare_consumer.py, a RedisHuey consumer built like the hub's with the
same number of worker threads, running a no-op task; `--bare-tasks` tasks are
queued before it starts, and its rate is measured the same way (first to
last completion).

Also reported: CPU per event of the consumer, PostgreSQL and Redis, and the
consumer's peak RSS (VmHWM) at the end of the run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
import redis

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import (  # noqa: E402
    BENCH,
    REDIS_URL,
    VENV_BIN,
    CpuMeter,
    clean_environ,
    hub_app,
    hub_env,
    machine,
    migrate_and_create_tenant,
    peak_rss_mib,
    pids_named,
    print_table,
    redis_prefix,
    scratch_database,
    service_groups,
    stop,
    tail,
    write_results,
)
from rows import load_pending  # noqa: E402


def _enqueue(app, job_ids: list[str]) -> int:  # type: ignore[no-untyped-def]
    from hub.queue.outbox import Dispatch
    from hub.queue.queues import current_queues

    with app.app_context():
        return current_queues().enqueue(Dispatch(job_id, "webhooks") for job_id in job_ids)


def _progress(database_url: str) -> tuple[int, int, int, float | None, float | None]:
    """(processed, not processed, processed after the first finish, first and last processed_at as epoch seconds).

    The hub finishes jobs in batches, and a batch shares one processed_at, so
    the rate counts the events finished after the first finish, over the time
    from the first finish to the last.
    """
    with psycopg.connect(database_url, autocommit=True) as connection:
        row = connection.execute(
            """
            WITH span AS (SELECT min(processed_at) AS first, max(processed_at) AS last FROM webhook_events)
            SELECT count(*) FILTER (WHERE status = 'processed'), count(*) FILTER (WHERE status <> 'processed'),
                   count(*) FILTER (WHERE status = 'processed' AND processed_at > span.first),
                   extract(epoch FROM span.first), extract(epoch FROM span.last)
            FROM webhook_events, span
            GROUP BY span.first, span.last
            """
        ).fetchone()
    first, last = row[3], row[4]
    return int(row[0]), int(row[1]), int(row[2]), (float(first) if first is not None else None), (float(last) if last is not None else None)


def _groups(pid: int, database_url: str | None) -> dict:
    groups = service_groups(pid, database_url) if database_url else {"postgres": lambda: [], "redis": lambda: pids_named("redis-server")}
    groups["consumer"] = groups.pop("server", lambda: [pid])
    return groups


def _per_event(cpu: dict[str, float], events: int) -> dict[str, float]:
    busy = cpu.pop("machine_busy")
    cpu.pop("machine_total")
    cpu["other"] = round(max(0.0, busy - sum(cpu.values())), 3)
    return {name: round(1000 * value / max(1, events), 3) for name, value in cpu.items()}


def run_hub_worker(
    events: int, workers: int, timeout: float, observe: Callable[[int], Callable[[], None]] | None = None,
    env: dict[str, str] | None = None,
) -> dict:
    """`observe(pid)`, if given, is called once the worker is started (a profiler); what it returns, when it is done."""
    with scratch_database() as database_url, redis_prefix() as prefix, tempfile.TemporaryDirectory(prefix="hubbench-") as folder:
        extra = dict(env or {})
        extra["HUB_PLUGINS"] = ",".join(filter(None, ["bench_processor", extra.get("HUB_PLUGINS", "")]))
        env = hub_env(database_url, prefix, folder, **extra)
        app = hub_app({**env, "HUB_LOG_LEVEL": "WARNING"})
        tenant_id, _api_key = migrate_and_create_tenant(env)
        with app.app_context():
            from hub.storage.models import db
            from hub.tenancy.integrations import create_integration

            integration = create_integration(
                tenant_id, connector="stripe", name="bench", credentials={"api_key": "rk_test_bench", "webhook_secret": "whsec_bench"}
            )
            integration_id = integration.id
            db.session.remove()
            db.engine.dispose()
        job_ids = load_pending(database_url, tenant_id, integration_id, events)
        queued = _enqueue(app, job_ids)
        log_path = Path(folder) / "worker.log"
        with log_path.open("wb") as log:
            command = [str(VENV_BIN / "hub"), "worker", "--queue", "webhooks", "--workers", str(workers)]
            process = subprocess.Popen(command, env=env, cwd=str(BENCH), stdout=log, stderr=subprocess.STDOUT)
            started = time.time()
            finish_observer = None
            try:
                deadline = started + timeout
                # CPU is counted from the first processed event on, so the worker's start-up is left out.
                processed_at_start = 0
                while time.time() < deadline and process.poll() is None:
                    processed_at_start, remaining, _after_first, _first, _last = _progress(database_url)
                    if processed_at_start:
                        break
                    time.sleep(0.05)
                meter = CpuMeter(_groups(process.pid, database_url)).start()
                finish_observer = observe(process.pid) if observe else None
                while time.time() < deadline and process.poll() is None:
                    processed, remaining, after_first, first, last = _progress(database_url)
                    if remaining == 0:
                        break
                    time.sleep(0.25)
                cpu = meter.stop()
                processed, remaining, after_first, first, last = _progress(database_url)
                rss = peak_rss_mib(process.pid) if process.poll() is None else None
            finally:
                if finish_observer:
                    finish_observer()
                stop(process)
        with app.app_context():
            from hub.storage.models import db

            db.engine.dispose()
        with psycopg.connect(database_url, autocommit=True) as connection:
            jobs = dict(connection.execute("SELECT status, count(*) FROM jobs GROUP BY status").fetchall())
            time.sleep(0.5)  # the worker's backends report their statistics as they exit
            # HOT updates write no index entries; an update that changes an indexed column (status) is not HOT
            # and adds an entry to every index of the table.
            tables = {
                row[0]: {"updates": row[1], "hot_updates": row[2], "indexes": row[3]}
                for row in connection.execute(
                    """
                    SELECT t.relname, t.n_tup_upd, t.n_tup_hot_upd, (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.relid)
                    FROM pg_stat_user_tables t WHERE t.relname IN ('webhook_events', 'jobs')
                    """
                ).fetchall()
            }
        log_text = tail(log_path, 200_000)
    span = (last - first) if first is not None and last is not None else 0.0
    return {
        "consumer": f"hub worker --queue webhooks --workers {workers}",
        "events": events,
        "queued": queued,
        "processed": processed,
        "not_processed": remaining,
        "jobs_by_status": jobs,
        "row_updates": tables,
        "seconds_first_to_last": round(span, 3),
        "seconds_from_start": round(time.time() - started, 1),
        "events_per_second": round(after_first / span, 1) if span > 0 else None,
        "cpu_ms_per_event": _per_event(cpu, processed - processed_at_start),
        "consumer_peak_rss_mib": rss,
        "worker_log_errors": sum(1 for line in log_text.splitlines() if '"level": "error"' in line or "Traceback" in line),
        "timed_out": remaining > 0,
    }


def run_bare_consumer(tasks: int, workers: int, timeout: float) -> dict:
    with redis_prefix("barebench") as prefix, tempfile.TemporaryDirectory(prefix="barebench-") as folder:
        env = clean_environ()
        env.update(BARE_REDIS_URL=REDIS_URL, BARE_HUEY_NAME=f"{prefix}:webhooks", BARE_EXPECTED=str(tasks), BARE_WORKERS=str(workers))
        # Queue the tasks with the same Huey definition the consumer runs.
        enqueue = (
            "import os, sys; sys.path.insert(0, os.getcwd()); import bare_consumer as b\n"
            f"for n in range({tasks}): b.noop(str(n))\n"
        )
        subprocess.run([sys.executable, "-c", enqueue], env=env, cwd=str(BENCH), check=True)
        client = redis.Redis.from_url(REDIS_URL)
        queued = client.llen(f"huey.redis.{prefix}:webhooks")
        log_path = Path(folder) / "consumer.log"
        with log_path.open("wb") as log:
            process = subprocess.Popen([sys.executable, "bare_consumer.py"], env=env, cwd=str(BENCH), stdout=log, stderr=subprocess.STDOUT)
            meter = CpuMeter(_groups(process.pid, None)).start()
            started = time.time()
            report = None
            try:
                deadline = started + timeout
                while time.time() < deadline and process.poll() is None:
                    raw = client.get(f"{prefix}:webhooks:done")
                    if raw:
                        report = json.loads(raw)
                        break
                    time.sleep(0.1)
                cpu = meter.stop()
                rss = peak_rss_mib(process.pid) if process.poll() is None else None
                left = client.llen(f"huey.redis.{prefix}:webhooks")
            finally:
                stop(process)
        client.close()
    span = (report["last"] - report["first"]) if report else 0.0
    return {
        "consumer": f"bare Huey consumer, no-op task, {workers} worker threads",
        "events": tasks,
        "queued": queued,
        "processed": report["count"] if report else tasks - left,
        "not_processed": left,
        "seconds_first_to_last": round(span, 3),
        "seconds_from_start": round(time.time() - started, 1),
        "events_per_second": round((report["count"] - 1) / span, 1) if span > 0 else None,
        "cpu_ms_per_event": _per_event(cpu, report["count"] if report else max(1, tasks - left)),
        "consumer_peak_rss_mib": rss,
        "timed_out": report is None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=4000, help="events through the hub worker (default 4000)")
    parser.add_argument("--bare-tasks", type=int, default=20000, help="no-op tasks through the bare consumer (default 20000)")
    parser.add_argument("--workers", type=int, default=2, help="worker threads, both consumers (default 2, hub worker's default)")
    parser.add_argument("--timeout", type=float, default=90, help="seconds before a consumer run is cut short (default 90)")
    args = parser.parse_args()

    report: dict = {
        "benchmark": "processing",
        "machine": machine(),
        "settings": {"events": args.events, "bare_tasks": args.bare_tasks, "worker_threads": args.workers, "processor": "bench_processor (no-op)"},
    }
    report["hub_worker"] = run_hub_worker(args.events, args.workers, args.timeout)
    report["bare_huey"] = run_bare_consumer(args.bare_tasks, args.workers, args.timeout)
    hub_rate, bare_rate = report["hub_worker"]["events_per_second"], report["bare_huey"]["events_per_second"]
    report["hub_over_bare"] = round(hub_rate / bare_rate, 3) if hub_rate and bare_rate else None
    report["targets"] = {"hub_over_bare": ">= 0.5"}
    rows = [
        dict(consumer="hub worker", **{k: v for k, v in report["hub_worker"].items() if k != "consumer"}),
        dict(consumer="bare huey", **{k: v for k, v in report["bare_huey"].items() if k != "consumer"}),
    ]
    for row in rows:
        cpu = row["cpu_ms_per_event"]
        row["cpu_ms_consumer/pg/redis"] = f"{cpu['consumer']}/{cpu['postgres']}/{cpu['redis']}"
    print_table(
        f"Processing, pending -> processed, {args.workers} worker threads",
        rows,
        ["consumer", "events", "processed", "events_per_second", "seconds_first_to_last", "cpu_ms_consumer/pg/redis", "consumer_peak_rss_mib", "timed_out"],
    )
    print(f"\nhub worker / bare huey = {report['hub_over_bare']}  (target >= 0.5)")
    write_results("processing", report)


if __name__ == "__main__":
    main()
