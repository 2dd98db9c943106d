"""Webhook ingest with the `aws-kms` key provider against the `local` one, and key provider calls per 1000 deliveries.

    .venv/bin/python bench/key_providers.py [--seconds 15] [--warmup 3]

The same ingest run as ingest.py (the hub under gunicorn on a scratch
PostgreSQL database, wrk sending signed Stripe events to one integration),
three times in one run: `KMS_KEY` = a local master key; `aws-kms:alias/...`
against a fake KMS (moto's WSGI app, served by this script on 127.0.0.1 and
reached by boto3 over HTTP); and `aws-kms` again with
`HUB_DATA_KEY_CACHE_SECONDS=0`, the cache off. The fake KMS counts every call
it answers (by operation), during setup (tenant, integration, warm-up) and
during the measured run. Then, with the server still up, 200 reads of the
integration (`GET /api/integrations/<id>`, which opens its webhook secret),
counting KMS calls again: deliveries mostly reuse remembered endpoints, reads
show what the data key cache saves. Goal: aws-kms / local >= 0.95 (the data
key cache keeps KMS off the hot path).
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from common import machine, print_table, write_results  # noqa: E402
from ingest import run_hub  # noqa: E402

from hub.testkit.http_server import serve_wsgi  # noqa: E402


class CountingKms:
    """The fake KMS as WSGI, counting each call by its operation (the X-Amz-Target header)."""

    def __init__(self, app: Callable[..., Any]) -> None:
        self.app = app
        self.calls: Counter[str] = Counter()
        self._lock = threading.Lock()

    def __call__(self, environ: dict, start_response: Callable[..., Any]) -> Any:
        operation = environ.get("HTTP_X_AMZ_TARGET", "?").rpartition(".")[2]
        with self._lock:
            self.calls[operation] += 1
        return self.app(environ, start_response)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self.calls)


@contextmanager
def fake_kms() -> Iterator[tuple[CountingKms, dict[str, str]]]:
    import boto3
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    counting = CountingKms(DomainDispatcherApplication(create_backend_app))
    with serve_wsgi(counting) as url:
        env = {
            "AWS_ENDPOINT_URL_KMS": url, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
        }
        client = boto3.client("kms", region_name="us-east-1", endpoint_url=url, aws_access_key_id="bench", aws_secret_access_key="bench")
        alias = f"alias/hub-bench-{secrets.token_hex(4)}"
        client.create_alias(AliasName=alias, TargetKeyId=client.create_key()["KeyMetadata"]["KeyId"])
        env["KMS_KEY"] = f"aws-kms:{alias}"
        counting.calls.clear()
        yield counting, env


def _difference(after: dict[str, int], before: dict[str, int]) -> dict[str, int]:
    return {name: after[name] - before.get(name, 0) for name in after if after[name] - before.get(name, 0)}


READS = 200


def integration_reads(kms: CountingKms | None) -> Callable[[Any], dict]:
    """After the ingest run: `GET /api/integrations/<id>` READS times (each opens the webhook secret), counting KMS calls."""

    def read(hub: Any) -> dict:
        before = kms.snapshot() if kms else {}
        session = requests.Session()
        started = time.perf_counter()
        for _ in range(READS):
            response = session.get(f"{hub.base}/api/integrations/{hub.integration_id}", headers={"Authorization": f"Bearer {hub.api_key}"}, timeout=10)
            response.raise_for_status()
        seconds = time.perf_counter() - started
        figures = {"reads_per_second": round(READS / seconds, 1)}
        if kms:
            calls = sum(_difference(kms.snapshot(), before).values())
            figures["kms_calls_per_1000_reads"] = round(1000 * calls / READS, 1)
        return figures

    return read


def run_with_kms(kms: CountingKms, env: dict[str, str], seconds: float, warmup: float) -> dict:
    marks: dict[str, dict[str, int]] = {}

    def observe(_pid: int) -> Callable[[], None]:
        marks["before"] = kms.snapshot()
        return lambda: marks.setdefault("after", kms.snapshot())

    start = kms.snapshot()
    result = run_hub(seconds, warmup, observe=observe, env=env, after=integration_reads(kms))
    result["kms_calls_setup"] = _difference(marks["before"], start)
    result["kms_calls_measured"] = _difference(marks["after"], marks["before"])
    measured = sum(result["kms_calls_measured"].values())
    result["kms_calls_per_1000_deliveries"] = round(1000 * measured / max(1, result["requests"]), 3)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15, help="measured seconds per run (default 15)")
    parser.add_argument("--warmup", type=float, default=3, help="warm-up seconds per run (default 3)")
    args = parser.parse_args()

    from hub.storage.key_providers import generate_local_master_key

    runs: dict[str, dict] = {}
    runs["local"] = run_hub(args.seconds, args.warmup, env={"KMS_KEY": generate_local_master_key()}, after=integration_reads(None))
    with fake_kms() as (kms, kms_env):
        runs["aws-kms"] = run_with_kms(kms, kms_env, args.seconds, args.warmup)
        runs["aws-kms, no data key cache"] = run_with_kms(kms, {**kms_env, "HUB_DATA_KEY_CACHE_SECONDS": "0"}, args.seconds, args.warmup)

    local_rate = runs["local"]["requests_per_second"]
    rows = []
    for name, run in runs.items():
        rows.append({
            "provider": name,
            "req/s": round(run["requests_per_second"], 1),
            "ratio to local": round(run["requests_per_second"] / local_rate, 3) if local_rate else "",
            "p99 ms": run.get("p99_ms", ""),
            "errors": run.get("errors", ""),
            "stored": run.get("stored_events", ""),
            "KMS calls setup": sum(run.get("kms_calls_setup", {}).values()) if "kms_calls_setup" in run else "",
            "KMS calls / 1000 deliveries": run.get("kms_calls_per_1000_deliveries", ""),
            "reads/s": run.get("reads_per_second", ""),
            "KMS calls / 1000 reads": run.get("kms_calls_per_1000_reads", ""),
        })
    report = {
        "benchmark": "key_providers",
        "machine": machine(),
        "settings": {"seconds": args.seconds, "warmup_seconds": args.warmup},
        "goal": "aws-kms / local >= 0.95",
        "ratio_aws_kms_to_local": rows[1]["ratio to local"],
        "runs": runs,
    }
    print_table(f"Ingest by key provider, {args.seconds:g} s per run", rows, list(rows[0].keys()))
    write_results("key_providers", report)


if __name__ == "__main__":
    main()
