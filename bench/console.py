"""How long the console's overview (the 24-hour chart) takes as a tenant's events grow.

The chart is one grouped query on the tenant's (tenant_id, received_at)
index; this measures that query and the whole page (the session check
included) on PostgreSQL, for a tenant with N events in the last day among
another tenant's N, so the cost of the tenant filter shows too. Only prints
figures: no test asserts a time.

    .venv/bin/python bench/console.py --events 1000,10000,100000 --repeat 20
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import hub_app, hub_env, machine, migrate_and_create_tenant, print_table, redis_prefix, scratch_database, write_results  # noqa: E402

BATCH = 5000


def add_events(app, tenant_id: str, count: int, label: str) -> None:
    import sqlalchemy as sa

    from hub.storage.models import WebhookEvent, db, new_id, utcnow

    now = utcnow()
    statuses = ["processed"] * 8 + ["dead", "pending"]
    with app.app_context():
        for start in range(0, count, BATCH):
            rows = [{
                "id": new_id(), "tenant_id": tenant_id, "integration_id": f"{label}-integration", "connector": ("stripe", "slack", "gmail")[n % 3],
                "provider_event_id": f"{label}-{n}", "type": "bench.event", "received_at": now - timedelta(seconds=(n * 86000) // max(count, 1)),
                "payload": {}, "status": statuses[n % len(statuses)], "attempts": 1,
            } for n in range(start, min(start + BATCH, count))]
            db.session.execute(sa.insert(WebhookEvent), rows)
            db.session.commit()


def timed(function, repeat: int) -> dict[str, float]:
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(samples), 2), "max_ms": round(max(samples), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", default="1000,10000,100000", help="events per tenant, comma-separated")
    parser.add_argument("--repeat", type=int, default=20)
    args = parser.parse_args()
    results = []
    for count in [int(value) for value in args.events.split(",")]:
        with scratch_database() as database_url, redis_prefix() as prefix, tempfile.TemporaryDirectory() as instance:
            env = hub_env(database_url, prefix, instance, HUB_LOG_LEVEL="WARNING", HUB_TENANT_RATE_LIMIT="off",
                          HUB_CONSOLE_SIGN_IN_RATE_LIMIT="off")
            tenant_id, api_key = migrate_and_create_tenant(env)
            other_id, _ = migrate_and_create_tenant(env, "other")
            app = hub_app(env)
            add_events(app, tenant_id, count, "mine")
            add_events(app, other_id, count, "other")

            from hub.events.activity import hourly_activity

            def query() -> None:
                with app.app_context():
                    hourly_activity(tenant_id)

            client = app.test_client()
            form = client.get("/console/sign-in").get_data(as_text=True)
            csrf = re.search(r'name="csrf_token" value="([^"]+)"', form).group(1)
            assert client.post("/console/sign-in", data={"api_key": api_key, "csrf_token": csrf}).status_code == 303

            def page() -> None:
                assert client.get("/console").status_code == 200

            results.append({"events_per_tenant": count, "query": timed(query, args.repeat), "page": timed(page, args.repeat)})
    rows = [{"events per tenant": r["events_per_tenant"], "query median ms": r["query"]["median_ms"], "query max ms": r["query"]["max_ms"],
             "page median ms": r["page"]["median_ms"], "page max ms": r["page"]["max_ms"]} for r in results]
    print_table("Console overview on PostgreSQL", rows, list(rows[0]))
    write_results("console", {"machine": machine(), "repeat": args.repeat, "results": results})


if __name__ == "__main__":
    main()
