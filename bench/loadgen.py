"""The load generator: wrk with a Lua script, fed pre-signed Stripe-style webhooks.

Why wrk: this machine has 2 cores, shared by the server under test, PostgreSQL,
Redis and the load generator. wrk (C, epoll, one thread) sends ~10x more
requests per CPU-second than a Python asyncio client, so it takes the least
CPU away from the servers it measures, and it records latency in an HDR
histogram. What wrk's Lua cannot do is HMAC-SHA256, so every request (a unique
event id and a valid `Stripe-Signature`) is made here before the clock starts
and wrk only replays them, each once (see webhooks.lua).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import resource
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
LUA_SCRIPT = BENCH / "webhooks.lua"
WRK_THREADS = int(os.environ.get("BENCH_WRK_THREADS", "1"))
WRK_CONNECTIONS = int(os.environ.get("BENCH_WRK_CONNECTIONS", "16"))
# Requests prepared per second of run time: above any rate a 2-core machine reaches,
# so wrk never runs out (it would say so: "exhausted").
PREPARED_PER_SECOND = int(os.environ.get("BENCH_PREPARED_PER_SECOND", "6000"))


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise SystemExit("wrk is not installed: apt-get install -y wrk (bench/run does this when run as root)")
    return found


def stripe_event(event_id: str, created: int, n: int) -> dict:
    """A Stripe `charge.succeeded` event of realistic shape and size (~1 KiB)."""
    charge = secrets.token_hex(12)
    return {
        "id": event_id,
        "object": "event",
        "api_version": "2024-06-20",
        "created": created,
        "type": "charge.succeeded",
        "livemode": False,
        "pending_webhooks": 1,
        "request": {"id": f"req_{secrets.token_hex(7)}", "idempotency_key": secrets.token_hex(16)},
        "data": {
            "object": {
                "id": f"ch_{charge}",
                "object": "charge",
                "amount": 1000 + n % 9000,
                "amount_captured": 1000 + n % 9000,
                "currency": "usd",
                "customer": f"cus_{secrets.token_hex(7)}",
                "description": "Benchmark charge",
                "paid": True,
                "status": "succeeded",
                "captured": True,
                "payment_intent": f"pi_{secrets.token_hex(12)}",
                "payment_method": f"pm_{secrets.token_hex(12)}",
                "billing_details": {"email": f"user{n}@example.com", "name": "Bench User", "address": {"country": "US", "postal_code": "94107"}},
                "payment_method_details": {"type": "card", "card": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030, "funding": "credit"}},
                "metadata": {"order_id": f"order_{n}"},
                "created": created,
            }
        },
    }


def write_requests(path: Path, count: int, secret: str) -> None:
    """`count` signed deliveries with unique, random-looking event ids (as Stripe's are)."""
    timestamp = int(time.time())
    key = secret.encode()
    prefix = f"{timestamp}.".encode()
    with path.open("w") as handle:
        for n in range(count):
            body = json.dumps(stripe_event(f"evt_{secrets.token_hex(12)}", timestamp, n), separators=(",", ":")).encode()
            signature = hmac.new(key, prefix + body, hashlib.sha256).hexdigest()
            handle.write(f"t={timestamp},v1={signature}\t{body.decode()}\n")


def run_wrk(
    base_url: str, path: str, secret: str, seconds: float, *, expected_rps: float | None = None,
    connections: int = WRK_CONNECTIONS, threads: int = WRK_THREADS,
) -> dict:
    """Drive `base_url + path` for `seconds` with unique signed webhooks; returns the figures.

    With `expected_rps` (from a warm-up) three times the expected number of
    requests are prepared, else PREPARED_PER_SECOND per second. Should wrk
    still run out, the run is repeated once with PREPARED_PER_SECOND.
    """
    count = int(seconds * (3 * expected_rps if expected_rps else PREPARED_PER_SECOND))
    try:
        return _run_wrk_once(base_url, path, secret, seconds, max(2000, count), connections, threads)
    except Exhausted:
        return _run_wrk_once(base_url, path, secret, seconds, max(2000, count, int(seconds * PREPARED_PER_SECOND)), connections, threads)


class Exhausted(RuntimeError):
    pass


def _run_wrk_once(base_url: str, path: str, secret: str, seconds: float, count: int, connections: int, threads: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="hubbench-wrk-") as folder:
        requests_file = Path(folder) / "requests.tsv"
        write_requests(requests_file, count, secret)
        command = [
            wrk_binary(), f"-t{threads}", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s", "--latency",
            "-s", str(LUA_SCRIPT), base_url, "--", path, str(requests_file), str(threads),
        ]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        completed = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    line = next((l for l in completed.stdout.splitlines() if l.startswith("WRK_JSON ")), None)
    if completed.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({completed.returncode}): {completed.stdout[-2000:]} {completed.stderr[-2000:]}")
    raw = json.loads(line[len("WRK_JSON "):])
    if raw["exhausted"]:
        raise Exhausted(f"wrk used up the {count} prepared requests")
    seconds_taken = raw["duration_us"] / 1e6
    errors = sum(raw["errors"].values())
    return {
        "requests": raw["requests"],
        "seconds": round(seconds_taken, 2),
        "requests_per_second": round(raw["requests"] / seconds_taken, 1),
        "p50_ms": round(raw["latency_us"]["p50"] / 1000, 2),
        "p90_ms": round(raw["latency_us"]["p90"] / 1000, 2),
        "p99_ms": round(raw["latency_us"]["p99"] / 1000, 2),
        "max_ms": round(raw["latency_us"]["max"] / 1000, 2),
        "errors": errors,
        "error_detail": raw["errors"],
        "wrk_cpu_seconds": round(wrk_cpu, 3),
        "prepared_requests": count,
        "connections": connections,
        "wrk_threads": threads,
    }
